"""The envelope-creation workflow, end to end inside one process: queue → Step Functions → verdict."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ame_local.simulator import scenarios as sc
from chalicelib.adapters.db.schema import outbox
from chalicelib.asl import (
    RETRY_SETTINGS,
    function_arn_placeholder,
    load_definition,
    placeholders,
    render_definition,
    retry_rules,
)
from chalicelib.bootstrap import container
from tests.support import wait_for
from tests.workflow.conftest import execution_arn, seed_company, valid_cpfs, wait_execution

ROOT = Path(__file__).resolve().parents[2]
ASL = (ROOT / "statemachine.asl.json").read_text()


def create(body) -> str:
    return container().intake.create("local", body).order.order_key


def terminal(order_key: str):
    return wait_for(
        lambda: (o := container().repository.get_order(order_key)) and o.status.terminal and o,
        what=f"terminal status of {order_key}",
    )


def result_events(order_key: str) -> list[dict]:
    with container().engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.body).where(outbox.c.order_key == order_key, outbox.c.queue == "result")
        ).all()
    return [json.loads(r.body) for r in rows]


PJ_REQUESTERS = [n for n, s in sc.SCENARIOS.items() if s["person_type"] == "PJ" and s["role"] == "REQUESTER"]
GUARANTORS = [n for n, s in sc.SCENARIOS.items() if s["person_type"] == "PF" or s["role"] == "GUARANTOR"]


@pytest.mark.parametrize("name", PJ_REQUESTERS)
def test_each_requester_scenario_reaches_its_verdict(stack, name):
    scenario = sc.SCENARIOS[name]
    key = create(sc.order_body(requester=name))
    order = terminal(key)
    assert order.status.value == scenario["expected_status"]
    party = order.result["parties"][0]
    assert party["reason"] == scenario["expected_reason"]
    assert party["eligible_signers"] == scenario["expected_signers"]
    execution = wait_execution(stack, execution_arn(key))
    if scenario["expected_status"] == "QUORUM_MET":
        assert execution["status"] == "SUCCEEDED"
    else:
        assert execution["status"] == "FAILED" and execution["error"] == "NoQuorum"
    [event] = result_events(key)
    assert event["status"] == order.status.value and event["result"] == order.result


@pytest.mark.parametrize("name", GUARANTORS)
def test_each_guarantor_scenario_decides_its_party(stack, name):
    scenario = sc.SCENARIOS[name]
    key = create(sc.order_body(requester="QUORUM_AB", guarantors=[name]))
    order = terminal(key)
    assert order.status.value == sc.expected_order_status("QUORUM_AB", [name])
    guarantor = order.result["parties"][1]
    assert guarantor["role"] == "GUARANTOR" and guarantor["reason"] == scenario["expected_reason"]


def test_participants_keep_restricted_people_with_their_contact_data(stack):
    key = create(sc.order_body(requester="QUORUM_AB"))
    terminal(key)
    details = container().repository.party_details(key)[0]
    restricted = [p for p in details["participants"] if p["restricted"]]
    assert restricted and all(p["name"] and not p["active"] for p in restricted)
    assert details["rules"] and details["evaluation"]["satisfied_rules"]


def test_partner_calls_are_batched_once_per_party(stack):
    stack.simulator.reset_counters()
    key = create(sc.order_body(requester="QUORUM_AB", guarantors=["PF_KNOWN"]))
    terminal(key)
    counts = stack.simulator.counters()
    # Parametrizador and Domínios are cached after the first order of the run; this checks the workflow.
    assert (counts["poderes"], counts["pessoas"], counts["cadastro"]) == (1, 2, 1)


def test_the_party_tasks_get_the_party_facts_from_the_map_item(stack):
    key = create(sc.order_body(requester="QUORUM_AB", guarantors=["PF_KNOWN"]))
    order = terminal(key)
    wait_execution(stack, execution_arn(key))
    history = stack.sfn.get_execution_history(executionArn=execution_arn(key), maxResults=1000)["events"]
    inputs: dict[str, list[dict]] = {}
    for event in history:
        if details := event.get("lambdaFunctionScheduledEventDetails"):
            inputs.setdefault(details["resource"].rsplit("-", 1)[-1], []).append(json.loads(details["input"]))
    requester = {
        "role": "REQUESTER",
        "person_type": "PJ",
        "document": order.requester.document,
        "power_code": order.requester.power_code,
        "amount": str(order.amount),
        "platform": order.platform,
        "operator_check": bool(order.area_snapshot["operator_check"]),
    }
    for task in ("fetch_powers", "check_operators", "decide_party"):
        assert [i["party"] for i in inputs[task]] == [requester]
    [person] = inputs["evaluate_person"]
    assert person["party"]["document"] == order.guarantors[0].document and person["party"]["person_type"] == "PF"
    assert "party" not in inputs["fetch_people"][0]  # it reads only the stored Poderes answer


def test_the_order_partner_call_counters_match_the_calls_the_partners_saw(stack):
    from chalicelib.adapters.db.schema import order_partner_calls as pc

    stack.simulator.reset_counters()
    key = create(sc.order_body(requester="QUORUM_AB", guarantors=["PF_KNOWN", "PF_EMAIL_ONLY"]))
    terminal(key)
    wait_execution(stack, execution_arn(key))
    seen = stack.simulator.counters()
    with container().engine.connect() as conn:
        rows = conn.execute(sa.select(pc.c.partner, pc.c.calls, pc.c.errors).where(pc.c.order_key == key)).all()
    counted = {r.partner: (r.calls, r.errors) for r in rows}
    # the workflow's partners, each call once: Poderes, Pessoas for the company and each PF guarantor, Cadastro
    assert (
        counted
        == {p: (seen[p], 0) for p in ("poderes", "pessoas", "cadastro")}
        == {
            "poderes": (1, 0),
            "pessoas": (3, 0),
            "cadastro": (1, 0),
        }
    )


def test_a_second_execution_for_a_finished_order_changes_nothing(stack):
    key = create(sc.order_body(requester="QUORUM_AB"))
    first = terminal(key)
    history = container().repository.history(key)
    second = stack.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=f"{key}-again", input=json.dumps({"order_key": key})
    )
    assert wait_execution(stack, second["executionArn"])["status"] == "SUCCEEDED"
    assert container().repository.history(key) == history
    assert container().repository.get_order(key).result == first.result
    assert len(result_events(key)) == 1


def test_two_concurrent_executions_give_one_verdict_and_one_event(stack):
    # Poderes slow enough that both executions are in flight together.
    stack.simulator.set_faults("poderes", latency_ms=300)
    try:
        key = create(sc.order_body(requester="QUORUM_AB"))
        other = stack.sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=f"{key}-dup", input=json.dumps({"order_key": key})
        )
        terminal(key)
        wait_execution(stack, other["executionArn"])
        wait_execution(stack, execution_arn(key))
    finally:
        stack.simulator.clear_faults()
    statuses = [h.status.value for h in container().repository.history(key)]
    assert statuses == ["RECEIVED", "PROCESSING", "QUORUM_MET"]
    assert len(result_events(key)) == 1


def test_transient_partner_errors_are_retried_and_the_verdict_is_unchanged(stack):
    stack.simulator.set_faults("pessoas", error_rate=0.5)
    stack.simulator.reseed(7)
    try:
        keys = [create(sc.order_body(requester="QUORUM_AB")) for _ in range(3)]
        orders = [terminal(k) for k in keys]
    finally:
        stack.simulator.clear_faults()
    # Retries hide transient faults unless they outlast every attempt: then FAILED, never a wrong verdict.
    assert {o.status.value for o in orders} <= {"QUORUM_MET", "FAILED"}
    assert any(o.status.value == "QUORUM_MET" for o in orders)


def test_partner_down_past_the_retries_parks_the_order_and_it_resumes_when_back(stack):
    stack.simulator.set_faults("poderes", down=True)
    try:
        key = create(sc.order_body(requester="QUORUM_AB"))
        parked = wait_for(
            lambda: (o := container().repository.get_order(key)) and o.parked and o, what="the order to be parked"
        )
    finally:
        stack.simulator.clear_faults()
    assert parked.status.value == "PROCESSING" and "aguardando parceiro" in parked.status_detail
    assert parked.next_attempt_at is not None and parked.redrive_count == 1
    order = terminal(key)
    assert order.status.value == "QUORUM_MET"
    details = [h.detail or "" for h in container().repository.history(key)]
    assert any("aguardando parceiro" in d for d in details)
    assert wait_execution(stack, execution_arn(key))["status"] == "SUCCEEDED"  # ended in Parked
    assert wait_execution(stack, execution_arn(key) + "-r1")["status"] == "SUCCEEDED"
    assert len(result_events(key)) == 1


def test_partner_down_past_the_redrive_budget_ends_failed_with_the_reason(stack):
    stack.simulator.set_faults("poderes", down=True)
    try:
        key = create(sc.order_body(requester="QUORUM_AB"))
        order = terminal(key)
    finally:
        stack.simulator.clear_faults()
    assert order.status.value == "FAILED" and "PartnerUnavailable" in order.status_detail
    assert "limite" in order.status_detail
    assert result_events(key)[0]["event_type"] == "ORDER_FAILED"


def test_a_lost_creation_message_is_sent_again_by_the_relay_then_taken_back_by_the_sweeper(stack):
    c = container()
    sent = []
    original = c.queue.send
    try:
        c.queue.send = lambda queue, body, delay_seconds=0: sent.append(body) or "lost"  # every send is lost
        key = c.intake.create("local", sc.order_body(requester="QUORUM_AB")).order.order_key
        assert c.repository.get_order(key).status.value == "RECEIVED"
        # Unconsumed, its outbox row is still pending: the relay sends it again once it is old enough.
        wait_for(
            lambda: c.outbox_relay.run_once() >= 1,
            timeout=15,
            interval=0.2,
            what="the relay to send the creation message again",
        )
        assert sum(key in body for body in sent) == 2
    finally:
        c.queue.send = original
    # The relay's send was lost too; the row is marked sent, so the sweeper takes the order back.
    wait_for(
        lambda: c.redrive.sweep()["released"] >= 1,
        timeout=15,
        interval=0.5,
        what="the sweeper to take the stranded order back",
    )
    order = terminal(key)
    assert order.status.value == "QUORUM_MET"


def test_company_with_2000_representatives_keeps_the_state_small(stack):
    cnpj, cpfs = "33000167000101", valid_cpfs(2000)
    seed_company(stack, cnpj, cpfs)
    stack.simulator.reset_counters()
    body = sc.order_body()
    body["requester"] = {"person_type": "PJ", "document": cnpj}
    key = create(body)
    order = terminal(key)
    assert order.status.value == "QUORUM_MET"
    assert len(order.result["parties"][0]["participants"]) == 2000
    counts = stack.simulator.counters()
    assert counts["pessoas"] == 20 and counts["cadastro"] == 20  # batches of 100
    history = stack.sfn.get_execution_history(executionArn=execution_arn(key), maxResults=1000)["events"]
    largest = max(len(json.dumps(e, default=str)) for e in history)
    assert largest < 8 * 1024, f"largest history event is {largest} bytes"


def _statelint(path: Path, *args: str) -> subprocess.CompletedProcess:
    statelint = Path(sys.executable).with_name("statelint")
    return subprocess.run([str(statelint), *args, str(path)], capture_output=True, text=True)


def test_the_committed_asl_is_json_and_passes_statelint_as_it_is():
    definition = json.loads(ASL)  # no unquoted placeholder: jq, editors and Workflow Studio open it
    assert placeholders(ASL) == {p for p in placeholders(ASL) if p.endswith("Arn")}
    rules = list(retry_rules(definition))
    assert len(rules) >= 10 and all(isinstance(r["IntervalSeconds"], int) for r in rules)
    run = _statelint(ROOT / "statemachine.asl.json", "--ignore=URI")
    assert run.returncode == 0 and not run.stdout.strip(), run.stdout + run.stderr


def test_the_asl_passes_statelint_once_rendered(tmp_path):
    from ame_local.config import LOCAL_ASL_SUBSTITUTIONS

    arns = {name: "arn:aws:lambda:us-east-1:123456789012:function:f" for name in placeholders(ASL)}
    rendered = render_definition(load_definition(ASL), arns, retry=LOCAL_ASL_SUBSTITUTIONS)
    path = tmp_path / "rendered.asl.json"
    path.write_text(json.dumps(rendered))
    run = _statelint(path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_local_stack_runs_the_committed_asl_with_its_own_retries_on_every_rule(stack):
    from ame_local.config import LOCAL_ASL_SUBSTITUTIONS

    machine = stack.sfn.describe_state_machine(stateMachineArn=stack.aws.state_machine_arn)
    running = json.loads(machine["definition"])
    expected = {field: kind(LOCAL_ASL_SUBSTITUTIONS[setting]) for setting, (field, kind) in RETRY_SETTINGS.items()}
    rules = list(retry_rules(running))
    assert len(rules) == len(list(retry_rules(load_definition(ASL))))
    assert all({k: r[k] for k in expected} == expected for r in rules)
    assert "${" not in machine["definition"]
    # Everything but the ARNs and the retry numbers is the committed document.
    committed = load_definition(ASL)
    for rule in retry_rules(committed):
        rule.update(expected)
    arns = _arns_in(running, committed)
    assert set(arns) == placeholders(ASL) and all(a.startswith("arn:aws:lambda:") for a in arns.values())
    assert json.dumps(running, sort_keys=True) == json.dumps(render_definition(committed, arns), sort_keys=True)


def _arns_in(running: dict, committed: dict) -> dict[str, str]:
    """The ARN each `${NameArn}` placeholder of the committed document became in the running one."""
    found: dict[str, str] = {}

    def walk(template, value):
        if isinstance(template, dict):
            for key in template:
                walk(template[key], value[key])
        elif isinstance(template, list):
            for t, v in zip(template, value):
                walk(t, v)
        elif isinstance(template, str) and (names := placeholders(template)):
            (name,) = names
            found[name] = value

    walk(committed, running)
    return found


def test_every_task_names_a_registered_function_and_every_task_function_is_used():
    import app

    task_functions = _lambda_names(app.app)
    used = {p for p in placeholders(ASL) if p.endswith("Arn")}
    assert used == {function_arn_placeholder(name) for name in task_functions}
    resources = set(re.findall(r'"Resource": "\$\{(\w+)\}"', ASL))
    assert resources == used


def _lambda_names(chalice_app) -> set[str]:
    return {fn.name for fn in chalice_app.pure_lambda_functions}
