"""AME's database layer: schema, engine factory and the SQL order repository (imported lazily)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.adapters.db.engine import create_engine_for
    from chalicelib.adapters.db.repository import SqlOrderRepository

__all__ = ["SqlOrderRepository", "create_engine_for"]


def __getattr__(name: str) -> Any:
    # SQLAlchemy costs ~300 ms to import: only functions that touch the database should pay it.
    if name == "SqlOrderRepository":
        from chalicelib.adapters.db.repository import SqlOrderRepository

        return SqlOrderRepository
    if name == "create_engine_for":
        from chalicelib.adapters.db.engine import create_engine_for

        return create_engine_for
    raise AttributeError(name)
