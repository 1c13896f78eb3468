"""The databases the repository suites run on: an SQLite file and the real MariaDB, migrated to head."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from sqlalchemy.engine import Engine

from chalicelib.adapters.db.engine import create_engine_for
from migrations.runner import upgrade

SQL_BACKENDS = ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)]


@contextmanager
def migrated_engine(kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
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
