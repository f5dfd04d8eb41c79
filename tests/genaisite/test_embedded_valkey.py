"""The embedded Valkey on a directory of its own: password, loopback, append-only persistence, clean stop."""

import os
import pwd
import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
import redis

from genaisite.embedded import EmbeddedServiceError
from genaisite.embedded.valkey import SYSTEM_USER, EmbeddedValkey
from tests.conftest import free_port


def new_server(root: Path, port: int | None = None) -> EmbeddedValkey:
    return EmbeddedValkey(
        data_dir=root / "valkey", port=port or free_port(), password_file=root / "pw", log_file=root / "valkey.log"
    )


@pytest.fixture
def root():
    # Not under pytest's temporary root: a new pytest session makes that private, out of reach of the server's user.
    path = Path(tempfile.mkdtemp(prefix="genaisite-valkey-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(root):
    server = new_server(root)
    yield server
    server.stop()


def test_it_answers_only_behind_its_password_on_loopback(server):
    server.start()
    with server.client() as client:
        assert client.ping()
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}
    with redis.Redis(port=server.port, socket_timeout=3) as anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    with server.client(password="wrong") as guessing, pytest.raises(redis.AuthenticationError):
        guessing.ping()
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.config_file.stat().st_mode) == 0o600  # it holds the password too


def test_it_keeps_data_across_a_restart_in_its_append_only_file(server):
    server.start()
    with server.client() as client:
        client.set("kept", "survives")
        client.rpush("queue", "task-1", "task-2")
        assert client.config_get("save") == {"save": ""}
    server.stop()
    assert not server.is_running()
    files = {path.name for path in server.data_dir.rglob("*")}
    assert "appendonly.aof.manifest" in files
    assert "dump.rdb" not in files, "no snapshots: the append-only file alone holds the data"
    server.start()
    with server.client() as client:
        assert client.get("kept") == b"survives"
        assert client.lrange("queue", 0, -1) == [b"task-1", b"task-2"]


def test_it_stops_cleanly_on_sigterm_with_a_timestamped_log(server):
    server.start()
    server.stop()
    assert server.exit_code() == 0
    log = server.log_file.read_text().splitlines()
    assert any("ready to exit" in line for line in log), log[-5:]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \d+:"
    assert all(re.match(stamp, line) for line in log), log[:5]
    assert not any(re.search(r"\d\d \w{3} \d{4}", line) for line in log), "Valkey's own stamp is replaced by ours"


def test_it_runs_as_its_own_user_when_started_as_root(server):
    if os.geteuid() != 0:
        pytest.skip("only a launcher running as root hands the server to a system user")
    server.start()
    uid = pwd.getpwnam(SYSTEM_USER).pw_uid
    status = Path(f"/proc/{server.pid}/status").read_text()
    assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.MULTILINE), status
    assert re.search(r"^Groups:\s*\S*\s*$", status, re.MULTILINE), "no supplementary groups of root's"
    data = server.data_dir.stat()
    assert (data.st_uid, stat.S_IMODE(data.st_mode)) == (uid, 0o700)


def test_a_taken_port_stops_the_start_with_the_reason(server, root):
    server.start()
    second = new_server(root / "second", port=server.port)
    with pytest.raises(EmbeddedServiceError, match="is the port taken"):
        second.start()
    assert not second.is_running()
