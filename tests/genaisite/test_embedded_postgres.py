"""The embedded Postgres manager on its own cluster: initialises, keeps data across a restart, stops cleanly."""

import re

import psycopg
import pytest

from genaisite.embedded.postgres import SUPERUSER, EmbeddedPostgres
from tests.conftest import free_port


@pytest.fixture
def cluster(tmp_path):
    server = EmbeddedPostgres(data_dir=tmp_path / "pg", port=free_port(), password_file=tmp_path / "pw")
    yield server
    server.stop()


def connect(server: EmbeddedPostgres) -> psycopg.Connection:
    password = server.password_file.read_text().strip()
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user=SUPERUSER, password=password, dbname="genaisite", autocommit=True
    )


def test_it_keeps_data_across_a_restart(cluster):
    assert cluster.ensure_started() is True
    assert cluster.ensure_started() is False  # already running: reused, not restarted
    with connect(cluster) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('survives')")
    cluster.stop()
    assert not cluster.is_running()
    assert cluster.ensure_started() is True
    with connect(cluster) as conn:
        assert conn.execute("SELECT note FROM kept").fetchone() == ("survives",)


def test_it_refuses_connections_without_the_password(cluster):
    cluster.ensure_started()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1", port=cluster.port, user=SUPERUSER, password="wrong", dbname="genaisite", connect_timeout=3
        )


def test_it_listens_on_loopback_tcp_only(cluster):
    cluster.ensure_started()
    with connect(cluster) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)


def test_its_log_has_timestamps_but_never_the_data_of_a_failing_statement(cluster):
    cluster.ensure_started()
    with connect(cluster) as conn:
        conn.execute("CREATE TABLE people (email text UNIQUE)")
        # Literals in the text, as Django sends them (it binds parameters on the client).
        conn.execute("INSERT INTO people VALUES ('ada.moreau@example.com')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO people VALUES ('ada.moreau@example.com')")
    log = cluster.log_file.read_text()
    error = next(line for line in log.splitlines() if "ERROR:" in line)
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \w+ \[\d+\] ERROR:  duplicate key value", error), error
    assert "moreau" not in log


def test_it_stops_even_after_a_parent_directory_lost_its_search_right(cluster, tmp_path):
    if not cluster.runs_as_system_user:
        pytest.skip("only a server running as a user of its own can lose its way to the data")
    cluster.ensure_started()
    tmp_path.chmod(0o700)  # what a new pytest session does to the shared temporary root under a running server
    cluster.stop()
    assert not (cluster.cluster_dir / "postmaster.pid").exists()
