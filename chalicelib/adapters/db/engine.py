"""Builds the SQLAlchemy engine for AME's database: MySQL/Aurora through pymysql, or an SQLite file."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

# Execution option the repository sets on write transactions (see _sqlite_begin).
WRITE_OPTION = "ame_write"

MYSQL_TIMEOUT_SECONDS = 5
SQLITE_BUSY_TIMEOUT_MS = 5000


def create_engine_for(url: str, **overrides: Any) -> Engine:
    """An engine tuned for its backend; `overrides` go to sqlalchemy.create_engine as they are."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        return _mysql_engine(url, overrides)
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, overrides)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def _mysql_engine(url: str, overrides: dict[str, Any]) -> Engine:
    options: dict[str, Any] = {
        # Lambda: few connections per container, Aurora may close idle ones; pre-ping catches those.
        "pool_size": 2,
        "max_overflow": 2,
        "pool_timeout": 10,
        "pool_recycle": 280,
        "pool_pre_ping": True,
        "isolation_level": "READ COMMITTED",
        "connect_args": {
            "charset": "utf8mb4",
            "connect_timeout": MYSQL_TIMEOUT_SECONDS,
            "read_timeout": MYSQL_TIMEOUT_SECONDS,
            "write_timeout": MYSQL_TIMEOUT_SECONDS,
            # A lock wait must end before read_timeout kills the socket; UTC for any server-side NOW().
            "init_command": "SET SESSION time_zone = '+00:00', innodb_lock_wait_timeout = 4",
        },
    }
    options.update(overrides)
    return sa.create_engine(url, **options)


def _sqlite_engine(url: str, database: str | None, overrides: dict[str, Any]) -> Engine:
    in_memory = database in (None, "", ":memory:")
    options: dict[str, Any] = {
        # The local stack calls the repository from several threads (API, queue pollers, timers).
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if in_memory:
        # One shared connection, or every thread would see its own empty database.
        options["poolclass"] = StaticPool
    options.update(overrides)
    engine = sa.create_engine(url, **options)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself, instead of pysqlite's implicit, lazy one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
    # writer committed in between; IMMEDIATE takes the write lock up front and waits busy_timeout.
    if connection.get_execution_options().get(WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")
