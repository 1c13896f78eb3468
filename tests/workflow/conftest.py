"""The real statemachine.asl.json in moto's interpreter, task handlers in-process, the simulator on loopback."""
from __future__ import annotations

import os
import time
from typing import Any

import pytest

from ame_local.config import LocalConfig, REGION, ACCOUNT_ID, STATE_MACHINE_NAME
from ame_local.stack import LocalStack


# Try again later on a test's time scale: park for ~1 s, give up after 8 s of partner outage.
FAST_RESILIENCE = {
    "AME_REDRIVE_BASE_SECONDS": "1",
    "AME_REDRIVE_MAX_TOTAL_SECONDS": "8",
    "AME_REDRIVE_GRACE_SECONDS": "5",
    "AME_STUCK_AFTER_SECONDS": "2",
    # Every execution asks Pessoas (the cache then only covers outages), so call counts are exact.
    "AME_PEOPLE_CACHE_FRESH_SECONDS": "0",
}


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in FAST_RESILIENCE}
    os.environ.update(FAST_RESILIENCE)
    db = tmp_path_factory.mktemp("workflow") / "ame.sqlite3"
    config = LocalConfig(port=0, partners_port=0, database_url=f"sqlite:///{db}", serve_http=False,
                         schedule_interval_seconds=3600.0)
    try:
        with LocalStack(config) as running:
            yield running
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execution_arn(order_key: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{STATE_MACHINE_NAME}:{order_key}"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll until predicate() is truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_execution(stack, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished():
        try:
            described = stack.sfn.describe_execution(executionArn=arn)
        except stack.sfn.exceptions.ExecutionDoesNotExist:
            return None
        return described if described["status"] != "RUNNING" else None

    return wait_for(finished, timeout, what=f"execution {arn}")
