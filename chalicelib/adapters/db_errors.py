"""Which exceptions mean "the database cannot be reached": one rule for the API (503) and the workflow tasks
(DatabaseUnavailable, retried by the state machine)."""

from __future__ import annotations


def is_database_outage(exc: BaseException) -> bool:
    """An OperationalError (refused, timed out, gone away) or any DBAPI error that invalidated its connection."""
    from sqlalchemy.exc import DBAPIError, OperationalError  # on the first error, not at cold start

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)
