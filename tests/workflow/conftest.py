"""The real statemachine.asl.json in moto's interpreter, task handlers in-process, the simulator on loopback."""

from __future__ import annotations

from typing import Any

import pytest

from ame_local.config import ACCOUNT_ID, REGION, STATE_MACHINE_NAME, LocalConfig
from ame_local.stack import LocalStack
from tests.support import wait_for

# Try again later on a test's time scale: park for ~1 s, give up after 8 s of partner outage.
FAST_RESILIENCE = {
    "AME_REDRIVE_BASE_SECONDS": "1",
    "AME_REDRIVE_MAX_TOTAL_SECONDS": "8",
    "AME_REDRIVE_GRACE_SECONDS": "5",
    "AME_STUCK_AFTER_SECONDS": "2",
    "AME_OUTBOX_RELAY_MIN_AGE_SECONDS": "1",
    # Every execution asks Pessoas (the cache then only covers outages), so call counts are exact.
    "AME_PEOPLE_CACHE_FRESH_SECONDS": "0",
}


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    db = tmp_path_factory.mktemp("workflow") / "ame.sqlite3"
    config = LocalConfig(
        port=0, partners_port=0, database_url=f"sqlite:///{db}", serve_http=False, schedule_interval_seconds=3600.0
    )
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAST_RESILIENCE.items():
            env.setenv(name, value)
        with LocalStack(config) as running:
            yield running


def execution_arn(order_key: str) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:execution:{STATE_MACHINE_NAME}:{order_key}"


def wait_execution(stack, arn: str, timeout: float = 30.0) -> dict[str, Any]:
    def finished():
        try:
            described = stack.sfn.describe_execution(executionArn=arn)
        except stack.sfn.exceptions.ExecutionDoesNotExist:
            return None
        return described if described["status"] != "RUNNING" else None

    return wait_for(finished, timeout, what=f"execution {arn}")


def seed_company(stack, cnpj: str, cpfs: list[str]) -> None:
    """A company whose representatives alternate groups A and B, all known and active: quorum by A+B."""
    seed = stack.simulator.seed
    seed.powers[(cnpj, "ASSINAR_CCB")] = {
        "cnpj": cnpj,
        "power_code": "ASSINAR_CCB",
        "representatives": [
            {
                "cpf": c,
                "groups": ["A" if i % 2 else "B"],
                "valid_from": "2020-01-01",
                "valid_until": None,
                "restrictions": [],
            }
            for i, c in enumerate(cpfs)
        ],
        "rules": [
            {
                "rule_id": "R1",
                "description": "A+B",
                "max_amount": None,
                "requirements": [{"group": "A", "min_signers": 1}, {"group": "B", "min_signers": 1}],
            }
        ],
    }
    for c in cpfs:
        seed.people[c] = {"cpf": c, "name": f"Pessoa {c}", "email": None, "phone": None}
    seed.operators[(cnpj, "BANKLINE")] = {c: {"cpf": c, "operator_active": True, "account_access": True} for c in cpfs}


def valid_cpfs(n: int) -> list[str]:
    """n distinct CPFs with valid check digits."""
    from stdnum.br import cpf

    out, base = [], 100_000_000
    while len(out) < n:
        body = str(base)
        candidate = next(body + f"{d:02d}" for d in range(100) if cpf.is_valid(body + f"{d:02d}"))
        out.append(candidate)
        base += 7
    return out
