"""Intake benchmark: POST /v1/orders latency with a cold and a warm cache, and throughput with 8 clients.

Parametrizador and Domínios answer in 100 ms each (simulator latency). Goals: cold median
<= 1.15 x 100 ms (the look-ups overlap), warm median <= 20 ms. Run: .venv/bin/python bench/bench_intake.py

The creation-queue consumer is paused, so the API is measured alone: locally the whole workflow runs in
the same Python process and would otherwise compete for the one interpreter lock (in AWS the workflow
runs in other Lambdas). Orders still go to the queue. For the same reason the partner simulator runs as
a process of its own (`python -m ame_local.simulator`), as partners are other systems: inside the
stack's process, its three answers to a cold POST and the three threads reading them queue for the
same interpreter lock (~4 ms on this path). The database is the local stack's SQLite file
unless AME_DATABASE_URL names another (e.g. mysql+pymysql://root:@127.0.0.1:3306/<db>).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ame_local.config import PARTNER_URL_VARIABLES
from ame_local.simulator import scenarios as sc
from tests.e2e.stack_process import running_stack

PARTNER_LATENCY_MS = 100
BODY = sc.order_body("QUORUM_AB", ["PF_KNOWN"])
ISOLATE = {"AME_LOCAL_PAUSED_QUEUES": "creation", "AME_LOCAL_SCHEDULE_SECONDS": "3600"}


FAULTS = {p: {"latency_ms": PARTNER_LATENCY_MS} for p in ("parametrizador", "dominios")}
ROOT = Path(__file__).resolve().parents[1]


class PartnerProcess:
    """The partner simulator in a process of its own, every partner URL of the stack pointing at it."""

    def __enter__(self) -> PartnerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ame_local.simulator", "--port", "0", "--faults", json.dumps(FAULTS)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        banner = self.process.stdout.readline()
        found = re.search(r"on (http://\S+)", banner)
        if found is None:
            self.process.kill()
            raise RuntimeError(f"partner simulator did not start: {banner!r}")
        self.url = found.group(1)
        return self

    def stack_env(self) -> dict[str, str]:
        return {name: self.url for name in PARTNER_URL_VARIABLES}

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def session_for(stack) -> requests.Session:
    session = requests.Session()
    session.headers.update(stack.auth("bench", (sc.AREA_CREDITO_PJ,)))
    return session


def post(session: requests.Session, api: str) -> float:
    start = time.perf_counter()
    response = session.post(f"{api}/v1/orders", json=BODY, timeout=10)
    elapsed = time.perf_counter() - start
    if response.status_code != 202:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
    return elapsed


def partner_call(partners_url: str, n: int) -> list[float]:
    """The same partner call the intake makes, straight from here: what 100 ms costs on this machine."""
    times = []
    with requests.Session() as session:
        session.get(f"{partners_url}/v1/areas/{sc.AREA_CREDITO_PJ}", timeout=5)
        for _ in range(n):
            start = time.perf_counter()
            session.get(f"{partners_url}/v1/areas/{sc.AREA_CREDITO_PJ}", timeout=5).raise_for_status()
            times.append(time.perf_counter() - start)
    return times


def latencies(stack, n: int) -> list[float]:
    with session_for(stack) as session:
        post(session, stack.api_url)  # connection and first-import warm-up
        return [post(session, stack.api_url) for _ in range(n)]


def throughput(stack, clients: int = 8, seconds: float = 5.0) -> float:
    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with session_for(stack) as session:
            while time.perf_counter() < stop_at:
                post(session, stack.api_url)
                done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, PartnerProcess() as partners:
        with running_stack(
            _mk(tmp, "cold"), {**ISOLATE, **partners.stack_env(), "AME_AREA_CACHE_TTL_SECONDS": "0"}
        ) as stack:
            direct = partner_call(partners.url, 40)
            cold = latencies(stack, 40)
        with running_stack(_mk(tmp, "warm"), {**ISOLATE, **partners.stack_env()}) as stack:
            warm = latencies(stack, 200)
            rate = throughput(stack)
    cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    direct_ms = statistics.median(direct) * 1000
    print(
        f"partner latency (Parametrizador, Domínios): {PARTNER_LATENCY_MS} ms each; one such call measured "
        f"from the client: median {direct_ms:.1f} ms"
    )
    print(
        f"POST /v1/orders cold cache: median {cold_ms:.1f} ms (p95 {_p95(cold) * 1000:.1f} ms) "
        f"= {cold_ms / PARTNER_LATENCY_MS:.2f} x the nominal 100 ms (goal <= 1.15), "
        f"{cold_ms / direct_ms:.2f} x one measured partner call"
    )
    print(f"POST /v1/orders warm cache: median {warm_ms:.1f} ms (p95 {_p95(warm) * 1000:.1f} ms) (goal <= 20 ms)")
    print(f"orders accepted per second, 8 concurrent clients, warm cache: {rate:.0f}")


def _mk(tmp: str, name: str) -> Path:
    path = Path(tmp) / name
    path.mkdir()
    return path


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


if __name__ == "__main__":
    main()
