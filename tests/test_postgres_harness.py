"""The PostgreSQL the tests run against (tools/postgres.py, the fixtures ``postgres`` and
``pg_url``): a real server, a fresh database per test that its role can write, passwords
that are checked, and a restart or a crash that keeps the data and the port."""
import os
from urllib.parse import urlsplit

import psycopg
import pytest

from tools.postgres import TempPostgres


@pytest.fixture(autouse=True)
def no_saved_passwords(monkeypatch, tmp_path):
    """libpq takes a password from PGPASSWORD or ~/.pgpass: here only the URL's counts."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def with_password(url: str, password: str) -> str:
    u = urlsplit(url)
    return u._replace(netloc=f"{u.username}:{password}@{u.hostname}:{u.port}").geturl()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_has_an_empty_database_its_role_can_write(pg_url, run):
    # Run twice: the second run would find the first's table if the database were shared.
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT current_user, rolsuper FROM pg_roles "
                            "WHERE rolname = current_user").fetchone() == ("runcomfy", False)
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                            "('pg_catalog', 'information_schema')").fetchone() == (0,)
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY, status text)")
        conn.execute("INSERT INTO jobs VALUES ('a', 'done')")
        assert conn.execute("SELECT status FROM jobs").fetchall() == [("done",)]


def test_a_wrong_or_missing_password_is_refused(postgres, pg_url):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(with_password(pg_url, "wrong"), connect_timeout=5)
    u = urlsplit(pg_url)
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(host=u.hostname, port=u.port, user=u.username, dbname=u.path[1:],
                        connect_timeout=5)
    # The local socket asks for it too, the superuser's included.
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(host=str(postgres.socket_dir), port=postgres.port, user="postgres",
                        dbname="postgres", connect_timeout=5)
    with psycopg.connect(pg_url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_restart_keeps_the_data_and_the_port(postgres, pg_url):
    port = postgres.port
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY)")
        conn.execute("INSERT INTO jobs VALUES ('kept')")
    open_conn = psycopg.connect(pg_url, autocommit=True)
    try:
        postgres.restart()
        assert postgres.port == port and urlsplit(pg_url).port == port
        with pytest.raises(psycopg.OperationalError):     # the restart ended it
            open_conn.execute("SELECT 1")
    finally:
        open_conn.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM jobs").fetchall() == [("kept",)]


def test_a_crash_keeps_what_was_committed(postgres, pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE jobs (id text PRIMARY KEY)")
        conn.execute("INSERT INTO jobs VALUES ('committed')")
        postgres.kill()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_url, connect_timeout=2)
    postgres.start()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM jobs").fetchall() == [("committed",)]


def test_a_server_leaves_nothing_behind():
    with TempPostgres() as pg:
        root, pid = pg.root, pg.pid
        url = pg.create_database("only", role="someone", password="s3cret")
        assert url == f"postgresql://someone:s3cret@127.0.0.1:{pg.port}/only"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("only",)
    assert not root.exists()
    state = ""
    if os.path.exists(f"/proc/{pid}/stat"):      # an orphan may wait as a zombie for init
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    assert state in ("", "Z")
