"""SqlOrderRepository: every order-store port over SQLAlchemy Core (MySQL/Aurora and SQLite), as one object.

Each role lives in its own module; this class only puts them together, so one engine serves them all and
callers that need several roles (the composition root) hold one object."""

from __future__ import annotations

from chalicelib.adapters.db.orders import SqlOrders
from chalicelib.adapters.db.outbox import SqlOutbox
from chalicelib.adapters.db.redrive_store import SqlRedriveStore
from chalicelib.adapters.db.workflow_store import SqlWorkflowStore, UnknownParty

__all__ = ["SqlOrderRepository", "UnknownParty"]


class SqlOrderRepository(SqlOrders, SqlOutbox, SqlWorkflowStore, SqlRedriveStore):
    """Orders and everything hanging from them. Every write is one explicit transaction."""
