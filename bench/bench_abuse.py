"""Abuse benchmark: one caller posts 500 orders in 10 s to the local stack (`python -m ame_local run`, as
`make run` starts it), each order naming the same three people as signers.

Prints how many POSTs were accepted (202) and how many throttled (429), the partner calls the accepted
orders cost, and the notifications each person received per channel (the rest recorded SUPPRESSED on the
orders). The stack runs with its default per-caller limit and notification cap (docs/security.md), unless
--baseline also runs it with both out of the way, for the figures side by side.

Run: .venv/bin/python bench/bench_abuse.py [--baseline] [--orders 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ame_local.simulator import scenarios as sc
from chalicelib.domain.masking import mask_cpf
from tests.e2e.stack_process import running_stack

CALLER = "abuser"  # not one of the harness callers: the stack's default limit applies
TERMINAL = {"QUORUM_MET", "NO_QUORUM", "FAILED"}
NAMES = {"11144477735": "João", "12345678909": "Carla", sc.PF_KNOWN_CPF: "Maria"}
STACK_ENV = {"AME_LOCAL_SCHEDULE_SECONDS": "3600"}
UNLIMITED = {
    "AME_CALLER_LIMITS": json.dumps({CALLER: {"rate_per_second": 100_000, "burst": 100_000}}),
    "AME_NOTIFICATION_CAP": "1000000",
}


def flood(api: str, auth: dict[str, str], orders: int, seconds: float) -> tuple[Counter, list[str], float]:
    """`orders` POSTs evenly spread over `seconds` (a load generator paces itself by the clock)."""
    statuses: Counter = Counter()
    accepted: list[str] = []
    lock = threading.Lock()
    local = threading.local()
    start = time.monotonic()

    def one(i: int) -> None:
        delay = start + i * seconds / orders - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers.update(auth)
        body = sc.order_body("QUORUM_AB", ["PF_KNOWN"], external_reference=f"abuso-{i}")
        try:
            response = session.post(f"{api}/v1/orders", json=body, timeout=30)
            status = response.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        with lock:
            statuses[status] += 1
            if status == 202:
                accepted.append(response.json()["order_key"])

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(one, range(orders)))
    return statuses, accepted, time.monotonic() - start


def settled(order: dict[str, Any]) -> bool:
    if order["status"] not in TERMINAL:
        return False
    if order["status"] != "QUORUM_MET":
        return True
    ready = (order.get("deliveries") or {}).get("envelope_ready") or {}
    return ready.get("status") in ("DELIVERED", "FAILED")  # the last channel of the event: the rest are done


def wait_until_settled(api: str, auth: dict[str, str], keys: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    with requests.Session() as session:
        session.headers.update(auth)
        while time.monotonic() < deadline and len(done) < len(keys):
            for key in [k for k in keys if k not in done]:
                order = session.get(f"{api}/v1/orders/{key}", timeout=30).json()
                if settled(order):
                    done[key] = order
            if len(done) < len(keys):
                time.sleep(0.5)
    if len(done) < len(keys):
        print(f"  warning: {len(keys) - len(done)} accepted orders not settled after {timeout:.0f} s")
    return list(done.values())


def run(label: str, extra_env: dict[str, str], orders: int, seconds: float, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp), {**STACK_ENV, **extra_env}) as stack:
        auth = stack.auth(CALLER, (sc.AREA_CREDITO_PJ,))
        requests.post(f"{stack.partners_url}/_admin/counters/reset", timeout=5)
        statuses, accepted, took = flood(stack.api_url, auth, orders, seconds)
        views = wait_until_settled(stack.api_url, auth, accepted, timeout)
        counters = requests.get(f"{stack.partners_url}/_admin/counters", timeout=5).json()
        sent = requests.get(f"{stack.partners_url}/_admin/notifications", timeout=5).json()
    per_person: Counter = Counter()
    for note in sent if isinstance(sent, list) else sent.get("notifications", []):
        _, cpf, channel = note["notification_id"].split(":")
        per_person[(cpf, channel)] += 1
    suppressed: Counter = Counter()
    for order in views:
        for item in (order.get("deliveries") or {}).get("notifications") or []:
            suppressed[(item["cpf"], item["channel"], item["status"])] += 1
    return {
        "label": label,
        "statuses": statuses,
        "took": took,
        "accepted": len(accepted),
        "counters": counters,
        "per_person": per_person,
        "records": suppressed,
    }


def report(result: dict[str, Any]) -> None:
    statuses = result["statuses"]
    other = {k: v for k, v in statuses.items() if k not in (202, 429)}
    print(f"[{result['label']}]")
    line = (
        f"  POST /v1/orders sent in {result['took']:.1f} s by one caller: {statuses.get(202, 0)} x 202, "
        f"{statuses.get(429, 0)} x 429"
    )
    print(line + (f", other {other}" if other else ""))
    counters = result["counters"]
    print("  partner calls: " + ", ".join(f"{p} {n}" for p, n in sorted(counters.items())))
    for cpf, name in NAMES.items():
        got = {ch: result["per_person"].get((cpf, ch), 0) for ch in ("EMAIL", "SMS")}
        held = {ch: result["records"].get((cpf, ch, "SUPPRESSED"), 0) for ch in ("EMAIL", "SMS")}
        print(
            f"  {name} ({mask_cpf(cpf)}): received {got['EMAIL']} e-mail, {got['SMS']} SMS; "
            f"recorded SUPPRESSED on orders: {held['EMAIL']} e-mail, {held['SMS']} SMS"
        )
    total = sum(result["per_person"].values())
    print(f"  notifications sent in all: {total}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=600.0, help="wait this long for accepted orders")
    parser.add_argument("--baseline", action="store_true", help="also run with the limit and the cap lifted")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    results = [run("defaults: per-caller limit and notification cap", {}, args.orders, args.seconds, args.timeout)]
    if args.baseline:
        results.append(run("baseline: limit and cap lifted", UNLIMITED, args.orders, args.seconds, args.timeout))
    for result in results:
        report(result)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
