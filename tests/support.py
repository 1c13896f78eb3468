"""Helpers the suites (and benches) share: waiting on a condition, a simulator seed whose area calls our
receiver, a throwaway MariaDB database, and (from tests/lambda_events.py, standard library only) the events
and context Lambda hands AME's functions."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ame_local.config import REPO_ROOT
from tests.lambda_events import LambdaContext, api_event, order_key_message, schedule_event, sqs_event, sqs_record

__all__ = [
    "SETTINGS_ENV",
    "LambdaContext",
    "api_event",
    "order_key_message",
    "schedule_event",
    "scratch_mariadb",
    "seed_with_webhook",
    "sqs_event",
    "sqs_record",
    "wait_for",
]

# What every function's settings need (chalicelib/settings.py), pointing nowhere: a test adds what it exercises.
SETTINGS_ENV = {
    "AME_DATABASE_URL": "sqlite://",
    "AME_PARAMETRIZADOR_URL": "http://p",
    "AME_DOMINIOS_URL": "http://d",
    "AME_PODERES_URL": "http://po",
    "AME_PESSOAS_URL": "http://pe",
    "AME_CADASTRO_URL": "http://c",
    "AME_NOTIFICACAO_URL": "http://n",
    "AME_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:1:stateMachine:x",
}


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "condition"
) -> Any:
    """Poll until predicate() is truthy and return its value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def seed_with_webhook(seed_dir: Path, area_code: str, url: str, secret_ref: str) -> Path:
    """A copy of the simulator's seed in `seed_dir` where `area_code`'s webhook is `url` (our receiver)."""
    seed_dir.mkdir(parents=True, exist_ok=True)
    for path in (REPO_ROOT / "ame_local" / "simulator" / "seed").glob("*.json"):
        shutil.copy(path, seed_dir / path.name)
    areas = json.loads((seed_dir / "areas.json").read_text(encoding="utf-8"))
    for area in areas:
        if area["area_code"] == area_code:
            area["webhook"] = {"url": url, "secret_ref": secret_ref}
    (seed_dir / "areas.json").write_text(json.dumps(areas), encoding="utf-8")
    return seed_dir


@contextmanager
def scratch_mariadb(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty utf8mb4 database on the server of `admin_url`, dropped afterwards."""
    import sqlalchemy as sa

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        try:
            yield f"{admin_url.rsplit('/', 1)[0]}/{name}?charset=utf8mb4"
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        admin.dispose()
