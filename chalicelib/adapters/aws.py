"""AWS adapters: SQS message queue and redelivery, Step Functions workflow starter, Secrets Manager secrets."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.queues import queue_name

logger = logging.getLogger(__name__)

ClientFactory = Callable[[], Any]


class _LazyClient:
    """Builds the boto3 client on first use and reuses it across warm invocations."""

    def __init__(self, factory: ClientFactory):
        self._factory = factory
        self._client: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client


class _QueueUrls:
    """Queue name (and owner account) -> its URL, asked of SQS once per queue and then cached."""

    def __init__(self, client: _LazyClient):
        self._client = client
        self._urls: dict[tuple[str, str | None], str] = {}
        self._lock = threading.Lock()

    def get(self, name: str, account: str | None = None) -> str:
        url = self._urls.get((name, account))
        if url is None:
            kwargs = {"QueueName": name} if account is None else {"QueueName": name, "QueueOwnerAWSAccountId": account}
            url = self._client.get().get_queue_url(**kwargs)["QueueUrl"]
            with self._lock:
                self._urls[(name, account)] = url
        return url


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class SqsMessageQueue:
    """The MessageQueue port over SQS: logical queue names resolved to URLs once, then cached."""

    def __init__(self, sqs_client_factory: ClientFactory, prefix: str = "", claims: Any = None):
        self._client = _LazyClient(sqs_client_factory)
        self._prefix = prefix
        # chalicelib.adapters.claim_check.S3ClaimChecks: bodies over its threshold travel as S3 references.
        self._claims = claims
        self._urls = _QueueUrls(self._client)

    def queue_url(self, queue: str) -> str:
        return self._urls.get(queue_name(queue, self._prefix))  # KeyError for a queue AME does not define

    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        if self._claims is not None:
            body = self._claims.check_in(queue, body)
        kwargs: dict[str, Any] = {"QueueUrl": self.queue_url(queue), "MessageBody": body}
        if delay_seconds:
            kwargs["DelaySeconds"] = int(delay_seconds)
        return self._client.get().send_message(**kwargs)["MessageId"]


# Where a consumer keeps the body a record carried on the wire (a claim check reference) once it has
# replaced it by the body kept in S3: a record dead-lettered after resolution goes to the DLQ as that
# small reference, which replays as it came.
WIRE_BODY = "ameWireBody"


class SqsRedelivery:
    """What Lambda's event source mapping cannot do for a record: come back after a chosen delay
    (ChangeMessageVisibility) or go to the dead-letter queue at once. Queue URLs come from the record's
    eventSourceARN; the DLQ is the queue's name + "-dlq" (chalicelib/queues.py)."""

    MAX_VISIBILITY_SECONDS = 43200

    def __init__(self, sqs_client_factory: ClientFactory):
        self._client = _LazyClient(sqs_client_factory)
        self._urls = _QueueUrls(self._client)

    def _url(self, queue_arn: str, suffix: str = "") -> str:
        parts = queue_arn.split(":")
        return self._urls.get(parts[5] + suffix, account=parts[4])

    def defer(self, record: dict[str, Any], seconds: int) -> None:
        seconds = max(0, min(int(seconds), self.MAX_VISIBILITY_SECONDS))
        try:
            self._client.get().change_message_visibility(
                QueueUrl=self._url(record["eventSourceARN"]),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=seconds,
            )
        except Exception as exc:
            # The record still comes back, after the queue's own visibility timeout instead.
            logger.warning("could not delay the retry of %s: %s", record["messageId"], type(exc).__name__)

    def dead_letter(self, record: dict[str, Any], reason: str) -> None:
        """Raises when the DLQ cannot take it, so the record is reported failed and not lost."""
        self._client.get().send_message(
            QueueUrl=self._url(record["eventSourceARN"], "-dlq"),
            MessageBody=record.get(WIRE_BODY, record["body"]),
            MessageAttributes={
                "ame-dead-letter-reason": {"DataType": "String", "StringValue": reason[:1000]},
                "ame-source-message-id": {"DataType": "String", "StringValue": record["messageId"]},
            },
        )


class StepFunctionsStarter:
    """The WorkflowStarter port: one execution per order, named after the order key."""

    def __init__(self, sfn_client_factory: ClientFactory, state_machine_arn: str):
        self._client = _LazyClient(sfn_client_factory)
        self._state_machine_arn = state_machine_arn

    def start(self, order_key: str, payload: dict[str, Any] | None = None, execution_name: str | None = None) -> bool:
        """True when this call started the execution, False when one with that name already exists.

        Step Functions answers a repeated start with the same name *and* input while the first
        execution still runs with that execution instead of an error; that case returns True,
        which is harmless because no second execution is created either way.
        """
        execution_input = {**(payload or {}), "order_key": order_key}
        client = self._client.get()
        try:
            client.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=execution_name or order_key,
                input=json.dumps(execution_input, separators=(",", ":"), default=str),
            )
        except Exception as exc:
            if _error_code(exc) != "ExecutionAlreadyExists":
                raise
            logger.info(
                "workflow execution already exists; duplicate start ignored",
                extra={"order_key": order_key},
            )
            return False
        return True

    def is_running(self, execution_arn: str) -> bool:
        """Whether that execution still runs; a vanished one (or another account's ARN) is not running."""
        client = self._client.get()
        try:
            return client.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
        except Exception as exc:
            if _error_code(exc) in ("ExecutionDoesNotExist", "InvalidArn"):
                return False
            raise


class SecretsManagerSecrets:
    """Resolves a `secret_ref` (the secret's name) to its string value, cached for a while so a
    rotated secret is picked up without a cold start."""

    def __init__(
        self,
        secrets_client_factory: ClientFactory,
        ttl_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._client = _LazyClient(secrets_client_factory)
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, str]] = {}

    def get(self, secret_ref: str) -> str:
        now = self._monotonic()
        cached = self._cache.get(secret_ref)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = self._client.get().get_secret_value(SecretId=secret_ref)["SecretString"]
        self._cache[secret_ref] = (now, value)
        return value
