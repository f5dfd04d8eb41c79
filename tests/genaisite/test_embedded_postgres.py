"""The embedded Postgres manager on its own cluster: initialises, keeps data across a restart, stops cleanly."""

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
