"""A company with 2,000 representatives, end to end: the state machine carries keys only, and the ~300 KB
result event travels through the result queue as a claim check and still reaches the result handler."""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from stdnum.br import cnpj as cnpj_rules

from ame_local.simulator import scenarios as sc
from chalicelib.adapters.claim_check import SQS_MAX_MESSAGE_BYTES, claim_key, claim_reference
from chalicelib.adapters.db.schema import outbox
from chalicelib.bootstrap import container
from tests.support import wait_for
from tests.workflow.conftest import execution_arn, seed_company, valid_cpfs, wait_execution

REPRESENTATIVES = 2000
# What Step Functions allows per state input/output is 256 KiB; the workflow stays far below it.
STATE_PAYLOAD_BUDGET = 8 * 1024


def result_body(order_key: str) -> str:
    with container().engine.connect() as conn:
        [row] = conn.execute(
            sa.select(outbox.c.body).where(outbox.c.order_key == order_key, outbox.c.queue == "result")
        ).all()
    return row.body


def envelope_ready_message(stack, message_id: str) -> dict:
    sqs, url = stack.sqs, stack.queue_url("envelope_ready")
    found: dict = {}

    def poll() -> bool:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=30)
        for message in answer.get("Messages", []):
            if message["MessageId"] == message_id:
                found.update(message)
            else:  # someone else's: let it go at once
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        return bool(found)

    wait_for(poll, 30.0, what=f"envelope-ready message {message_id}")
    return found


def test_the_2000_representatives_result_event_reaches_the_result_handler_through_a_claim_check(stack):
    cnpj = "330001670003" + cnpj_rules.calc_check_digits("330001670003")
    seed_company(stack, cnpj, valid_cpfs(REPRESENTATIVES))
    body = sc.order_body()
    body["requester"] = {"person_type": "PJ", "document": cnpj}
    key = container().intake.create("local", body).order.order_key

    # The workflow: keys in, keys out; the partners' answers live in the database, not in the state.
    execution = wait_execution(stack, execution_arn(key), timeout=60.0)
    assert execution["status"] == "SUCCEEDED"
    history = stack.sfn.get_execution_history(executionArn=execution_arn(key), maxResults=1000)["events"]
    largest = max(len(json.dumps(e, default=str)) for e in history)
    assert largest < STATE_PAYLOAD_BUDGET, f"largest history event is {largest} bytes"

    # The event itself is over SQS's classic limit, so it was checked in to S3 under its digest...
    event = result_body(key)
    raw = event.encode("utf-8")
    assert len(raw) > SQS_MAX_MESSAGE_BYTES
    digest = hashlib.sha256(raw).hexdigest()
    stored = stack.s3.get_object(Bucket=stack.config.bucket, Key=claim_key("result", digest))
    assert stored["Body"].read() == raw

    # ...and the result handler got the whole event: it handed the order on to the envelope-ready queue.
    def delivered():
        rows = {r["channel"]: r for r in container().deliveries.for_order(key)}
        ready = rows.get("ENVELOPE_READY")
        return ready if ready and ready["status"] == "DELIVERED" else None

    ready = wait_for(delivered, 60.0, what=f"envelope-ready delivery of {key}")
    handed_on = envelope_ready_message(stack, ready["message_id"])
    reference = claim_reference(handed_on["Body"])
    assert reference is not None  # the next service gets the same claim check (docs/resilience.md)
    message = json.loads(container().claim_checks.check_out(handed_on["Body"]))
    assert message["order_key"] == key and message["ready_id"] == f"rdy_{key}"
    assert len(message["result"]["parties"][0]["participants"]) == REPRESENTATIVES
    print(
        f"\n{REPRESENTATIVES} representatives: largest state machine history event {largest} bytes, "
        f"result event {len(raw)} bytes on S3, {len(handed_on['Body'])} bytes on the queue"
    )
