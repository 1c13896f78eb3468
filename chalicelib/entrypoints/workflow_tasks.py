"""Step Functions task handlers (lambda_function), one per Task state of statemachine.asl.json.

Each handler passes its state's input to one workflow (or redrive) method. A party's tasks also pass
the party's facts (`party`) that LoadOrder put in its Map item; an execution whose state machine did not
pass them has none, and the workflow then reads the order. Errors leave as named
exceptions: the Lambda errorType is the class name, which the state machine's Retry/Catch lists match
(PartnerUnavailable and DatabaseUnavailable are retried; the rest are caught). The composition root and
the workflow service load with a task's first call, not at import.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from chalice import Blueprint

from chalicelib.entrypoints.middleware import observed

workflow_tasks = Blueprint(__name__)

Event = dict[str, Any]


class DatabaseUnavailable(Exception):
    """The database could not be reached; transient, retried by the state machine."""


def named_errors(task: Callable[[Event, Any], Event]) -> Callable[[Event, Any], Event]:
    """A database outage leaves as DatabaseUnavailable, whatever driver error caused it."""

    @wraps(task)
    def run(event: Event, context: Any) -> Event:
        try:
            return task(event, context)
        except Exception as exc:
            from chalicelib.adapters.db_errors import is_database_outage

            if is_database_outage(exc):
                raise DatabaseUnavailable(str(exc).splitlines()[0][:300]) from exc
            raise

    return run


def _container() -> Any:
    from chalicelib.bootstrap import container

    return container()


@workflow_tasks.lambda_function(name="load_order")
@observed
@named_errors
def load_order(event: Event, context: Any) -> Event:
    return _container().workflow.load_order(event["order_key"], event["execution_id"])


@workflow_tasks.lambda_function(name="fetch_powers")
@observed
@named_errors
def fetch_powers(event: Event, context: Any) -> Event:
    return _container().workflow.fetch_powers(event["order_key"], int(event["position"]), event.get("party"))


@workflow_tasks.lambda_function(name="fetch_people")
@observed
@named_errors
def fetch_people(event: Event, context: Any) -> Event:
    return _container().workflow.fetch_people(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="check_operators")
@observed
@named_errors
def check_operators(event: Event, context: Any) -> Event:
    return _container().workflow.check_operators(event["order_key"], int(event["position"]), event.get("party"))


@workflow_tasks.lambda_function(name="decide_party")
@observed
@named_errors
def decide_party(event: Event, context: Any) -> Event:
    return _container().workflow.decide_party(event["order_key"], int(event["position"]), event.get("party"))


@workflow_tasks.lambda_function(name="evaluate_person")
@observed
@named_errors
def evaluate_person(event: Event, context: Any) -> Event:
    return _container().workflow.evaluate_person(event["order_key"], int(event["position"]), event.get("party"))


@workflow_tasks.lambda_function(name="conclude_order")
@observed
@named_errors
def conclude_order(event: Event, context: Any) -> Event:
    return _container().workflow.conclude_order(event["order_key"], event["execution_id"])


@workflow_tasks.lambda_function(name="record_failure")
@observed
@named_errors
def record_failure(event: Event, context: Any) -> Event:
    # "error" is absent when the state machine fails the order without a caught error.
    return _container().workflow.record_failure(event["order_key"], event["execution_id"], event.get("error"))


@workflow_tasks.lambda_function(name="publish_result")
@observed
@named_errors
def publish_result(event: Event, context: Any) -> Event:
    return _container().workflow.publish_result(event["order_key"])


@workflow_tasks.lambda_function(name="park_order")
@observed
@named_errors
def park_order(event: Event, context: Any) -> Event:
    """A partner stayed down past the state machine's retries: the redrive parks the order for later."""
    return _container().redrive.park(event["order_key"], event["execution_id"], event.get("error"))
