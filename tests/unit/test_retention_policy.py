"""The retention rules, pure: periods and their variables, who may be touched, archive names and bytes, batches."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.retention import (
    RetentionPolicy,
    Rule,
    archive_key,
    chunk_by_rows,
    decode_archive,
    encode_archive,
    order_may_be_touched,
    record_rows,
)
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV

NOW = datetime(2026, 12, 1, tzinfo=UTC)
REQUIRED = SETTINGS_ENV


def test_defaults_are_the_documented_periods():
    policy = RetentionPolicy()
    assert [policy.days(r) for r in Rule] == [7, 7, 30, 30, 90, 1826]
    assert policy.cutoff(Rule.ORDERS, NOW) == NOW - timedelta(days=1826)


def test_every_period_and_the_batch_are_set_by_environment_variables():
    settings = Settings.from_env(
        {
            **REQUIRED,
            "AME_RETENTION_ORDERS_DAYS": "3650",
            "AME_RETENTION_DELIVERIES_DAYS": "30",
            "AME_RETENTION_BATCH_ROWS": "250",
        }
    )
    assert settings.retention.orders_days == 3650 and settings.retention.deliveries_days == 30
    assert settings.retention_batch_rows == 250
    with pytest.raises(Exception, match="AME_RETENTION_BATCH_ROWS"):
        Settings.from_env({**REQUIRED, "AME_RETENTION_BATCH_ROWS": "5000"})


@pytest.mark.parametrize(
    "status, updated_days_ago, exported, touched",
    [
        ("QUORUM_MET", 40, True, True),
        ("NO_QUORUM", 40, True, True),
        ("FAILED", 40, True, True),
        ("PROCESSING", 400, True, False),  # in flight, however old
        ("RECEIVED", 400, True, False),
        ("QUORUM_MET", 10, True, False),  # inside the period
        ("QUORUM_MET", 40, False, False),  # the analytics export has not taken its last change
    ],
)
def test_only_terminal_exported_orders_past_the_period_are_touched(status, updated_days_ago, exported, touched):
    updated = NOW - timedelta(days=updated_days_ago)
    watermark = updated if exported else updated - timedelta(seconds=1)
    assert order_may_be_touched(status, updated, NOW - timedelta(days=30), watermark) is touched
    assert order_may_be_touched(status, updated, NOW - timedelta(days=30), None) is False


def test_the_archive_name_is_deterministic_and_its_bytes_too():
    records = [{"order": {"order_key": k}, "history": [{"id": 1}], "parties": []} for k in ("B2", "A1")]
    assert archive_key(date(2021, 3, 1), "A1", "B2") == "orders/dt=2021-03-01/part-A1-B2.jsonl.gz"
    data = encode_archive(records)
    assert data == encode_archive(list(reversed(records)))
    assert [r["order"]["order_key"] for r in decode_archive(data)] == ["A1", "B2"]
    assert record_rows(records[0]) == 2


def test_batches_never_pass_the_row_limit_and_never_split_an_order():
    groups = chunk_by_rows([("a", 400), ("b", 500), ("c", 200), ("d", 1200), ("e", 1)], 1000)
    assert groups == [["a", "b"], ["c"], ["d"], ["e"]]


def test_a_run_emits_rows_per_table_and_the_backlog_as_emf(monkeypatch, capsys):
    import json

    from chalicelib import observability as obs
    from chalicelib.services.retention import RunResult

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ame-dev-PurgeData")
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "false")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    result = RunResult(
        ran=True,
        purged={"orders": 5, "party_artifacts": 7},
        anonymised={"order_participants": 3},
        backlog={"orders": 2, "outbox": 1},
    )

    assert obs.record_retention(result)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    seen = {
        (m["Name"], line.get("table")): line[m["Name"]]
        for line in lines
        for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert seen[(obs.METRIC_RETENTION_PURGED, "party_artifacts")] == [7.0]
    assert seen[(obs.METRIC_RETENTION_ANONYMISED, "order_participants")] == [3.0]
    assert seen[(obs.METRIC_RETENTION_BACKLOG, "orders")] == [2.0]
    assert seen[(obs.METRIC_RETENTION_BACKLOG_TOTAL, None)] == [3.0]
    assert not obs.record_retention(RunResult(ran=False))  # a run that found the lease taken says nothing
