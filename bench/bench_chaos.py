"""Chaos benchmark: the chaos suite's run — 300 orders over HTTP through the in-process local
stack — once without faults and once with them (20 % errors and 5 % timeouts on every partner, Poderes
down for 8 s, 10 % of SQS records delivered twice, Lambda workers killed), printing each run's figures
and the ratios chaos / clean. The run itself is tests/e2e/chaos/harness.py, shared with the suite.

Recovery mode: 100 orders parked on Poderes while it is down, then Poderes returns; prints the time from
its return to the last order's verdict (goal <= 15 s) and the peak request rate Poderes received.

Run: .venv/bin/python bench/bench_chaos.py [orders]
     .venv/bin/python bench/bench_chaos.py recovery [orders]
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.chaos.harness import (  # noqa: E402
    RECOVERY_ENV,
    ChaosPlan,
    Figures,
    chaos_stack,
    figures,
    recovery_plan,
    run_orders,
    run_recovery,
)


def one_run(plan: ChaosPlan) -> Figures:
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        # chalice.local logs every request line to stderr; 300 orders make thousands of them.
        with contextlib.redirect_stderr(devnull), chaos_stack(Path(tmp), plan) as chaos:
            return figures(chaos, run_orders(chaos))


def ratio(chaos: float, clean: float) -> str:
    return f"{chaos / clean:.2f}x" if clean else "n/a"


def recovery(orders: int) -> None:
    from chalicelib.bootstrap import container

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        with contextlib.redirect_stderr(devnull), chaos_stack(Path(tmp), recovery_plan(orders), RECOVERY_ENV) as chaos:
            run = run_recovery(chaos)
            rate = container().settings.resume_rate_per_second
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"== recovery: {orders} orders parked on Poderes (down), then Poderes returns (load average {load})")
    print(f"   resume rate bound AME_RESUME_RATE_PER_SECOND={rate:g} orders/s; probe every 2 s locally")
    for line in run.lines():
        print("   " + line)
    print(f"   orders re-driven more than once: {run.resumed_by_backoff}")


def main() -> None:
    logging.disable(logging.CRITICAL)
    if len(sys.argv) > 1 and sys.argv[1] == "recovery":
        recovery(int(sys.argv[2]) if len(sys.argv) > 2 else 100)
        return
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else ChaosPlan.orders
    chaotic = ChaosPlan(orders=orders, poderes_down_after=orders // 3)
    clean = dataclasses.replace(chaotic, faults=False)
    results = {}
    for name, plan in (("clean", clean), ("chaos", chaotic)):
        results[name] = one_run(plan)
        print(
            f"== {name}: "
            + (
                "no faults"
                if not plan.faults
                else f"{plan.error_rate:.0%} errors + {plan.timeout_rate:.0%} timeouts on every partner, "
                f"Poderes down {plan.poderes_down_seconds:.0f}s, {plan.duplicate_rate:.0%} SQS "
                f"duplicates, {len(plan.crashes)} planned + {plan.crash_rate:.1%} random worker kills"
            )
        )
        for line in results[name].lines():
            print("   " + line)
    a, b = results["clean"], results["chaos"]
    print("== chaos / clean")
    print(
        f"   orders per second: {a.orders_per_second:.2f} -> {b.orders_per_second:.2f} "
        f"({ratio(b.orders_per_second, a.orders_per_second)})"
    )
    print(
        f"   time to terminal status, median: {a.median_s:.2f}s -> {b.median_s:.2f}s ({ratio(b.median_s, a.median_s)})"
    )
    print(f"   time to terminal status, p95: {a.p95_s:.2f}s -> {b.p95_s:.2f}s ({ratio(b.p95_s, a.p95_s)})")
    print(
        f"   workflow partner calls per order (Poderes + Pessoas + Cadastro): "
        f"{a.workflow_partner_calls_per_order:.2f} "
        f"-> {b.workflow_partner_calls_per_order:.2f} "
        f"({ratio(b.workflow_partner_calls_per_order, a.workflow_partner_calls_per_order)})"
    )
    print(
        f"   Pessoas cache hit rate: {a.people_hit_rate:.0%} -> {b.people_hit_rate:.0%}; stale answers served: "
        f"{a.people_cache.get('stale_served', 0)} -> {b.people_cache.get('stale_served', 0)}"
    )
    print(f"   area (Parametrizador) cache hit rate: {a.area_hit_rate:.0%} -> {b.area_hit_rate:.0%}")
    print(
        f"   breaker openings: {sum(a.breaker_openings.values())} -> {sum(b.breaker_openings.values())} "
        f"{b.breaker_openings}"
    )
    print(f"   parked orders: {a.parked_orders} -> {b.parked_orders}; verdicts: {a.per_status} -> {b.per_status}")


if __name__ == "__main__":
    main()
