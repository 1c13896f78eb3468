"""Run `python -m ame_local run` as a real process on free ports, for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
READY = "AME local stack ready: "


SEED_AREAS = ("CREDITO_PJ", "CAMBIO_PF", "AREA_INATIVA", "AREA_INEXISTENTE")

# The callers of the benchmarks and of the fuzzer post faster than a product may: their own buckets are
# large. Every other caller (the e2e tests' "e2e", bench_abuse's) keeps the stack's default limit.
HARNESS_CALLERS = ("bench", "bench-portal", "fuzzer")
# And one caller with a tiny bucket, for the end-to-end test of the 429 (tests/e2e/test_local_stack.py).
THROTTLED_CALLER = "e2e-throttled"
HARNESS_CALLER_LIMITS = json.dumps(
    {
        **{c: {"rate_per_second": 10_000, "burst": 10_000} for c in HARNESS_CALLERS},
        THROTTLED_CALLER: {"rate_per_second": 0.01, "burst": 2},
    }
)


@dataclass
class RunningStack:
    api_url: str
    partners_url: str
    aws_endpoint_url: str
    process: subprocess.Popen
    issuer: Any = None
    output: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "".join(self.output)

    def auth(self, client: str = "e2e", areas: tuple[str, ...] = SEED_AREAS, scopes: Any = None) -> dict[str, str]:
        """An Authorization header the stack accepts (it signs with the same local issuer key)."""
        return {"Authorization": "Bearer " + self.issuer.mint(client, list(areas), scopes)}


@contextmanager
def running_stack(
    tmp_dir: Path, extra_env: dict[str, str] | None = None, timeout: float = 60.0
) -> Iterator[RunningStack]:
    """Start the local stack with its own SQLite file, issuer key and free ports; stop it with SIGTERM."""
    from ame_local.issuer import LocalIssuer

    key = tmp_dir / "issuer-key.pem"
    issuer = LocalIssuer.load_or_create(key)
    env = {
        **os.environ,
        "AME_PORT": "0",
        "AME_PARTNERS_PORT": "0",
        "AME_AWS_PORT": "0",
        "AME_DATABASE_URL": f"sqlite:///{tmp_dir / 'ame.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
        "AME_LOCAL_ISSUER_KEY": str(key),
        "AME_JWKS_URL": "",
        # The seeded webhooks go to a receiver on a free port: parallel stacks never share 9100.
        "AME_LOCAL_WEBHOOK_PORT": "0",
        "AME_CALLER_LIMITS": HARNESS_CALLER_LIMITS,
    }
    env.update(extra_env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "ame_local", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()
    urls: dict[str, str] = {}

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("AWS:"):
                urls["aws"] = line.split(":", 1)[1].strip().split()[0]
            if line.startswith("Partners:"):
                urls["partners"] = line.split(":", 1)[1].strip().split(",")[0].strip()
            if line.startswith(READY):
                urls["api"] = line[len(READY) :].strip()
                ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("local stack did not start:\n" + "".join(output[-80:]))
        yield RunningStack(
            api_url=urls["api"],
            partners_url=urls.get("partners", ""),
            aws_endpoint_url=urls.get("aws", ""),
            process=process,
            issuer=issuer,
            output=output,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        reader.join(5)
