"""Workflow benchmark: POST /v1/orders → terminal status visible on GET, with every partner at 100 ms.

Critical path of partner latency: intake 100 (Parametrizador ∥ Domínios) + Poderes 100 + the slower of
Pessoas ∥ Cadastro Único 100 = 300 ms. Goal (issue 4): median <= 1.3 x 300 ms. Per order it also
prints the state transitions and Lambda invocations (from the execution history) and the partner calls
(from the simulator's counters). The area cache is off (TTL 0) so every order pays the intake look-ups,
as the critical path counts them. Run: .venv/bin/python bench/bench_workflow.py
"""
from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ame_local.config import ACCOUNT_ID, REGION, STATE_MACHINE_NAME, LocalConfig  # noqa: E402
from ame_local.simulator import scenarios as sc  # noqa: E402
from ame_local.stack import LocalStack  # noqa: E402

LATENCY_MS = 100
CRITICAL_PATH_MS = 3 * LATENCY_MS
ORDERS = 20
PARTNERS = ("parametrizador", "dominios", "poderes", "pessoas", "cadastro")
TERMINAL = {"QUORUM_MET", "NO_QUORUM", "FAILED"}


def run_order(api: str, session: requests.Session, body: dict) -> tuple[str, float]:
    start = time.perf_counter()
    response = session.post(f"{api}/v1/orders", json=body, timeout=10)
    assert response.status_code == 202, response.text
    key = response.json()["order_key"]
    deadline = start + 30
    while time.perf_counter() < deadline:
        status = session.get(f"{api}/v1/orders/{key}", timeout=10).json()["status"]
        if status in TERMINAL:
            return key, time.perf_counter() - start
        time.sleep(0.002)
    raise RuntimeError(f"order {key} did not finish")


def history_counts(stack: LocalStack, key: str) -> tuple[int, int]:
    arn = f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{STATE_MACHINE_NAME}:{key}"
    events, token = [], None
    while True:
        page = stack.sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    kinds = Counter(e["type"] for e in events)
    transitions = kinds["TaskStateEntered"] + kinds["ChoiceStateEntered"] + kinds["MapStateEntered"] + \
        kinds["ParallelStateEntered"] + kinds["SucceedStateEntered"] + kinds["FailStateEntered"] + \
        kinds["PassStateEntered"]
    invocations = kinds["LambdaFunctionScheduled"] + kinds["TaskScheduled"]
    return transitions, invocations


def main() -> None:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        config = LocalConfig(port=0, partners_port=0, database_url=f"sqlite:///{tmp}/ame.sqlite3",
                             schedule_interval_seconds=3600.0)
        import os

        os.environ["AME_AREA_CACHE_TTL_SECONDS"] = "0"
        os.environ["AME_PEOPLE_CACHE_FRESH_SECONDS"] = "0"  # every order asks Pessoas, as the critical path counts it
        with LocalStack(config) as stack:
            body = sc.order_body("QUORUM_AB", ["PF_KNOWN"])
            token = stack.issuer.mint("bench", [sc.AREA_CREDITO_PJ])
            with requests.Session() as session:
                session.headers["Authorization"] = f"Bearer {token}"
                run_order(stack.api_url, session, body)  # warm-up: imports, connections, first executions
                for partner in PARTNERS:
                    stack.simulator.set_faults(partner, latency_ms=LATENCY_MS)
                stack.simulator.reset_counters()
                times, keys = [], []
                for _ in range(ORDERS):
                    key, elapsed = run_order(stack.api_url, session, body)
                    times.append(elapsed)
                    keys.append(key)
            counters = stack.simulator.counters()
            counts = [history_counts(stack, k) for k in keys]
    median = statistics.median(times) * 1000
    p95 = sorted(times)[int(len(times) * 0.95) - 1] * 1000
    print(f"orders: {ORDERS} (PJ requester QUORUM_AB + PF guarantor), every partner at {LATENCY_MS} ms")
    print(f"POST → terminal status on GET: median {median:.0f} ms, p95 {p95:.0f} ms")
    print(f"critical path of partner latency: {CRITICAL_PATH_MS} ms; ratio median/critical path "
          f"{median / CRITICAL_PATH_MS:.2f} (goal <= 1.30)")
    print(f"per order: state transitions {statistics.median(c[0] for c in counts):.0f}, "
          f"Lambda invocations {statistics.median(c[1] for c in counts):.0f}")
    print("per order partner calls: " + ", ".join(f"{p} {counters[p] / ORDERS:.1f}" for p in PARTNERS))


if __name__ == "__main__":
    main()
