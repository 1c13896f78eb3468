"""Alembic environment: runs AME's migrations on the URL given by the runner, -x url=, or AME_DATABASE_URL."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("AME_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set AME_DATABASE_URL")
    return url


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead. Its DDL is
        # transactional (engine.py emits BEGIN itself), so a failed migration leaves nothing half-built.
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True if connection.dialect.name == "sqlite" else None,
    )


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine_for(_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


# The programmatic runner keeps the caller's logging as it is.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
