"""`manage.py serve` (what `make run` calls) on its own data directory and ports, as a new user would use it."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import BASE_DIR, free_ports, manage_py


def child_pids(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found |= {child} | child_pids(child)
    return found


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def child_with(pid: int, marker: str) -> int:
    """The first descendant of ``pid`` whose command line contains ``marker`` (web processes come several)."""
    found = sorted(child for child in child_pids(pid) if marker in cmdline(child) and alive(child))
    assert found, (marker, [cmdline(child) for child in child_pids(pid)])
    return found[0]


def wait_for_line(log: Path, text: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port, postgres_port, valkey_port, llm_port, embeddings_port = free_ports(5)
        outside = ("DATABASE_URL", "REDIS_URL", "LLM_BASE_URL")
        self.env = {key: value for key, value in os.environ.items() if key not in outside}
        self.env |= {
            "DJANGO_SETTINGS_MODULE": "genaisite.settings.development",
            "DATA_DIR": str(data_dir),
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",  # as on this 2-core machine; set here so the test is the same anywhere
            "EMBEDDED_POSTGRES_PORT": str(postgres_port),
            "EMBEDDED_VALKEY_PORT": str(valkey_port),
            "EMBEDDED_LLM_PORT": str(llm_port),
            "EMBEDDED_EMBEDDINGS_PORT": str(embeddings_port),
        }
        self.log = data_dir.parent / f"serve-{self.port}.log"

    def start(self) -> subprocess.Popen:
        self.process = subprocess.Popen(
            manage_py("serve"), env=self.env, cwd=BASE_DIR, stdout=self.log.open("w"), stderr=subprocess.STDOUT
        )
        return self.process

    def wait_ready(self, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                status, body = get_json(f"http://127.0.0.1:{self.port}/readyz")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # The supervisor holds the socket from the start: a probe sent while the web processes still boot
                # waits in its backlog and may time out; that is "not ready yet", as for a load balancer.
                status, body = 0, {}
            if status == 200:
                return body
            time.sleep(0.5)
        raise AssertionError(f"not ready after {timeout} s: {body}\n{self.log.read_text()}")

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not stop within 90 s of Ctrl-C:\n{self.log.read_text()[-4000:]}") from None


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "var")
    yield server
    if getattr(server, "process", None) and server.process.poll() is None:
        server.process.kill()


def test_serve_comes_up_ready_stops_cleanly_and_keeps_its_data(server):
    # This test is about the processes; training the built-in ML models at a first start has its own test
    # (tests/ml/test_serve_builtins.py) and would only compete for the cores during the kill -9 rounds here.
    server.env["ML_ENSURE_BUILTINS"] = "false"
    server.start()
    body = server.wait_ready()
    assert body["status"] == "ready"
    children = child_pids(server.process.pid)
    assert len(children) >= 5, "expected the web server, the worker, Valkey, the LLM server and the embedding service"
    assert any(command_name(pid) == "valkey-server" for pid in children)
    assert set(body["components"]) == {"database", "llm", "embeddings", "queue", "processes"}
    assert body["components"]["processes"]["detail"].startswith("llm running, embeddings running, worker running")
    assert "healthy" in body["components"]["llm"]["detail"]
    first_log = server.log.read_text()
    assert "admin      created user 'admin' with password" in first_log
    # `make run` log lines have the time of day: serve's own, the web server's access log (through LOGGING) and the
    # LLM's log (which llama-server stamps with its uptime only).
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
    assert re.search(rf"^{stamp}genaisite is up", first_log, re.MULTILINE)
    assert re.search(rf'^{stamp}INFO daphne.access: \S+ "GET /readyz" 200', first_log, re.MULTILINE)
    for name in ("llm", "valkey"):
        lines = (Path(server.env["DATA_DIR"]) / "log" / f"{name}.log").read_text().splitlines()
        assert lines, name
        assert all(re.match(stamp, line) for line in lines), lines[:5]

    # kill -9 of a child: it comes back by itself while the others keep serving.
    for name, marker in (
        ("worker", "run_huey"),
        ("llm", "llama-server"),
        ("web-1", "genaisite.webserver"),
        ("valkey", "valkey-server"),
    ):
        victim = child_with(server.process.pid, marker)
        others = {pid for pid in child_pids(server.process.pid) if pid != victim and marker not in cmdline(pid)}
        os.kill(victim, signal.SIGKILL)
        assert wait_for_line(server.log, f"{name} restarted"), server.log.read_text()[-3000:]
        assert all(alive(pid) for pid in others), f"killing the {name} took others down"
        assert f"{name} running (restarted 1×)" in server.wait_ready(timeout=120)["components"]["processes"]["detail"]
        assert victim not in child_pids(server.process.pid)
    children = child_pids(server.process.pid)

    assert server.interrupt() == 0
    assert "genaisite stopped." in server.log.read_text()
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "a child process outlived Ctrl-C"
    assert not (Path(server.env["DATA_DIR"]) / "postgres" / "cluster" / "postmaster.pid").exists()
    assert (Path(server.env["DATA_DIR"]) / "valkey" / "appendonlydir").is_dir()

    started = time.monotonic()
    server.start()
    server.wait_ready()
    second_start = time.monotonic() - started
    assert "created user" not in server.log.read_text(), "the second start must find the first start's admin"
    assert second_start < 60
    assert server.interrupt() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_asked_for_while_starting_stops_what_started(server, signum):
    # Started as a script's background job is: with SIGINT ignored, which Python would otherwise keep.
    server.env["ML_ENSURE_BUILTINS"] = "false"
    server.process = subprocess.Popen(
        manage_py("serve"),
        env=server.env,
        cwd=BASE_DIR,
        stdout=server.log.open("w"),
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert wait_for_line(server.log, "postgres   127.0.0.1:"), server.log.read_text()
    children = child_pids(server.process.pid)
    server.process.send_signal(signum)
    assert server.process.wait(timeout=60) == 0, server.log.read_text()[-3000:]
    log = server.log.read_text()
    assert "genaisite stopped." in log
    assert "genaisite is up" not in log
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "a child process outlived the stop"
    assert not (Path(server.env["DATA_DIR"]) / "postgres" / "cluster" / "postmaster.pid").exists()


def test_serve_exits_with_one_line_on_a_malformed_database_url(server):
    server.env["DATABASE_URL"] = "postgres://user@/nodb"
    result = subprocess.run(manage_py("serve"), env=server.env, cwd=BASE_DIR, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: DATABASE_URL: has no host (expected " + (
        "postgres://user:password@host:5432/dbname)"
    )
