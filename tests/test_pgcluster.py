"""The throwaway PostgreSQL server of tests/pgcluster.py: it starts, holds databases, answers SQL, and is gone
after."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import create_engine, text

from tests.pgcluster import TemporaryPostgres

available, why = TemporaryPostgres.available()
pytestmark = pytest.mark.skipif(not available, reason=why)


def _accepts_connections(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_cluster_starts_holds_two_databases_and_is_removed_on_exit():
    with TemporaryPostgres() as pg:
        port, data_dir = pg.port, pg.data_dir
        assert port is not None and data_dir.is_dir()
        urls = [pg.create_database("first"), pg.create_database("second")]
        assert urls == [f"postgresql+psycopg://postgres@127.0.0.1:{port}/first",
                        f"postgresql+psycopg://postgres@127.0.0.1:{port}/second"]
        for url, name in zip(urls, ["first", "second"]):
            engine = create_engine(url)
            with engine.connect() as conn:
                assert conn.execute(text("SELECT version()")).scalar_one().startswith("PostgreSQL ")
                assert conn.execute(text("SELECT current_database()")).scalar_one() == name
            engine.dispose()
        # Each database is its own: a table made in one is not in the other.
        with create_engine(urls[0]).begin() as conn:
            conn.execute(text("CREATE TABLE t (id integer primary key)"))
        engine = create_engine(urls[1])
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('t')")).scalar_one() is None
        engine.dispose()
    assert not _accepts_connections(port)
    assert not data_dir.exists()
    assert not pg.running


def test_server_is_stopped_and_removed_after_a_failure_inside():
    with pytest.raises(RuntimeError, match="a test failing"), TemporaryPostgres() as pg:
        port, data_dir = pg.port, pg.data_dir
        raise RuntimeError("a test failing while the server runs")
    assert not _accepts_connections(port)
    assert not data_dir.exists()


def test_bad_database_name_is_refused_with_the_fix(postgres_server):
    with pytest.raises(ValueError, match="letters, digits and underscores"):
        postgres_server.create_database("no-dashes; DROP")


def test_postgres_url_fixture_gives_a_fresh_database(postgres_url, postgres_server):
    assert postgres_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/test_")
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
    assert tables == 0
    engine.dispose()
