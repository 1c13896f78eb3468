"""Step Functions task handlers (lambda_function), one per Task state of statemachine.asl.json.

Errors leave as named exceptions: the Lambda errorType is the class name, which the state machine's
Retry/Catch lists match (PartnerUnavailable and DatabaseUnavailable are retried; the rest are caught).
Every Lambda function imports app.py and with it this module: the composition root and the workflow
service load with a task's first call, not at import.
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

workflow_tasks = Blueprint(__name__)

# Task (Lambda function) name -> the event fields passed, in order, to the workflow method of that name
# (park_order: to the redrive). "position" is passed as an int; "error" may be absent.
TASKS = {
    "load_order": ("order_key", "execution_id"),
    "fetch_powers": ("order_key", "position"),
    "fetch_people": ("order_key", "position"),
    "check_operators": ("order_key", "position"),
    "decide_party": ("order_key", "position"),
    "evaluate_person": ("order_key", "position"),
    "conclude_order": ("order_key", "execution_id"),
    "record_failure": ("order_key", "execution_id", "error"),
    "publish_result": ("order_key",),
    "park_order": ("order_key", "execution_id", "error"),
}


class DatabaseUnavailable(Exception):
    """The database could not be reached; transient, retried by the state machine."""


def _run(task: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        from chalicelib.bootstrap import container

        c = container()
        run = c.redrive.park if task == "park_order" else getattr(c.workflow, task)
        return run(*[int(event[f]) if f == "position" else event.get(f) if f == "error" else event[f]
                     for f in TASKS[task]])
    except Exception as exc:
        if _is_database_outage(exc):
            raise DatabaseUnavailable(str(exc).splitlines()[0][:300]) from exc
        raise


def _is_database_outage(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _task(name: str) -> Any:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return _run(name, event)

    handler.__name__ = handler.__qualname__ = name
    return workflow_tasks.lambda_function(name=name)(handler)


# Chalice names each function's Lambda handler after the module attribute: ...workflow_tasks.<name>.
for _name in TASKS:
    globals()[_name] = _task(_name)
