"""The what-if audit's contract suite, on the in-memory fake, an SQLite file and the real MariaDB: what is
recorded reads back exactly, newest first, filtered by area, caller, company and time."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from chalicelib.adapters.db.simulations import SqlSimulationJournal
from chalicelib.services.ports import SimulationRecord
from tests.fakes import InMemorySimulationJournal
from tests.integration.conftest import clear
from tests.integration.test_repository import public_methods

BRT = timezone(timedelta(hours=-3))
T0 = datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=BRT)  # 10:00:00.123456Z

ENTRY = SimulationRecord(
    simulated_at=T0,
    client_id="portal-bff",
    subject="svc-portal-bff",
    area_code="CREDITO_PJ",
    company="12ABC34501DE35",
    role="REQUESTER",
    power_code="ASSINAR_CCB",
    amount=Decimal("250000.5"),
    evaluated_on=date(2026, 12, 3),
    platform="BANKLINE",
    operator_check=True,
    unavailable_count=2,
    quorum_met=False,
    reason="NO_RULE_SATISFIED",
    personal_data=False,
    request_id="req-1",
)


@pytest.fixture()
def journal(backend) -> SqlSimulationJournal | InMemorySimulationJournal:
    if backend is None:
        return InMemorySimulationJournal()
    clear(backend)
    return SqlSimulationJournal(backend)


def test_the_fake_has_the_real_journals_methods_with_the_same_signatures():
    real, fake = public_methods(SqlSimulationJournal), public_methods(InMemorySimulationJournal)

    assert {name: str(sig) for name, sig in fake.items()} == {name: str(sig) for name, sig in real.items()}


def test_a_record_reads_back_exactly_in_utc_with_its_amount_in_cents(journal):
    journal.record(ENTRY)

    [back] = journal.recent()

    assert back == replace(ENTRY, simulated_at=T0.astimezone(UTC), amount=Decimal("250000.50"))
    assert back.simulated_at.tzinfo is not None and back.simulated_at.microsecond == 123456


def test_optional_fields_read_back_as_none(journal):
    journal.record(replace(ENTRY, subject=None, platform=None, reason=None, request_id=None, quorum_met=True))

    [back] = journal.recent()

    assert (back.subject, back.platform, back.reason, back.request_id, back.quorum_met) == (
        None,
        None,
        None,
        None,
        True,
    )


def test_newest_first_and_filters_by_area_caller_company_and_time(journal):
    entries = [
        replace(ENTRY, simulated_at=T0 + timedelta(minutes=1), request_id="r1"),
        replace(ENTRY, simulated_at=T0 + timedelta(minutes=2), area_code="CONSIGNADO", request_id="r2"),
        replace(ENTRY, simulated_at=T0 + timedelta(minutes=3), client_id="produto-ccb", request_id="r3"),
        replace(ENTRY, simulated_at=T0 + timedelta(minutes=4), company="11222333000181", request_id="r4"),
    ]
    for entry in entries:
        journal.record(entry)

    def ids(**filters):
        return [e.request_id for e in journal.recent(**filters)]

    assert ids() == ["r4", "r3", "r2", "r1"]
    assert ids(area_code="CONSIGNADO") == ["r2"]
    assert ids(client_id="produto-ccb") == ["r3"]
    assert ids(company="11222333000181") == ["r4"]
    assert ids(since=T0 + timedelta(minutes=3)) == ["r4", "r3"]  # inclusive
    assert ids(area_code="CREDITO_PJ", client_id="portal-bff") == ["r4", "r1"]
    assert ids(limit=2) == ["r4", "r3"]


def test_simulations_at_the_same_instant_are_all_kept_in_the_order_written(journal):
    for i in range(3):
        journal.record(replace(ENTRY, request_id=f"same-{i}"))

    assert [e.request_id for e in journal.recent()] == ["same-2", "same-1", "same-0"]


def test_a_naive_time_is_refused(journal):
    with pytest.raises(ValueError):
        journal.record(replace(ENTRY, simulated_at=datetime(2026, 12, 3, 10, 0)))
    assert journal.recent() == []


# -- bin/ame simulations list ----------------------------------------------------------------------------


@pytest.fixture()
def audited_database(tmp_path, monkeypatch) -> str:
    from chalicelib.adapters.db.engine import create_engine_for
    from migrations.runner import upgrade

    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    journal = SqlSimulationJournal(engine)
    now = datetime.now(UTC)
    journal.record(replace(ENTRY, simulated_at=now - timedelta(days=3), request_id="old"))
    journal.record(replace(ENTRY, simulated_at=now - timedelta(hours=2), area_code="CONSIGNADO", request_id="other"))
    journal.record(
        replace(ENTRY, simulated_at=now - timedelta(hours=1), client_id="portal:ana.credito", request_id="ana")
    )
    engine.dispose()
    monkeypatch.setenv("AME_DATABASE_URL", url)
    return url


def run_cli(*args: str) -> tuple[int, str]:
    import io

    from ame_ops.__main__ import main

    out = io.StringIO()
    return main(["simulations", "list", *args], out), out.getvalue()


def test_bin_ame_simulations_list_filters_by_area_client_company_and_since(audited_database):
    def request_ids(*args: str) -> list[str]:
        code, text = run_cli(*args, "--json")
        assert code == 0
        return [s["request_id"] for s in json.loads(text)["simulations"]]

    assert request_ids() == ["ana", "other", "old"]
    assert request_ids("--area", "CONSIGNADO") == ["other"]
    assert request_ids("--client", "portal:ana.credito") == ["ana"]
    assert request_ids("--since", "1d") == ["ana", "other"]
    assert request_ids("--area", "CREDITO_PJ", "--since", "2020-01-01") == ["ana", "old"]
    assert request_ids("--company", "12.ABC.345/01DE-35", "--limit", "1") == ["ana"]
    assert request_ids("--company", "11.222.333/0001-81") == []


def test_bin_ame_simulations_list_prints_a_table_by_default(audited_database):
    code, text = run_cli("--area", "CONSIGNADO")
    lines = text.splitlines()
    assert code == 0 and lines[0].split()[:5] == ["simulated_at", "client_id", "subject", "area_code", "company"]
    assert "CONSIGNADO" in lines[1] and "12ABC34501DE35" in lines[1] and lines[-1] == "(1 simulations)"


@pytest.mark.parametrize("args", [["--since", "yesterday"], ["--limit", "0"], ["--company", "123"]])
def test_bin_ame_simulations_list_refuses_bad_arguments(audited_database, args):
    assert run_cli(*args)[0] == 2
