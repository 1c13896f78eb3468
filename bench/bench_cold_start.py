"""Cold start: import time of app.py against its runtime dependencies alone, and the deployment package size.

Each figure is the median of several fresh interpreters (so nothing is cached in sys.modules). The floor
imports exactly the third-party packages that `import app` leaves in sys.modules; the goal is app <= 1.2 x
floor. The package is built with `chalice package` and trimmed as `make deploy` trims it; goal <= 15 MB.

`import app` holds only the entries' declarations; each entry loads its code with its first call. So that
the reader sees where that cost went, the bench also runs the first call of three entries (POST /v1/orders
through the API handler, the creation-queue consumer, the load_order task) as Lambda would, in Lambda's
environment, up to their first network call (the database and partners point at a closed local port),
records the modules that call loads, and times importing them after `import app` (informational; the
call's own work and I/O are not counted).

Then, as a Lambda user feels a cold start, each entry's first-call time: a fresh interpreter imports app.py
and runs the first invocation of POST /v1/orders, GET /v1/orders/{order_key}, the creation-queue consumer
(launch), the load_order task and the relay_outbox schedule, with partners, SQS, Step Functions and the
database answering at once on loopback (median of --first-call-runs; informational, no goal).

    .venv/bin/python bench/bench_cold_start.py [--runs 15] [--entry-runs 5] [--first-call-runs 5]
                                               [--no-package] [--no-entries] [--no-first-calls]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from chalicelib.openapi_examples import order_request
from tests.lambda_events import api_event, order_key_message, schedule_event

ROOT = Path(__file__).resolve().parent.parent

IMPORT_GOAL_RATIO = 1.2
PACKAGE_GOAL_BYTES = 15 * 1024 * 1024


# What the deployed functions run with (infra/build_template.py sets it): no pydantic plugin scan.
LAMBDA_ENV = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"}


def fresh(stmt: str) -> float:
    """Seconds `stmt` takes in a fresh interpreter (it may restart the clock `t` after untimed set-up)."""
    code = "import time; t = time.perf_counter()\n" + stmt + "\nprint(time.perf_counter() - t)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=LAMBDA_ENV
    )
    return float(out.stdout.strip().splitlines()[-1])


def module_level_dependencies() -> list[str]:
    """Every module that is not AME's own and that `import app` loads, in load order: the floor is what
    loading them costs without AME's module bodies (including pydantic's lazily loaded internals that
    building a model pulls in, which `import pydantic` alone would not count)."""
    code = (
        "import sys, json; before = list(sys.modules); import app; seen = set(before); "
        "print(json.dumps([m for m in sys.modules if m not in seen "
        "and m.split('.')[0] not in ('app', 'chalicelib', '__main__')]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env=LAMBDA_ENV
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_imports(runs: int) -> dict[str, float]:
    deps = module_level_dependencies()
    floor_stmt = (
        "import importlib\nfor m in %r:\n    try: importlib.import_module(m)\n    except Exception: pass" % deps
    )
    fresh("import app")  # warm the OS page cache and write .pyc files, as a deployed package has them
    fresh(floor_stmt)
    app_times, floor_times = [], []
    for _ in range(runs):  # interleaved so drift on the machine hits both alike
        floor_times.append(fresh(floor_stmt))
        app_times.append(fresh("import app"))
    app_ms, floor_ms = statistics.median(app_times) * 1000, statistics.median(floor_times) * 1000
    tops = sorted(
        {d.split(".")[0] for d in deps if d.split(".")[0] not in sys.stdlib_module_names and not d.startswith("_")}
    )
    return {"deps": tops, "modules": len(deps), "app_ms": app_ms, "floor_ms": floor_ms, "ratio": app_ms / floor_ms}


# -- first call of an entry: what it imports beyond app.py ---------------------------------------------

# Settings that validate and reach nothing: port 9 on loopback refuses at once.
_CLOSED = "http://127.0.0.1:9"
ENTRY_ENV = {
    **LAMBDA_ENV,
    "AME_DATABASE_URL": "mysql+pymysql://ame@127.0.0.1:9/ame",
    "AME_PARAMETRIZADOR_URL": _CLOSED,
    "AME_DOMINIOS_URL": _CLOSED,
    "AME_PODERES_URL": _CLOSED,
    "AME_PESSOAS_URL": _CLOSED,
    "AME_CADASTRO_URL": _CLOSED,
    "AME_NOTIFICACAO_URL": _CLOSED,
    "AME_REDIS_URL": "",
    "AME_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:ame",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    # As in Lambda: the middleware sets up JSON logs, EMF metrics and X-Ray patching on first use.
    "AWS_LAMBDA_FUNCTION_NAME": "ame-dev-bench",
    "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
}

_ORDER_KEY = "01JDQ7Z8K3M4N5P6Q7R8S9T0VW"
_ORDER = order_request(external_reference="bench-1")

# (label, Chalice function the event goes to, the event Lambda hands it)
ENTRIES = [
    (
        "API route POST /v1/orders",
        "api_handler",
        api_event("POST", "/v1/orders", "/v1/orders", "ame:orders:write", json.dumps(_ORDER)),
    ),
    ("SQS handler on_creation_message", "on_creation_message", order_key_message(_ORDER_KEY)),
    ("workflow task load_order", "load_order", {"order_key": _ORDER_KEY, "execution_id": "arn:bench"}),
]

_FIRST_CALL = """
import json, sys
import app
from tests.lambda_events import LambdaContext as Context  # json alone, which app has already loaded
before = set(sys.modules)

name, event, MARK = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
handler = app.app if name == "api_handler" else app.app.handler_map[name]
try:
    handler(event, Context())
except Exception:  # the first network call fails by design: only what got imported matters
    pass
print(MARK + json.dumps([m for m in sys.modules if m not in before]), flush=True)
"""


def _json_after(mark: str, line: str) -> Any:
    """The JSON value that follows `mark` in `line`; a background thread's log line may follow it too."""
    return json.JSONDecoder().raw_decode(line, line.index(mark) + len(mark))[0]


def first_call_modules(function: str, event: dict) -> list[str]:
    mark = "first-call modules: "  # the call's own JSON log and EMF lines share stdout
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL, function, json.dumps(event), mark],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=ENTRY_ENV,
    )
    # Background threads (the executor's partner calls) log to the same stdout: the mark may not start its line.
    line = next(line for line in out.stdout.splitlines() if mark in line)
    return _json_after(mark, line)


def _import_stmt(modules: list[str]) -> str:
    return "import importlib\nfor m in %r:\n    try: importlib.import_module(m)\n    except Exception: pass" % modules


def fresh_after_app(stmt: str) -> float:
    """Seconds `stmt` takes in a fresh interpreter that has imported app.py first (not timed)."""
    return fresh("import app\nt = time.perf_counter()\n" + stmt)


def bench_entries(runs: int) -> list[dict]:
    found = []
    for label, function, event in ENTRIES:
        modules = first_call_modules(function, event)
        own = [m for m in modules if m.split(".")[0] == "chalicelib"]
        deps = [m for m in modules if m.split(".")[0] != "chalicelib"]
        everything, deps_only = _import_stmt(modules), _import_stmt(deps)
        fresh_after_app(everything)  # page cache
        all_times, dep_times = [], []
        for _ in range(runs):
            dep_times.append(fresh_after_app(deps_only))
            all_times.append(fresh_after_app(everything))
        all_ms, deps_ms = statistics.median(all_times) * 1000, statistics.median(dep_times) * 1000
        tops = sorted(
            {m.split(".")[0] for m in deps if m.split(".")[0] not in sys.stdlib_module_names and not m.startswith("_")}
        )
        found.append(
            {
                "label": label,
                "modules": len(modules),
                "own": len(own),
                "all_ms": all_ms,
                "deps_ms": deps_ms,
                "tops": tops,
            }
        )
    return found


# -- first call of an entry, as a Lambda user feels it: import app + the first invocation -----------------

# Each run is a fresh interpreter that starts the clock, imports app.py, builds the entry's event and calls
# its handler. Partners answer at once: the partner simulator (ame_local) runs in this process on a free
# loopback port; SQS and Step Functions are a moto server on another; the database is an SQLite file with
# the schema applied. Set-up (schema, queues, state machine) happens here, before and outside the clock.
_TIMED_CALL = """
import json, sys, time
from tests.lambda_events import LambdaContext as Context  # json alone: before the clock, as it is not AME's
t = time.perf_counter()
import app
name, event = sys.argv[1], json.loads(sys.argv[2])

handler = app.app if name == "api_handler" else app.app.handler_map[name]
answer = handler(event, Context())
elapsed = time.perf_counter() - t
print("first-call: " + json.dumps({"ms": elapsed * 1000, "answer": answer}, default=str), flush=True)
"""


def _timed_call(env: dict, function: str, event: dict) -> tuple[float, object]:
    out = subprocess.run(
        [sys.executable, "-c", _TIMED_CALL, function, json.dumps(event)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    mark = "first-call: "
    line = next((x for x in out.stdout.splitlines() if mark in x), None)
    if out.returncode != 0 or line is None:
        raise SystemExit(f"{function} failed on its first call:\n{out.stderr[-3000:]}")
    result = _json_after(mark, line)
    return result["ms"], result["answer"]


def _first_call_world(tmp: str):
    """Partners, AWS and a database that answer at once; returns (environment, stop)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from ame_local.simulator.server import start_simulator
    from chalicelib.queues import QUEUES
    from migrations.runner import upgrade

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's access log
    simulator = start_simulator()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    aws_url = "http://127.0.0.1:%d" % moto._server.server_port
    aws = {
        "AWS_ENDPOINT_URL": aws_url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    sqs = boto3.client(
        "sqs", endpoint_url=aws_url, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    for spec in QUEUES.values():
        sqs.create_queue(QueueName=spec.name)
        sqs.create_queue(QueueName=spec.dlq_name)
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=aws_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    machine = sfn.create_state_machine(
        name="ame-bench",
        roleArn="arn:aws:iam::123456789012:role/bench",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
    )["stateMachineArn"]
    database = f"sqlite:///{tmp}/first-call.sqlite3"
    upgrade(database)
    env = {**ENTRY_ENV, **aws, "AME_DATABASE_URL": database, "AME_STATE_MACHINE_ARN": machine}
    for partner in ("PARAMETRIZADOR", "DOMINIOS", "PODERES", "PESSOAS", "CADASTRO", "NOTIFICACAO"):
        env[f"AME_{partner}_URL"] = simulator.url

    def stop() -> None:
        moto.stop()
        simulator.stop()

    return env, stop


def bench_first_calls(runs: int) -> list[tuple[str, float]]:
    """Median first-call time of five entries; every run works on an order of its own (a repeated launch
    or claim would take a shorter path)."""
    with tempfile.TemporaryDirectory() as tmp:
        env, stop = _first_call_world(tmp)
        try:
            post = api_event("POST", "/v1/orders", "/v1/orders", "ame:orders:write", json.dumps(_ORDER))
            keys, post_ms = [], []
            for i in range(runs + 1):  # the first run writes .pyc files and warms the page cache: not counted
                ms, answer = _timed_call(env, "api_handler", post)
                if answer["statusCode"] != 202:
                    raise SystemExit(f"POST /v1/orders answered {answer}")
                keys.append(json.loads(answer["body"])["order_key"])
                if i:
                    post_ms.append(ms)
            figures = [("API route POST /v1/orders", statistics.median(post_ms))]
            entries = [
                (
                    "API route GET /v1/orders/{order_key}",
                    "api_handler",
                    lambda key: api_event(
                        "GET",
                        f"/v1/orders/{key}",
                        "/v1/orders/{order_key}",
                        "ame:orders:read",
                        path_params={"order_key": key},
                    ),
                    lambda a: a["statusCode"] == 200,
                ),
                (
                    "SQS handler on_creation_message (launch)",
                    "on_creation_message",
                    lambda key: order_key_message(key),
                    lambda a: a == {"batchItemFailures": []},
                ),
                (
                    "workflow task load_order",
                    "load_order",
                    lambda key: {"order_key": key, "execution_id": f"arn:bench:{key}"},
                    lambda a: a["claimed"],
                ),
                (
                    "schedule relay_outbox",
                    "relay_outbox",
                    lambda key: schedule_event("bench"),
                    lambda a: "republished" in a,
                ),
            ]
            for label, function, event, ok in entries:
                times = []
                for key in keys[1:]:
                    ms, answer = _timed_call(env, function, event(key))
                    if not ok(answer):
                        raise SystemExit(f"{label} answered {answer}")
                    times.append(ms)
                figures.append((label, statistics.median(times)))
            return figures
        finally:
            stop()


def bench_package() -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from infra.deploy import package

    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "sa-east-1")}
    with tempfile.TemporaryDirectory() as tmp:
        info = package("dev", Path(tmp), environ=env)
    return {"chalice_bytes": info["zip_bytes_chalice"], "bytes": info["zip_bytes"]}


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--entry-runs", type=int, default=5)
    parser.add_argument("--no-package", action="store_true")
    parser.add_argument("--no-entries", action="store_true")
    parser.add_argument("--first-call-runs", type=int, default=5)
    parser.add_argument("--no-first-calls", action="store_true")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, {load()}")
    imports = bench_imports(args.runs)
    verdict = "ok" if imports["ratio"] <= IMPORT_GOAL_RATIO else "MISSED"
    print(f"app.py loads {imports['modules']} modules that are not AME's, from: {', '.join(imports['deps'])}")
    print(
        f"import app.py: {imports['app_ms']:.1f} ms median of {args.runs}; dependencies alone (floor): "
        f"{imports['floor_ms']:.1f} ms; ratio {imports['ratio']:.2f} (goal <= {IMPORT_GOAL_RATIO}) {verdict}"
    )
    if not args.no_entries:
        print(
            f"first call of an entry, imports beyond app.py (informational; median of {args.entry_runs}, "
            f"in Lambda's environment, up to its first network call):"
        )
        for entry in bench_entries(args.entry_runs):
            print(
                f"  {entry['label']}: {entry['all_ms']:.0f} ms, {entry['modules']} modules; AME's own "
                f"{entry['own']} modules {entry['all_ms'] - entry['deps_ms']:.0f} ms above their dependencies "
                f"alone ({entry['deps_ms']:.0f} ms: {', '.join(entry['tops'])})"
            )
    if not args.no_first_calls:
        print(
            f"first call of an entry (fresh interpreter: import app + the first invocation, in Lambda's "
            f"environment, partners, SQS, Step Functions and the database answering at once on loopback; "
            f"median of {args.first_call_runs}, {load()}):"
        )
        for label, ms in bench_first_calls(args.first_call_runs):
            print(f"  {label}: {ms:.0f} ms")
    if not args.no_package:
        size = bench_package()
        verdict = "ok" if size["bytes"] <= PACKAGE_GOAL_BYTES else "MISSED"
        print(
            f"deployment.zip: {size['bytes'] / 2**20:.2f} MiB as deployed (goal <= 15 MiB) {verdict}; "
            f"{size['chalice_bytes'] / 2**20:.2f} MiB as `chalice package` writes it, before trimming"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
