"""`bin/ame retention plan|run`, `archive show` and `privacy report` on an SQLite database and a local archive."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest

from ame_local.analytics_seed import make_cpf, seed_orders
from ame_ops.__main__ import main
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.db.schema import analytics_watermarks
from migrations.runner import upgrade


@pytest.fixture()
def local(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    # Old orders all with verdicts (archived), recent ones past the 30-day rules.
    seed_orders(engine, 20, date(2020, 1, 6), 1, seed=1, prefix="OLDC", in_flight=False)
    seed_orders(engine, 20, (now - timedelta(days=45)).date(), 1, seed=2, prefix="RCNC", in_flight=False)
    with engine.begin() as conn:
        conn.execute(analytics_watermarks.insert().values(name="export_analytics", high_water=now, updated_at=now))
    engine.dispose()
    monkeypatch.setenv("AME_DATABASE_URL", url)
    monkeypatch.setenv("AME_ARCHIVE_LOCAL_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("AME_RETENTION_PAUSE_SECONDS", "0")
    monkeypatch.delenv("AME_ARCHIVE_BUCKET", raising=False)
    return tmp_path


def _ame(*argv: str) -> tuple[int, object]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def test_plan_run_show_and_report(local):
    code, plan = _ame("retention", "plan")
    assert code == 0 and plan["orders"]["eligible"] == 20 and plan["orders"]["oldest"].startswith("2020-01-06")
    assert plan["order_participants"]["eligible"] > 0

    code, result = _ame("retention", "run")
    assert code == 0 and result["archived_orders"] == 20 and result["backlog"]["orders"] == 0
    assert _ame("retention", "plan")[1]["orders"]["eligible"] == 0

    code, shown = _ame("archive", "show", "OLDC000000000003")
    assert code == 0 and shown["order"]["order_key"] == "OLDC000000000003"
    assert shown["object_key"].startswith("orders/dt=2020-01-06/") and shown["history"]
    assert main(["archive", "show", "NOPE"], out=io.StringIO()) == 1

    guarantor = make_cpf(500000 + 3 * 3)  # the seed's first guarantor of order 3, if it has one
    participant = make_cpf(900000 + 5 * 7)  # the first participant of order 5's requester
    for cpf in (guarantor, participant):
        code, report = _ame("privacy", "report", "--cpf", cpf)
        assert code == 0 and report["cpf"] == "***.***.***-" + cpf[-2:]
        assert cpf not in json.dumps(report)  # the document is masked everywhere in the output
    archived = [r for r in report["archived"] if r["order_key"] == "OLDC000000000005"]
    assert archived and "participant" in archived[0]["roles"]
    recent = [r for r in report["held"]["as_participant"] if r["order_key"] == "RCNC000000000005"]
    assert recent and recent[0]["contact"] == "anonimizado"
    assert main(["privacy", "report", "--cpf", "123"], out=io.StringIO()) == 2
