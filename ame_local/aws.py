"""In-process AWS for the local stack: moto with AME's resources, and Lambda calls run by Chalice handlers."""

from __future__ import annotations

import json
import logging
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ame_local.config import (
    ACCOUNT_ID,
    CRASH_MOMENTS,
    DEFAULT_BUCKET,
    FUNCTION_PREFIX,
    REGION,
    STATE_MACHINE_NAME,
    ChaosConfig,
    function_arn,
)
from ame_local.secrets import LocalSecretsStore
from chalicelib.asl import function_arn_placeholders, load_definition, render_definition, split_retry_settings
from chalicelib.queues import QUEUES, QueueSpec

logger = logging.getLogger("ame_local.aws")

MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
LAMBDA_TIMEOUT_SECONDS = 60


def lambda_context(function_name: str, timeout_seconds: int = LAMBDA_TIMEOUT_SECONDS) -> Any:
    """A Lambda context object like the one AWS passes (function_name, aws_request_id,
    get_remaining_time_in_millis...), from chalice.local so Chalice code sees what it expects."""
    from chalice.local import LambdaContext

    context = LambdaContext(
        function_name=f"{FUNCTION_PREFIX}{function_name}",
        memory_size=512,
        max_runtime_ms=timeout_seconds * 1000,
    )
    context.invoked_function_arn = function_arn(function_name)
    context.log_group_name = f"/aws/lambda/{FUNCTION_PREFIX}{function_name}"
    return context


def chalice_function_name(function_name_or_arn: str) -> str:
    """`arn:...:function:ame-local-load_order[:qualifier]` or `ame-local-load_order` -> `load_order`."""
    name = function_name_or_arn
    if name.startswith("arn:"):
        parts = name.split(":")
        name = parts[6] if len(parts) > 6 else parts[-1]
    if name.startswith(FUNCTION_PREFIX):
        name = name[len(FUNCTION_PREFIX) :]
    return name


# What Step Functions reports when the Lambda service, not the function, fails an invocation; the
# workflow retries it like any transient error.
CRASH_ERROR_TYPE = "Lambda.ServiceException"


class CrashInjector:
    """Chaos: decides which Lambda invocations die (ChaosConfig.crashes by invocation number, crash_rate
    by seeded dice) and keeps the tally. Thread-safe: moto runs executions on threads of their own."""

    def __init__(self, chaos: ChaosConfig):
        self._plans = {(p.function, p.nth): p.when for p in chaos.crashes}
        self._rate = chaos.crash_rate
        self._rng = random.Random(f"{chaos.seed}:crashes")
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.injected: list[tuple[str, int, str]] = []  # (function, nth invocation, before|after)

    def decide(self, function: str) -> str | None:
        """ "before", "after" or None (this invocation lives)."""
        with self._lock:
            self.invocations[function] += 1
            nth = self.invocations[function]
            when = self._plans.get((function, nth))
            if when is None and self._rate and self._rng.random() < self._rate:
                when = self._rng.choice(CRASH_MOMENTS)
            if when is not None:
                self.injected.append((function, nth, when))
            return when

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(when for _, _, when in self.injected))


class LambdaDispatcher:
    """Stands in for moto's LambdaSimpleBackend.invoke: runs the Chalice handler named by the function.

    A handler exception becomes a function error (`x-amz-function-error` header plus an
    `{"errorType", "errorMessage"}` payload), which is how Step Functions' Retry and Catch see it.
    With a CrashInjector some invocations die as a Lambda service failure: before the handler runs, or
    after it committed its work, so the retry re-runs a task whose side effects are already done.
    """

    def __init__(self, app: Any, crashes: CrashInjector | None = None):
        self._app = app
        self._original: Callable[..., Any] | None = None
        self.crashes = crashes
        self._errors_lock = threading.Lock()
        self.errors: Counter[str] = Counter()  # (function, errorType) of every function error answered

    def install(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        if self._original is not None:
            return
        self._original = LambdaSimpleBackend.invoke
        dispatcher = self

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            return dispatcher.invoke(function_name, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.awslambda_simple.models import LambdaSimpleBackend

        if self._original is not None:
            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        name = chalice_function_name(function_name)
        handler = self._app.handler_map.get(name)
        if handler is None:
            from moto.awslambda.exceptions import UnknownFunctionException

            raise UnknownFunctionException(function_arn(name))
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        event = json.loads(body) if body else {}
        crash = self.crashes.decide(name) if self.crashes is not None else None
        if crash == "before":
            return self._function_error(
                name, response_headers, CRASH_ERROR_TYPE, "chaos: worker killed before the handler ran"
            )
        try:
            answer = json.dumps(handler(event, lambda_context(name))).encode("utf-8")
        except Exception as exc:  # the runtime reports every handler error the same way
            logger.warning("lambda %s raised %s: %s", name, type(exc).__name__, exc)
            error_type = type(exc).__name__
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                error_type = "Runtime.MarshalError"
            return self._function_error(
                name, response_headers, error_type, str(exc), traceback.format_tb(exc.__traceback__)
            )
        if crash == "after":
            return self._function_error(
                name,
                response_headers,
                CRASH_ERROR_TYPE,
                "chaos: worker killed after the handler ran, before it answered",
            )
        return answer

    def _function_error(
        self, name: str, response_headers: dict[str, str], error_type: str, message: str, stack: list[str] | None = None
    ) -> bytes:
        with self._errors_lock:
            self.errors[f"{name}:{error_type}"] += 1
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}).encode("utf-8")


class LocalAws:
    """moto, started in-process, with every resource AME's code expects to find."""

    def __init__(
        self,
        app: Any,
        *,
        queue_prefix: str = "",
        visibility_timeout: int | None = None,
        bucket: str = DEFAULT_BUCKET,
        secrets: LocalSecretsStore | None = None,
        statemachine_path: str | Path | None = None,
        statemachine_text: str | None = None,
        asl_substitutions: Mapping[str, str] | None = None,
        state_machine_name: str = STATE_MACHINE_NAME,
        chaos: ChaosConfig | None = None,
        speedups: bool = False,
    ):
        self.app = app
        self.queue_prefix = queue_prefix
        self.visibility_timeout = visibility_timeout
        self.bucket = bucket
        self.secrets = secrets if secrets is not None else LocalSecretsStore()
        self._statemachine_path = statemachine_path
        self._statemachine_text = statemachine_text
        self._asl_substitutions = dict(asl_substitutions or {})
        self._state_machine_name = state_machine_name
        self.state_machine_arn: str | None = None
        self.queue_urls: dict[str, str] = {}
        self.dlq_urls: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}
        crashes = CrashInjector(chaos) if chaos is not None and (chaos.crashes or chaos.crash_rate) else None
        self.dispatcher = LambdaDispatcher(app, crashes)
        # Opt-in patches of moto's and responses' internals that only make emulation faster
        # (ame_local/speedups.py); without them every behaviour is the same, only slower.
        self.speedups: Any = None
        if speedups:
            from ame_local.speedups import MotoSpeedups

            self.speedups = MotoSpeedups(self.dispatcher)
        self._mock: Any = None
        self._undo_secrets: Callable[[], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LocalAws:
        from moto import mock_aws

        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        try:
            self.dispatcher.install()
            if self.speedups is not None:
                self.speedups.install()
            self._undo_secrets = self.secrets.serve_unknown_refs()
            for spec in QUEUES.values():
                self._create_queue(spec)
            self.client("s3").create_bucket(Bucket=self.bucket)
            self.secrets.publish(self.client("secretsmanager"))
            self.state_machine_arn = self._create_state_machine()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.dispatcher.uninstall()
        if self.speedups is not None:
            self.speedups.uninstall()
        if self._undo_secrets is not None:
            self._undo_secrets()
            self._undo_secrets = None
        if self._mock is not None:
            mock, self._mock = self._mock, None
            mock.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- access --------------------------------------------------------------------------------
    def event_source_sqs(self) -> Any:
        """The SQS client the local event source mappings poll with: moto's backend directly when the speed
        patches are on (ame_local/speedups.py, DirectSqsClient), a boto3 client otherwise."""
        if self.speedups is not None:
            from ame_local.speedups import DirectSqsClient

            return DirectSqsClient(ACCOUNT_ID, REGION)
        return self.client("sqs")

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=REGION)

    def queue_url(self, logical: str) -> str:
        return self.queue_urls[logical]

    def dlq_url(self, logical: str) -> str:
        return self.dlq_urls[logical]

    # -- resources -----------------------------------------------------------------------------
    def _create_queue(self, spec: QueueSpec) -> None:
        sqs = self.client("sqs")
        dlq_url = sqs.create_queue(
            QueueName=f"{self.queue_prefix}{spec.dlq_name}",
            Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        visibility = self.visibility_timeout if self.visibility_timeout is not None else spec.visibility_timeout
        url = sqs.create_queue(
            QueueName=f"{self.queue_prefix}{spec.name}",
            Attributes={
                "VisibilityTimeout": str(visibility),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(spec.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        self.queue_urls[spec.logical] = url
        self.dlq_urls[spec.logical] = dlq_url
        self.queue_arns[spec.logical] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.queue_prefix}{spec.name}"

    def lambda_function_names(self) -> list[str]:
        return [fn.name for fn in getattr(self.app, "pure_lambda_functions", [])]

    def rendered_definition(self) -> str:
        """statemachine.asl.json with this stack's function ARNs and its own retry settings (moto really
        sleeps between retries), both set on the parsed document."""
        if self._statemachine_text is not None:
            template = self._statemachine_text
        else:
            if self._statemachine_path is None:
                from ame_local.config import REPO_ROOT

                self._statemachine_path = REPO_ROOT / "statemachine.asl.json"
            template = Path(self._statemachine_path).read_text(encoding="utf-8")
        retry, extra = split_retry_settings(self._asl_substitutions)
        substitutions = function_arn_placeholders(self.lambda_function_names(), function_arn)
        substitutions.update(extra)
        return json.dumps(render_definition(load_definition(template), substitutions, retry=retry))

    def _create_state_machine(self) -> str:
        definition = self.rendered_definition()  # a bad template fails here, at start, with the JSON error
        return self.client("stepfunctions").create_state_machine(
            name=self._state_machine_name,
            definition=definition,
            roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/ame-local-workflow",
            type="STANDARD",
        )["stateMachineArn"]
