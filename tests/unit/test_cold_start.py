"""Cold start: `import app` loads the entry declarations only, and every Lambda handler string runs as in the app."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lambda_events import schedule_event

ROOT = Path(__file__).resolve().parents[2]

# What every Lambda function imports at cold start: the declarations, nothing behind them.
DECLARATIONS = {
    "app",
    "chalicelib",
    "chalicelib.entrypoints",
    "chalicelib.entrypoints.api",
    "chalicelib.entrypoints.middleware",
    "chalicelib.entrypoints.queue_handlers",
    "chalicelib.entrypoints.schedules",
    "chalicelib.entrypoints.workflow_tasks",
    "chalicelib.queues",
}


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_app_loads_the_entry_declarations_and_nothing_behind_them():
    seen = _run("import sys, json; import app; print(json.dumps(sorted(sys.modules)))")
    assert {m for m in seen if m.split(".")[0] in ("app", "chalicelib")} == DECLARATIONS
    heavy = {
        "dataclasses",
        "uuid",
        "concurrent.futures",
        "pydantic",
        "sqlalchemy",
        "boto3",
        "requests",
        "jwt",
        "aws_lambda_powertools",
    }
    assert heavy.isdisjoint(seen)


def _handler_strings() -> list[str]:
    import app

    a = app.app
    return sorted(
        {f.handler_string for f in a.pure_lambda_functions}
        | {s.handler_string for s in a.event_sources}
        | {h.handler_string for h in a.builtin_auth_handlers}
    )


def test_every_function_chalice_deploys_has_a_handler_string_in_an_entrypoint_module():
    modules = {h.rsplit(".", 1)[0] for h in _handler_strings()}
    assert modules == {
        "chalicelib.entrypoints.api",
        "chalicelib.entrypoints.queue_handlers",
        "chalicelib.entrypoints.schedules",
        "chalicelib.entrypoints.workflow_tasks",
    }


# The smallest event Chalice's event class of each kind of function accepts.
EVENTS = {"SQSEvent": {"Records": []}, "CloudWatchEvent": schedule_event()}


@pytest.mark.parametrize(
    "module",
    [
        "chalicelib.entrypoints.queue_handlers",
        "chalicelib.entrypoints.schedules",
        "chalicelib.entrypoints.workflow_tasks",
    ],
)
def test_a_function_started_by_its_handler_string_runs_the_middleware_without_app_py(module):
    # Lambda imports the handler's module, not app.py: each function carries the middleware itself.
    handlers = [h for h in _handler_strings() if h.rsplit(".", 1)[0] == module]
    code = (
        "import importlib, json, sys\n"
        "from chalicelib import observability\n"
        "seen = []\n"
        "observability.chalice_middleware = lambda event, get_response: seen.append(event) or {'observed': True}\n"
        f"mod = importlib.import_module({module!r})\n"
        "out = {}\n"
        f"for h in {handlers!r}:\n"
        "    fn = getattr(mod, h.rsplit('.', 1)[1])\n"
        f"    args = ({EVENTS!r}.get(fn.event_class.__name__, {{}}), None)\n"
        "    before = len(seen)\n"
        "    out[h] = [fn(*args), len(seen) - before]\n"
        "print(json.dumps([out, 'app' in sys.modules]))"
    )
    attached, app_loaded = _run(code)
    assert handlers and set(attached) == set(handlers)
    assert not app_loaded
    for handler, (answer, calls) in attached.items():
        assert (answer, calls) == ({"observed": True}, 1), handler


def test_the_authorizer_is_loaded_from_its_module_without_app_py():
    code = (
        "import json, sys\n"
        "from chalicelib.entrypoints.api import ame_token\n"
        "print(json.dumps([type(ame_token).__name__, 'app' in sys.modules]))"
    )
    assert _run(code) == ["ChaliceAuthorizer", False]


def test_a_route_loads_its_implementation_on_its_first_request():
    code = (
        "import json, sys\n"
        "import app\n"
        "from chalice.test import Client\n"
        "before = 'chalicelib.entrypoints.api_views' in sys.modules\n"
        "with Client(app.app) as client:\n"
        "    response = client.http.get('/health')\n"
        "print(json.dumps([before, 'chalicelib.entrypoints.api_views' in sys.modules, response.status_code,\n"
        "                  response.json_body, 'X-Request-Id' in response.headers]))"
    )
    assert _run(code) == [False, True, 200, {"status": "ok"}, True]


def test_preflight_routes_keep_their_view_names():
    import app

    names = {path: entries["OPTIONS"].view_name for path, entries in app.app.routes.items() if "OPTIONS" in entries}
    assert names == {
        "/v1/orders": "preflight_v1_orders",
        "/v1/orders/{order_key}": "preflight_v1_orders_order_key",
        "/v1/orders/{order_key}/history": "preflight_v1_orders_order_key_history",
        "/v1/quorum/simulations": "preflight_v1_quorum_simulations",
        "/v1/areas/{area_code}/options": "preflight_v1_areas_area_code_options",
    }
