"""In-process AWS for the local stack: moto with AME's resources, and Lambda calls run by Chalice handlers."""
from __future__ import annotations

import io
import json
import logging
import random
import threading
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from chalicelib.asl import function_arn_placeholders, load_definition, render_definition, split_retry_settings
from chalicelib.queues import QUEUES, QueueSpec

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
        name = name[len(FUNCTION_PREFIX):]
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
        """"before", "after" or None (this invocation lives)."""
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

        def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
                   response_headers: Any) -> bytes:
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
            return self._function_error(name, response_headers, CRASH_ERROR_TYPE,
                                        "chaos: worker killed before the handler ran")
        try:
            answer = json.dumps(handler(event, lambda_context(name))).encode("utf-8")
        except Exception as exc:  # the runtime reports every handler error the same way
            logger.warning("lambda %s raised %s: %s", name, type(exc).__name__, exc)
            error_type = type(exc).__name__
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                error_type = "Runtime.MarshalError"
            return self._function_error(name, response_headers, error_type, str(exc),
                                        traceback.format_tb(exc.__traceback__))
        if crash == "after":
            return self._function_error(name, response_headers, CRASH_ERROR_TYPE,
                                        "chaos: worker killed after the handler ran, before it answered")
        return answer

    def _function_error(self, name: str, response_headers: dict[str, str], error_type: str, message: str,
                        stack: list[str] | None = None) -> bytes:
        with self._errors_lock:
            self.errors[f"{name}:{error_type}"] += 1
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack or []}).encode("utf-8")


class ParseCache:
    """moto re-parses the whole ASL with ANTLR for every execution (~60-90 ms for AME's workflow, more
    than the rest of an execution's overhead). The parse tree depends only on the definition text, so
    it is parsed once. Each execution still gets fresh evaluation components built from it (~8 ms, on
    the path of every StartExecution), never ones another execution used: a few are built ahead on a
    background thread, and an execution takes one of those when it is ready."""

    REFILL_DELAY_SECONDS = 0.06

    def __init__(self, ready_programs: int = 3) -> None:
        self._original: Any = None
        self._trees: dict[str, Any] = {}
        self._ready: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._wanted = threading.Condition(self._lock)
        self._ready_programs = ready_programs
        self._stopping = False
        self._builder: threading.Thread | None = None

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
        from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

        if self._original is not None:
            return
        self._original = AmazonStateLanguageParser.__dict__["parse"]
        original, trees, ready, lock, wanted = self._original.__func__, self._trees, self._ready, self._lock, self._wanted

        def parse(definition: str) -> tuple[Any, Any]:
            with lock:
                tree = trees.get(definition)
                programs = ready.get(definition)
                program = programs.pop() if programs else None
                wanted.notify()
            if tree is None:
                program, tree = original(definition)  # the first parse also reports syntax errors
                with lock:
                    trees[definition] = tree
                    ready.setdefault(definition, [])
                    wanted.notify()
                return program, tree
            return (program if program is not None else Preprocessor().visit(tree)), tree

        AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
        self._stopping = False
        self._builder = threading.Thread(target=self._build_ahead, name="ame-local-asl-programs", daemon=True)
        self._builder.start()

    def _build_ahead(self) -> None:
        from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

        while True:
            with self._lock:
                while not self._stopping and not self._short():
                    self._wanted.wait()
                if self._stopping:
                    return
                definition = self._short()
                tree = self._trees[definition]
                if self._ready.get(definition):
                    # An execution just took one and is starting (its first Tasks are CPU work on
                    # this interpreter); build its replacement once it waits on a partner instead.
                    self._wanted.wait(self.REFILL_DELAY_SECONDS)
                    if self._stopping:
                        return
            program = Preprocessor().visit(tree)
            with self._lock:
                self._ready.setdefault(definition, []).append(program)

    def _short(self) -> str | None:
        """A definition with fewer programs ready than wanted (call with the lock held)."""
        return next((d for d, programs in self._ready.items() if len(programs) < self._ready_programs), None)

    def uninstall(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        if self._original is not None:
            AmazonStateLanguageParser.parse = self._original  # type: ignore[method-assign]
            self._original = None
        with self._lock:
            self._stopping = True
            self._wanted.notify_all()
        if self._builder is not None:
            self._builder.join(5)
            self._builder = None
        self._trees.clear()
        self._ready.clear()


class DirectLambdaClient:
    """What moto's interpreter gets when a Task invokes a Lambda function.

    Through a boto3 client the hop costs ~5-7 ms of CPU per Task here (botocore serializes the call,
    moto's stubber parses it back, its Lambda backend looks the function up, and the answer makes the
    same trip back), more than most of AME's handlers. That hop is Step Functions' own path to Lambda,
    not an API AME calls, so this client hands the payload straight to the LambdaDispatcher and answers
    what Lambda's Invoke answers: StatusCode 200, the payload, and FunctionError when the function
    raised; an unknown function is the ResourceNotFoundException the service raises."""

    def __init__(self, dispatcher: "LambdaDispatcher"):
        self._dispatcher = dispatcher

    def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's names
        from botocore.exceptions import ClientError
        from moto.awslambda.exceptions import UnknownFunctionException

        headers: dict[str, str] = {}
        try:
            answer = self._dispatcher.invoke(FunctionName, Payload if Payload is not None else b"", headers)
        except UnknownFunctionException as exc:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": str(exc)},
                               "ResponseMetadata": {"HTTPStatusCode": 404}}, "Invoke") from exc
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(answer)}
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response


class DirectLambdaRoute:
    """moto's interpreter asks `boto_client_for(region, "lambda")` for a new boto3 client on every Task it
    runs (~16 ms of CPU each, more than most of AME's handlers); every one of them gets the
    DirectLambdaClient instead, which needs no client at all."""

    def __init__(self, dispatcher: "LambdaDispatcher") -> None:
        self._original: Any = None
        self._direct = DirectLambdaClient(dispatcher)

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        if self._original is not None:
            return
        self._original = original = lambda_eval_utils.boto_client_for
        direct = self._direct

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            if service == "lambda":
                return direct
            return original(region=region, service=service, state_credentials=state_credentials)

        lambda_eval_utils.boto_client_for = boto_client_for

    def uninstall(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        if self._original is not None:
            lambda_eval_utils.boto_client_for = self._original
            self._original = None


class JsonPathCache:
    """moto's interpreter compiles every JSONPath of the definition with jsonpath-ng's yacc parser each
    time a state reads or writes one (~0.3 ms each, ~25 per AME execution). A compiled path is an
    immutable expression tree, so each distinct path text is compiled once."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._originals: list[tuple[Any, Any]] = []  # (module, its parse)
        self._maxsize = maxsize

    @staticmethod
    def _modules() -> list[Any]:
        from moto.stepfunctions.parser.asl.component.common.path import result_path
        from moto.stepfunctions.parser.asl.utils import json_path

        return [json_path, result_path]  # each imported its own `parse`

    def install(self) -> None:
        import functools

        if self._originals:
            return
        for module in self._modules():
            self._originals.append((module, module.parse))
            module.parse = functools.lru_cache(maxsize=self._maxsize)(module.parse)

    def uninstall(self) -> None:
        for module, original in self._originals:
            module.parse = original
        self._originals.clear()


class LoopbackPassthrough:
    """While moto is active it hooks `requests`: every HTTP call made in this process (partner calls,
    notifications, webhooks) is first matched against the URL patterns of every AWS service moto
    emulates (~1 ms per call here) before it passes through to the network. A call to a loopback
    address is never an AWS API call, so it skips the matching, unless a test has registered
    `responses` stubs of its own (those are still honoured)."""

    LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        import responses
        from moto.core.responses_custom_registry import CustomRegistry

        if self._original is not None:
            return
        self._original = original = CustomRegistry.__dict__["find"]
        loopback = self.LOOPBACK

        def find(registry: Any, request: Any) -> tuple[Any, list[str]]:
            if not responses._default_mock._registry.registered and urlsplit(request.url).hostname in loopback:
                return None, []
            return original(registry, request)

        CustomRegistry.find = find  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.core.responses_custom_registry import CustomRegistry

        if self._original is not None:
            CustomRegistry.find = self._original  # type: ignore[method-assign]
            self._original = None


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
        self.parse_cache = ParseCache()
        self.lambda_route = DirectLambdaRoute(self.dispatcher)
        self.json_paths = JsonPathCache()
        self.loopback = LoopbackPassthrough()
        self._mock: Any = None
        self._undo_secrets: Callable[[], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "LocalAws":
        from moto import mock_aws

        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        try:
            self.dispatcher.install()
            self.parse_cache.install()
            self.lambda_route.install()
            self.json_paths.install()
            self.loopback.install()
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
        self.parse_cache.uninstall()
        self.lambda_route.uninstall()
        self.json_paths.uninstall()
        self.loopback.uninstall()
        if self._undo_secrets is not None:
            self._undo_secrets()
            self._undo_secrets = None
        if self._mock is not None:
            mock, self._mock = self._mock, None
            mock.stop()

    def __enter__(self) -> "LocalAws":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- access --------------------------------------------------------------------------------
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
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
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
        self.queue_arns[spec.logical] = (
            f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{self.queue_prefix}{spec.name}"
        )

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
