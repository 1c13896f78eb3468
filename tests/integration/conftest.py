"""The stores the repository suites run on: the in-memory fake, an SQLite file and the real MariaDB
(migrated to head). The contract suites take `backend` (all three) or `engine` (the SQL two)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.repository import SqlOrderRepository
from chalicelib.adapters.db.schema import metadata
from migrations.runner import upgrade
from tests.fakes import InMemoryOrderRepository

SQL_BACKENDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@contextmanager
def migrated_engine(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on a migrated database of `kind` (sqlite: a fresh file; mariadb: the session's scratch database)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'ame.sqlite'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    upgrade(url)
    engine = create_engine_for(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=SQL_BACKENDS)
def engine(request, tmp_path_factory):
    with migrated_engine(request.param, request, tmp_path_factory) as migrated:
        yield migrated


@pytest.fixture(scope="module", params=["memory", *SQL_BACKENDS])
def backend(request, tmp_path_factory):
    """None for the in-memory fakes; else an engine on a migrated SQLite file or MariaDB database."""
    if request.param == "memory":
        yield None
        return
    with migrated_engine(request.param, request, tmp_path_factory) as migrated:
        yield migrated


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture()
def repo(backend) -> SqlOrderRepository | InMemoryOrderRepository:
    """An empty order repository on the backend."""
    if backend is None:
        return InMemoryOrderRepository()
    clear(backend)
    return SqlOrderRepository(backend)
