"""Result delivery throughput: events delivered per second by one on_result_message instance, the product's
receiver answering in 50 ms, batches of 10 (deliveries overlap) against one event at a time. Goal: >= 8x.

The database is an SQLite file (the local stack's) unless --database mariadb: a throwaway database on the
MariaDB at --mariadb-url, closer to Aurora MySQL in AWS (round trips, commits, a pool of few connections)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SECRET = "whsec_" + base64.b64encode(b"bench-delivery-secret-32-bytes!!").decode()
SECRET_REF = "ame/webhooks/BENCH"
HOOK_PATH = "/hooks/bench"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:ame-envelope-result"
GOAL = 8.0


class StaticSecrets:
    def get(self, secret_ref: str) -> str:
        return SECRET


class NoQueue:
    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        raise AssertionError("NO_QUORUM events hand nothing on")


class ReceiverProcess:
    """ame_local.webhook_receiver in a child process; its port comes back on stdout."""

    CHILD = (
        "import sys, time, json\n"
        "from ame_local.webhook_receiver import WebhookReceiver\n"
        "r = WebhookReceiver({%r: %r}, delay_seconds=float(sys.argv[1])).start()\n"
        "print(r.port, flush=True)\n"
        "sys.stdin.readline()\n"
        "print(sum(1 for x in r.received() if x.verified and x.answered == 200), flush=True)\n"
    ) % (HOOK_PATH, SECRET)

    def __init__(self, delay_seconds: float):
        self.delay_seconds = delay_seconds

    def __enter__(self) -> ReceiverProcess:
        import subprocess

        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.CHILD, str(self.delay_seconds)],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        return self

    def verified_deliveries(self) -> int:
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def __exit__(self, *exc) -> None:
        self.process.kill()
        self.process.wait(5)


def make_orders(repository, count: int, url: str) -> list[str]:
    from chalicelib.domain.orders import OrderDraft, OrderParty, OrderRequest, PartyRole
    from chalicelib.services.ports import OutboxMessage

    request = OrderRequest.model_validate(
        {
            "area_code": "BENCH",
            "product_code": "CCB_GIRO",
            "platform": "BANKLINE",
            "signature_method": "DIGITAL",
            "amount": "250000.00",
            "requester": {"person_type": "PJ", "document": "11.222.333/0001-81"},
            "guarantors": [],
            "documents": [{"document_type": "CCB", "title": "Contrato"}],
            "external_reference": "bench",
        }
    )
    now = datetime.now(UTC)
    keys = []
    for _ in range(count):
        key = uuid.uuid4().hex[:26].upper()
        draft = OrderDraft(
            order_key=key,
            created_by="bench",
            request=request,
            created_at=now,
            area_snapshot={"name": "Bench", "webhook": {"url": url, "secret_ref": SECRET_REF}},
            parties=[
                OrderParty(
                    position=0,
                    role=PartyRole.REQUESTER,
                    person_type="PJ",
                    document="11222333000181",
                    power_code="ASSINAR_CCB",
                )
            ],
        )
        repository.create_order(
            draft,
            OutboxMessage(message_id=uuid.uuid4().hex, order_key=key, queue="creation", body="{}", created_at=now),
        )
        keys.append(key)
    return keys


@contextmanager
def database(kind: str, tmp: str, mariadb_url: str) -> Iterator[str]:
    """The URL of an empty database of that kind, gone afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp}/bench.sqlite3"
        return
    from tests.support import scratch_mariadb

    with scratch_mariadb(mariadb_url, "ame_bench") as url:
        yield url


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def record(order_key: str) -> dict:
    event = {
        "event_id": f"evt_{order_key}",
        "event_type": "ORDER_NO_QUORUM",
        "order_key": order_key,
        "area_code": "BENCH",
        "external_reference": "bench",
        "occurred_at": "2026-11-29T10:00:02Z",
        "status": "NO_QUORUM",
        "result": {"quorum_met": False, "parties": []},
    }
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "rh",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def rate(handler, context, keys: list[str], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(keys), batch_size):
        answer = handler({"Records": [record(k) for k in keys[start : start + batch_size]]}, context)
        if answer != {"batchItemFailures": []}:
            raise SystemExit(f"deliveries failed: {answer}")
    return len(keys) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=150, help="events per round, in batches of 10")
    parser.add_argument("--serial-events", type=int, default=30, help="events per round, one by one")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "mariadb"), default="sqlite")
    parser.add_argument(
        "--mariadb-url",
        default=os.environ.get("AME_TEST_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test"),
        help="an account that may create and drop databases",
    )
    args = parser.parse_args()
    load_before = load()

    from ame_local.aws import lambda_context
    from chalicelib.bootstrap import Container, set_container
    from chalicelib.settings import Settings
    from migrations.runner import upgrade

    # The product runs in its own process, as it would: its work must not share this process's GIL.
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.database, tmp, args.mariadb_url) as url,
        ReceiverProcess(args.latency_ms / 1000) as receiver,
    ):
        upgrade(url)
        settings = Settings.from_env(
            {
                "AME_DATABASE_URL": url,
                "AME_PARAMETRIZADOR_URL": "http://unused",
                "AME_DOMINIOS_URL": "http://unused",
                "AME_PODERES_URL": "http://unused",
                "AME_PESSOAS_URL": "http://unused",
                "AME_CADASTRO_URL": "http://unused",
                "AME_NOTIFICACAO_URL": "http://unused",
                "AME_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:unused",
                "AME_WEBHOOK_ALLOW_LOCAL": "1",
            }
        )  # the product stand-in listens on loopback, over http
        container = Container(settings)
        container.secrets = StaticSecrets()
        container.queue = NoQueue()
        set_container(container)
        import app

        handler = app.app.handler_map["on_result_message"]
        context = lambda_context("on_result_message")
        hook = receiver.base_url + HOOK_PATH
        rate(handler, context, make_orders(container.repository, 10, hook), 10)  # warm: pools, threads
        serial_rates, batch_rates = [], []
        for _ in range(args.rounds):  # medians of a few rounds: one slow batch should not decide
            serial_rates.append(rate(handler, context, make_orders(container.repository, args.serial_events, hook), 1))
            batch_rates.append(rate(handler, context, make_orders(container.repository, args.events, hook), 10))
        one_by_one, batched = statistics.median(serial_rates), statistics.median(batch_rates)
        set_container(None)
        container.engine.dispose()
        delivered = receiver.verified_deliveries()
        expected = 10 + args.rounds * (args.serial_events + args.events)
        if delivered != expected:
            raise SystemExit(f"receiver accepted {delivered} verified deliveries, expected {expected}")

    ratio = batched / one_by_one
    print(f"database:                   {args.database}")
    print(f"machine:                    {os.cpu_count()} CPUs, {load_before} before, {load()} after")
    print(f"receiver latency:           {args.latency_ms:.0f} ms")
    print(f"one by one:                 {one_by_one:7.1f} events/s (median of {args.rounds} x {args.serial_events})")
    print(f"batches of 10 (overlapped): {batched:7.1f} events/s (median of {args.rounds} x {args.events})")
    print(
        f"ratio:                      {ratio:7.1f}x (rounds: {' '.join(f'{b / s:.1f}' for s, b in zip(serial_rates, batch_rates))})"
    )
    print(f"goal batch >= {GOAL:.0f} x one by one: {'met' if ratio >= GOAL else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
