"""AWS adapters: SQS message queue, Step Functions workflow starter, Secrets Manager secrets."""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable

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
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def queue_url(self, queue: str) -> str:
        url = self._urls.get(queue)
        if url is None:
            name = queue_name(queue, self._prefix)  # KeyError for a queue AME does not define
            url = self._client.get().get_queue_url(QueueName=name)["QueueUrl"]
            with self._lock:
                self._urls[queue] = url
        return url

    def send(self, queue: str, body: str, delay_seconds: int = 0) -> str:
        if self._claims is not None:
            body = self._claims.check_in(queue, body)
        kwargs: dict[str, Any] = {"QueueUrl": self.queue_url(queue), "MessageBody": body}
        if delay_seconds:
            kwargs["DelaySeconds"] = int(delay_seconds)
        return self._client.get().send_message(**kwargs)["MessageId"]


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
