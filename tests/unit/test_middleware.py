"""Every function the Chalice app deploys runs the middleware (JSON logs, tracing, the order key).

The functions are enumerated from the app object itself: a route, task, queue consumer or schedule added
without the middleware fails here. Each is invoked with the smallest event of its kind; the real
observability middleware runs, and in place of the handler's own work a probe records what it bound.
"""

from __future__ import annotations

import pytest
from chalice import Response

import app as app_module
from chalicelib import observability
from tests.lambda_events import LambdaContext, api_event, order_key_message, schedule_event

KEY = "01JDQ7Z8K3M4N5P6Q7R8S9T0VW"
APP = app_module.app

EVENTS = {"sqs": order_key_message(KEY), "schedule": schedule_event()}


@pytest.fixture()
def probe(monkeypatch):
    """Runs the real middleware around a probe that records the bound order key instead of the handler."""
    observability.clear_context()  # an earlier test of this worker may have bound an order outside a handler
    seen: list[dict] = []
    real = observability.chalice_middleware
    bound: dict = {}
    monkeypatch.setattr(observability, "bind_request", lambda request_id, **extra: bound.update(request_id=request_id))

    def middleware(event, get_response):
        def handler_stand_in(_event):
            seen.append({"order_key": observability.current_order_key(), **bound})
            return Response(body="observed", status_code=299) if hasattr(_event, "method") else {"observed": True}

        return real(event, handler_stand_in)

    monkeypatch.setattr(observability, "chalice_middleware", middleware)
    return seen


def _routes() -> list[tuple[str, str]]:
    return sorted((path, method) for path, entries in APP.routes.items() for method in entries)


def _api_event(path: str, method: str) -> dict:
    params = {"order_key": KEY} if "{order_key}" in path else None
    return api_event(method, path.replace("{order_key}", KEY), path, "ame:orders:read", path_params=params)


def test_the_app_deploys_the_functions_this_test_walks():
    assert len(_routes()) >= 13
    assert {f.name for f in APP.pure_lambda_functions} >= {"load_order", "park_order", "publish_result"}
    assert {s.name for s in APP.event_sources} == {
        "on_creation_message",
        "on_result_message",
        "relay_outbox",
        "sweep_orders",
        "report_operations",
        "resume_parked",
        "export_analytics",
        "purge_data",
    }


@pytest.mark.parametrize("path, method", _routes())
def test_every_route_runs_the_middleware(probe, path, method):
    answer = APP(_api_event(path, method), LambdaContext())
    assert answer["statusCode"] == 299 and answer["body"] == "observed"
    assert probe == [{"order_key": None, "request_id": "lambda-request-1"}]


@pytest.mark.parametrize("name", sorted(f.name for f in APP.pure_lambda_functions))
def test_every_workflow_task_runs_the_middleware_with_its_order_key(probe, name):
    answer = APP.handler_map[name]({"order_key": KEY, "execution_id": "arn:execution"}, LambdaContext())
    assert answer == {"observed": True}
    assert probe == [{"order_key": KEY, "request_id": "lambda-request-1"}]


@pytest.mark.parametrize("name", sorted(s.name for s in APP.event_sources))
def test_every_queue_consumer_and_schedule_runs_the_middleware(probe, name):
    kind = "sqs" if name.startswith("on_") else "schedule"
    answer = APP.handler_map[name](EVENTS[kind], LambdaContext())
    assert answer == {"observed": True}
    assert probe == [{"order_key": None, "request_id": "lambda-request-1"}]


def test_the_only_function_without_middleware_is_the_authorizer_which_chalice_never_wraps():
    assert [a.name for a in APP.builtin_auth_handlers] == ["ame_token"]
