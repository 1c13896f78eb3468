"""Builds the SQLAlchemy engine for AME's database: MySQL/Aurora through pymysql, or an SQLite file."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool

# Execution option the repository sets on write transactions (see _sqlite_begin).
WRITE_OPTION = "ame_write"
# Execution option for reads that need no snapshot: one statement, or rows that never change once written.
# On SQLite they run without BEGIN/ROLLBACK around them (see _WriterGate.begin); MySQL is unaffected.
SINGLE_READ_OPTION = "ame_single_read"

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
    engine = sa.create_engine(url, **options)
    event.listen(engine, "handle_error", _mysql_disconnects)
    return engine


# Errors after which this connection is no use although the socket still works. An Aurora failover
# demotes the old writer to a reader: until DNS moves, its connections answer every write with
# "read-only", so they are dropped (the whole pool with them) and new ones follow the writer endpoint.
# A server shutting down answers 1053 on connections it has not closed yet.
MYSQL_RECONNECT_ERRORS = frozenset(
    {
        1053,  # ER_SERVER_SHUTDOWN
        1290,  # ER_OPTION_PREVENTS_STATEMENT (--read-only)
        1836,  # ER_READ_ONLY_MODE
    }
)


def _mysql_disconnects(context: Any) -> None:
    if context.is_disconnect:
        return
    args = getattr(context.original_exception, "args", ())
    if args and isinstance(args[0], int) and args[0] in MYSQL_RECONNECT_ERRORS:
        context.is_disconnect = True


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
    writers = _WriterGate()
    event.listen(engine, "begin", writers.begin)
    event.listen(engine, "commit", writers.end)
    event.listen(engine, "rollback", writers.end)
    return engine


class _WriterGate:
    """Serialises this process's SQLite write transactions on a lock instead of SQLite's busy handler.

    The busy handler polls with sleeps of up to 100 ms, so in the local stack (API, pollers and the
    workflow in one process) a write behind another one waited tens of milliseconds for nothing.
    Other processes still meet busy_timeout as before.
    """

    _HELD = "ame_writer_gate"

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def begin(self, connection: sa.Connection) -> None:
        options = connection.get_execution_options()
        if options.get(SINGLE_READ_OPTION):
            # Autocommit: each statement reads its own consistent state. BEGIN and ROLLBACK would be two more
            # round trips, each of which gives up the interpreter lock and waits to get it back; in the local
            # stack, where every function shares one interpreter, an order read then queued behind the
            # workflow's CPU several times over.
            return
        if not options.get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        if not self._lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, TimeoutError("write lock wait timed out"))
        connection.info[self._HELD] = True
        try:
            # IMMEDIATE takes SQLite's write lock up front (a read-then-write DEFERRED transaction
            # fails at once with SQLITE_BUSY when another writer committed in between).
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.end(connection)
            raise

    def end(self, connection: sa.Connection) -> None:
        if connection.info.pop(self._HELD, False):
            self._lock.release()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself, instead of pysqlite's implicit, lazy one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the file; it may lose the last commits on power loss, not
        # on a crash of the process. SQLite is the local stack's embedded default; AWS runs on Aurora.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
