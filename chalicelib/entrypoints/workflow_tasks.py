"""Step Functions task handlers (lambda_function), one per Task state of statemachine.asl.json.

Errors leave as named exceptions: the Lambda errorType is the class name, which the state machine's
Retry/Catch lists match (PartnerUnavailable and DatabaseUnavailable are retried; the rest are caught).
"""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from chalice import Blueprint

from chalicelib.bootstrap import container

workflow_tasks = Blueprint(__name__)


class DatabaseUnavailable(Exception):
    """The database could not be reached; transient, retried by the state machine."""


def _named_errors(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    @wraps(handler)
    def wrapper(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return handler(event)
        except Exception as exc:
            if _is_database_outage(exc):
                raise DatabaseUnavailable(str(exc).splitlines()[0][:300]) from exc
            raise

    return wrapper


def _is_database_outage(exc: Exception) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _workflow():
    return container().workflow


@workflow_tasks.lambda_function(name="load_order")
@_named_errors
def load_order(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().load_order(event["order_key"], event["execution_id"])


@workflow_tasks.lambda_function(name="fetch_powers")
@_named_errors
def fetch_powers(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().fetch_powers(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="fetch_people")
@_named_errors
def fetch_people(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().fetch_people(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="check_operators")
@_named_errors
def check_operators(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().check_operators(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="decide_party")
@_named_errors
def decide_party(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().decide_party(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="evaluate_person")
@_named_errors
def evaluate_person(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().evaluate_person(event["order_key"], int(event["position"]))


@workflow_tasks.lambda_function(name="conclude_order")
@_named_errors
def conclude_order(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().conclude_order(event["order_key"], event["execution_id"])


@workflow_tasks.lambda_function(name="record_failure")
@_named_errors
def record_failure(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().record_failure(event["order_key"], event["execution_id"], event.get("error"))


@workflow_tasks.lambda_function(name="publish_result")
@_named_errors
def publish_result(event: dict[str, Any]) -> dict[str, Any]:
    return _workflow().publish_result(event["order_key"])


@workflow_tasks.lambda_function(name="park_order")
@_named_errors
def park_order(event: dict[str, Any]) -> dict[str, Any]:
    return container().redrive.park(event["order_key"], event["execution_id"], event.get("error"))
