"""Claim check against moto S3 + SQS: a result event too big for SQS is sent as a reference and every
consumer sees the event itself; a reference whose object is gone is dead-lettered with the reason."""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from typing import Any

import boto3
import pytest
from chalice import Chalice

from ame_local.aws import LocalAws
from ame_local.pollers import sqs_record
from chalicelib.adapters.aws import SqsMessageQueue, SqsRedelivery
from chalicelib.adapters.claim_check import SQS_MAX_MESSAGE_BYTES, S3ClaimChecks, claim_reference
from chalicelib.bootstrap import Container, set_container
from chalicelib.entrypoints.queue_consumers import process_batch, process_batch_together
from chalicelib.settings import Settings
from tests.support import SETTINGS_ENV

PREFIX = "claims-"
BUCKET = "ame-claims-integration"
ENV = {
    **SETTINGS_ENV,
    "AME_QUEUE_PREFIX": PREFIX,
    "AME_BUCKET": BUCKET,
}


def sqs():
    return boto3.client("sqs", region_name="us-east-1")


def s3():
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture(scope="module")
def aws():
    with LocalAws(
        Chalice(app_name="ame-claims"),
        queue_prefix=PREFIX,
        bucket=BUCKET,
        statemachine_text='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        speedups=True,
    ) as running:
        yield running


@pytest.fixture()
def app_container(aws):
    for logical in ("creation", "result"):  # each test starts from empty queues
        receive_all(aws, logical)
        receive_all(aws, logical, dlq=True)
    c = Container(Settings.from_env(ENV))
    set_container(c)
    yield c
    set_container(None)


class SqsEvent:
    """What Chalice hands an on_sqs_message handler: to_dict() and the Lambda context."""

    def __init__(self, records: list[dict[str, Any]]):
        self._records, self.context = records, None

    def to_dict(self) -> dict[str, Any]:
        return {"Records": self._records}


def result_event(participants: int) -> str:
    """A result event of contracts §3 whose one PJ party has `participants` representatives."""
    order_key = "ord_" + uuid.uuid4().hex[:20]
    people = [
        {
            "cpf": f"{i:011d}",
            "name": f"Representante número {i}",
            "groups": ["A" if i % 2 else "B"],
            "restricted": False,
            "active": True,
            "reasons": [],
        }
        for i in range(participants)
    ]
    return json.dumps(
        {
            "event_id": f"evt_{order_key}",
            "event_type": "ORDER_QUORUM_MET",
            "order_key": order_key,
            "area_code": "CREDITO_PJ",
            "external_reference": None,
            "occurred_at": "2026-11-29T10:00:02Z",
            "status": "QUORUM_MET",
            "result": {
                "quorum_met": True,
                "parties": [
                    {
                        "role": "REQUESTER",
                        "person_type": "PJ",
                        "document": "33000167000101",
                        "quorum_met": True,
                        "reason": None,
                        "participants": people,
                        "satisfied_rules": ["R1"],
                        "signer_sets": [],
                        "eligible_signers": [p["cpf"] for p in people],
                    }
                ],
            },
        },
        ensure_ascii=False,
    )


def receive_all(aws: LocalAws, logical: str, dlq: bool = False) -> list[dict[str, Any]]:
    url = aws.dlq_url(logical) if dlq else aws.queue_url(logical)
    messages: list[dict[str, Any]] = []
    while True:
        batch = (
            sqs()
            .receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            .get("Messages", [])
        )
        if not batch:
            return messages
        for message in batch:  # taken for good: nothing comes back after a visibility timeout
            sqs().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(batch)


def records_of(aws: LocalAws, logical: str) -> list[dict[str, Any]]:
    return [sqs_record(m, aws.queue_arns[logical]) for m in receive_all(aws, logical)]


def each(record_handler: Any) -> Any:
    """A batch handler (as on_result_message's) running `record_handler` on every resolved record."""

    def handle(records: list[dict[str, Any]]) -> list[Exception | None]:
        for record in records:
            record_handler(record)
        return [None] * len(records)

    return handle


def test_a_300_kb_result_event_goes_through_s3_and_reaches_the_handler_whole(aws, app_container):
    body = result_event(2000)
    assert len(body.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES  # ~300 KB
    queue = app_container.queue

    queue.send("result", body)

    [record] = records_of(aws, "result")
    assert len(record["body"]) < 400 and claim_reference(record["body"]) is not None
    seen: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        answer = process_batch_together(SqsEvent([record]), each(lambda r: seen.append(r["body"])), executor)
    assert answer == {"batchItemFailures": []}
    assert seen == [body]


def test_a_small_result_event_is_sent_inline_and_nothing_is_stored(aws, app_container):
    before = s3().list_objects_v2(Bucket=BUCKET, Prefix="claims/").get("KeyCount", 0)
    body = result_event(3)

    app_container.queue.send("result", body)

    [record] = records_of(aws, "result")
    assert record["body"] == body
    assert s3().list_objects_v2(Bucket=BUCKET, Prefix="claims/").get("KeyCount", 0) == before


def test_the_creation_consumer_resolves_claims_too(aws, app_container):
    # Creation messages are small today; the resolution is in the one place every consumer reads from.
    claims = S3ClaimChecks(s3, BUCKET, threshold_bytes=16)
    body = json.dumps({"order_key": "ord_" + uuid.uuid4().hex[:20], "attempt": 0})
    SqsMessageQueue(sqs, prefix=PREFIX, claims=claims).send("creation", body)

    [record] = records_of(aws, "creation")
    assert record["body"] != body
    seen: list[str] = []
    answer = process_batch(SqsEvent([record]), seen.append)
    assert answer == {"batchItemFailures": []} and seen == [body]


def test_a_reference_whose_object_is_gone_goes_to_the_dlq_with_the_reason_and_is_not_retried(aws, app_container):
    body = result_event(2000)
    app_container.queue.send("result", body)
    [record] = records_of(aws, "result")
    s3().delete_object(Bucket=BUCKET, Key=claim_reference(record["body"]).key)
    called: list[Any] = []

    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        answer = process_batch_together(SqsEvent([record]), each(called.append), executor)

    assert answer == {"batchItemFailures": []} and called == []
    [dead] = receive_all(aws, "result", dlq=True)
    assert dead["Body"] == record["body"]  # the reference, which can be replayed once the object is back
    reason = dead["MessageAttributes"]["ame-dead-letter-reason"]["StringValue"]
    assert "não encontrado" in reason and claim_reference(record["body"]).key in reason


def test_a_resolved_record_dead_lettered_by_its_handler_goes_to_the_dlq_as_its_reference(aws, app_container):
    app_container.queue.send("result", result_event(2000))
    [record] = records_of(aws, "result")
    redelivery = SqsRedelivery(sqs)

    def poisoned(resolved: dict[str, Any]) -> None:
        assert json.loads(resolved["body"])["event_type"] == "ORDER_QUORUM_MET"
        redelivery.dead_letter(resolved, "evento inválido")

    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        answer = process_batch_together(SqsEvent([record]), each(poisoned), executor)

    assert answer == {"batchItemFailures": []}
    [dead] = receive_all(aws, "result", dlq=True)
    assert dead["Body"] == record["body"]
