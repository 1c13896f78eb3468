"""Migrations: they build exactly schema.py on SQLite and MariaDB, re-run harmlessly, and undo cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import metadata
from migrations import runner

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ame.sqlite'}"
    return request.getfixturevalue("mariadb_url")


def _diff(url: str, target: sa.MetaData) -> list:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, target)
    finally:
        engine.dispose()


def _head() -> str:
    return ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()


def _current(url: str) -> str | None:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_build_exactly_the_tables_of_schema_py(database_url):
    runner.upgrade(database_url)

    assert _diff(database_url, metadata) == []


def test_the_comparison_notices_a_schema_py_that_drifted(database_url):
    runner.upgrade(database_url)
    drifted = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["orders"].append_column(sa.Column("channel", sa.String(20), nullable=True))
    drifted.tables["outbox"].c.queue.type = sa.String(80)

    changes = _diff(database_url, drifted)

    kinds = {(c[0] if isinstance(c, tuple) else c[0][0]) for c in changes}
    assert "add_column" in kinds
    assert "modify_type" in kinds


def test_upgrading_twice_is_harmless_and_lands_on_head(database_url):
    runner.upgrade(database_url)
    runner.upgrade(database_url)

    assert _current(database_url) == _head() == "0010_retention"


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    runner.upgrade(url)

    runner.downgrade(url, "base")
    engine = create_engine_for(url)
    left = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    runner.upgrade(url)

    assert left == set()
    assert _diff(url, metadata) == []


def test_sqlite_database_runs_in_wal_mode_with_foreign_keys_enforced(tmp_path):
    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    runner.upgrade(url)
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
            busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        with pytest.raises(sa.exc.IntegrityError):
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO order_documents (order_key, position, document_type, title) "
                    "VALUES ('missing', 0, 'CCB', 'x')"
                )
    finally:
        engine.dispose()

    assert (journal, foreign_keys, busy_timeout) == ("wal", 1, 5000)


def test_runtime_code_never_imports_alembic():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "chalicelib").rglob("*.py")
        if any(
            line.strip().startswith(("import alembic", "from alembic"))
            for line in path.read_text(encoding="utf-8").splitlines()
        )
    ]

    assert offenders == []
