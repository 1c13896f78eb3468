"""The database the repository suites run on: an SQLite file and the real MariaDB, migrated to head."""
from __future__ import annotations

import pytest

from chalicelib.adapters.db.engine import create_engine_for
from migrations.runner import upgrade


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'ame.sqlite'}"
    else:
        url = request.getfixturevalue("mariadb_url")
    upgrade(url)
    engine = create_engine_for(url)
    yield engine
    engine.dispose()
