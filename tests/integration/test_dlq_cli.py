"""`bin/ame dlq`: list, show and replay dead-lettered messages, safely and idempotently."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from moto import mock_aws

from ame_ops.__main__ import main
from chalicelib.queues import QUEUES


@pytest.fixture()
def sqs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AME_AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AME_QUEUE_PREFIX", raising=False)
    with mock_aws():
        client = boto3.client("sqs", region_name="us-east-1")
        for spec in QUEUES.values():
            client.create_queue(QueueName=spec.name)
            client.create_queue(QueueName=spec.dlq_name)
        yield client


def url(sqs, name):
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def run(*argv) -> dict:
    out = io.StringIO()
    assert main(list(argv), out=out) == 0
    return json.loads(out.getvalue())


def drain(sqs, queue_url) -> list[dict]:
    got = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        if not answer.get("Messages"):
            return got
        for m in answer["Messages"]:
            got.append(m)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_list_shows_what_the_dlq_holds_without_taking_it(sqs):
    dlq = url(sqs, QUEUES["creation"].dlq_name)
    for key in ("A1", "B2", "C3"):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"order_key": key}))
    listed = run("dlq", "list", "--queue", "creation")
    assert listed["depth"] == 3
    assert sorted(m["order_key"] for m in listed["messages"]) == ["A1", "B2", "C3"]
    assert run("dlq", "list", "--queue", "creation")["depth"] == 3  # still there


def test_show_prints_one_message_in_full(sqs):
    dlq = url(sqs, QUEUES["result"].dlq_name)
    sent = sqs.send_message(QueueUrl=dlq, MessageBody='{"event_id": "evt_X", "order_key": "X"}')
    shown = run("dlq", "show", "--queue", "result", sent["MessageId"])
    assert json.loads(shown["body"]) == {"event_id": "evt_X", "order_key": "X"}


def test_replay_moves_the_chosen_message_back_once(sqs):
    dlq, source = url(sqs, QUEUES["creation"].dlq_name), url(sqs, QUEUES["creation"].name)
    keep = sqs.send_message(QueueUrl=dlq, MessageBody='{"order_key": "KEEP"}')["MessageId"]
    move = sqs.send_message(QueueUrl=dlq, MessageBody='{"order_key": "MOVE"}')["MessageId"]
    assert run("dlq", "replay", "--queue", "creation", "--id", move)["replayed"] == [move]
    assert run("dlq", "replay", "--queue", "creation", "--id", move)["replayed"] == []  # nothing twice
    moved = drain(sqs, source)
    assert [json.loads(m["Body"])["order_key"] for m in moved] == ["MOVE"]
    assert moved[0]["MessageAttributes"]["ame-replayed-from"]["StringValue"] == move
    assert [m["message_id"] for m in run("dlq", "list", "--queue", "creation")["messages"]] == [keep]


def test_replay_all_empties_the_dlq(sqs):
    dlq, source = url(sqs, QUEUES["result"].dlq_name), url(sqs, QUEUES["result"].name)
    for i in range(12):
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"order_key": f"K{i}"}))
    assert len(run("dlq", "replay", "--queue", "result", "--all")["replayed"]) == 12
    assert run("dlq", "list", "--queue", "result")["depth"] == 0
    assert len(drain(sqs, source)) == 12
