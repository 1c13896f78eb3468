"""The middleware every deployed function runs: JSON logs, tracing and the order key of its invocation.

HTTP routes get it from the app (`app.register_middleware(chalice_middleware, "http")` in app.py). Queue,
schedule and workflow-task functions carry it themselves, through `@observed`: in AWS each of them starts
by importing its own module (Chalice's handler string), not app.py, so the app's middleware list would not
be attached to them. chalicelib/observability.py does the work and loads with the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any


class _TaskEvent:
    """What observability.chalice_middleware reads from a workflow task's call: its payload and context."""

    __slots__ = ("context", "event")

    def __init__(self, event: Any, context: Any):
        self.event, self.context = event, context


def chalice_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Registered on the app for every HTTP request."""
    from chalicelib import observability

    return observability.chalice_middleware(event, get_response)


def observed(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Runs `handler` inside the middleware. Put it under the Chalice decorator: `@queue.on_sqs_message(...)`
    then `@observed`. Works for `(event)` handlers (SQS, schedules) and `(event, context)` ones (tasks)."""

    @wraps(handler)
    def run(*args: Any) -> Any:
        from chalicelib import observability

        if len(args) == 2:  # a pure Lambda function: the payload is a dict, the context comes apart
            event, context = args
            return observability.chalice_middleware(_TaskEvent(event, context), lambda _: handler(event, context))
        return observability.chalice_middleware(args[0], handler)

    run.__ame_observed__ = True  # type: ignore[attr-defined]
    return run
