"""Opt-in speed patches of moto's and responses' internals for the local stack and the tests.

None of them changes what the emulation does; each removes work moto repeats on every execution, Task or
HTTP call (the measured reason is on each class). They reach into private code, so they were checked
against one version of each library: VERIFIED_MOTO_VERSION and VERIFIED_RESPONSES_VERSION. When the
installed version differs, `MotoSpeedups.install` says so in the log (a warning) and still tries; a
patch whose target has moved is skipped with a warning of its own, and the emulation just runs slower.

Opt in with `LocalAws(..., speedups=True)` (the local stack does).
"""

from __future__ import annotations

import io
import logging
import threading
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ame_local.aws import LambdaDispatcher

logger = logging.getLogger("ame_local.speedups")

# The versions these patches were written and measured against (requirements-dev.txt pins them).
VERIFIED_MOTO_VERSION = "5.2.5"
VERIFIED_RESPONSES_VERSION = "0.26.3"


def unverified_versions(installed: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """{package: (installed, verified)} for each patched library whose installed version differs."""
    verified = {"moto": VERIFIED_MOTO_VERSION, "responses": VERIFIED_RESPONSES_VERSION}
    found = installed if installed is not None else {name: metadata.version(name) for name in verified}
    return {name: (found[name], version) for name, version in verified.items() if found.get(name) != version}


def check_versions(installed: dict[str, str] | None = None) -> bool:
    """True when the installed libraries are the verified ones; otherwise logs a warning naming them."""
    differ = unverified_versions(installed)
    for name, (have, verified) in sorted(differ.items()):
        logger.warning(
            "ame_local.speedups: %s %s is installed, but the speed patches were verified with %s %s; "
            "check them (tests/integration/test_local_aws.py) and update VERIFIED_%s_VERSION",
            name,
            have,
            name,
            verified,
            name.upper(),
        )
    return not differ


class ParseCache:
    """moto parses the whole ASL with ANTLR (~60-90 ms for AME's workflow) and builds its evaluation
    components from the parse tree (~13 ms alone, 18-28 ms of CPU under the stack's load) for every
    execution: most of the emulation's CPU per order. Both depend only on the definition text, so each
    definition is parsed and built once and every execution evaluates the same components.

    Sharing them is safe because moto keeps an execution's state out of its components: the components'
    methods assign no attribute of their own after construction; the workers, pools and run records they
    create are new per evaluation, and what an execution remembers (retry counts, variables, the
    context) lives in its Environment and that Environment's frames. moto already evaluates one
    component graph from several threads at once: the iterations of a Map state and the branches of a
    Parallel share theirs. The one lazily set field, a component's `heap_key` (the name a retrier's
    counters get in the execution's own heap), is set on every component before the first execution, so
    two executions never race to pick it."""

    def __init__(self) -> None:
        self._original: Any = None
        self._parsed: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        if self._original is not None:
            return
        self._original = AmazonStateLanguageParser.__dict__["parse"]
        original, parsed, lock = self._original.__func__, self._parsed, self._lock

        def parse(definition: str) -> tuple[Any, Any]:
            found = parsed.get(definition)
            if found is not None:
                return found
            with lock:  # one parse per definition, even when executions start together
                found = parsed.get(definition)
                if found is None:
                    found = original(definition)  # the first parse also reports syntax errors
                    set_heap_keys(found[0])
                    parsed[definition] = found
            return found

        AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

        if self._original is not None:
            AmazonStateLanguageParser.parse = self._original  # type: ignore[method-assign]
            self._original = None
        self._parsed.clear()


def set_heap_keys(program: Any) -> None:
    """Sets `heap_key` on every evaluation component reachable from `program` (its states, their
    fields, nested Map and Parallel programs)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    pending: list[Any] = [program]
    while pending:
        item = pending.pop()
        if isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, Component) and id(item) not in seen:
            seen.add(id(item))
            if isinstance(item, EvalComponent):
                item.heap_key  # noqa: B018 - the property sets it on first read
            pending.extend(vars(item).values())


class DirectLambdaClient:
    """What moto's interpreter gets when a Task invokes a Lambda function.

    Through a boto3 client the hop costs ~5-7 ms of CPU per Task here (botocore serializes the call,
    moto's stubber parses it back, its Lambda backend looks the function up, and the answer makes the
    same trip back), more than most of AME's handlers. That hop is Step Functions' own path to Lambda,
    not an API AME calls, so this client hands the payload straight to the LambdaDispatcher and answers
    what Lambda's Invoke answers: StatusCode 200, the payload, and FunctionError when the function
    raised; an unknown function is the ResourceNotFoundException the service raises."""

    def __init__(self, dispatcher: LambdaDispatcher):
        self._dispatcher = dispatcher

    def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        from moto.awslambda.exceptions import UnknownFunctionException

        headers: dict[str, str] = {}
        try:
            answer = self._dispatcher.invoke(FunctionName, Payload if Payload is not None else b"", headers)
        except UnknownFunctionException as exc:
            raise ClientError(
                {
                    "Error": {"Code": "ResourceNotFoundException", "Message": str(exc)},
                    "ResponseMetadata": {"HTTPStatusCode": 404},
                },
                "Invoke",
            ) from exc
        response: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(answer)}
        if "x-amz-function-error" in headers:
            response["FunctionError"] = headers["x-amz-function-error"]
        return response


class DirectLambdaRoute:
    """moto's interpreter asks `boto_client_for(region, "lambda")` for a new boto3 client on every Task it
    runs (~16 ms of CPU each, more than most of AME's handlers); every one of them gets the
    DirectLambdaClient instead, which needs no client at all."""

    def __init__(self, dispatcher: LambdaDispatcher) -> None:
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


class SqsScans:
    """moto's SQS walks every message of a queue, reading the clock through datetime arithmetic once per
    message, whenever it asks which messages are visible or how many are delayed or in flight, and for each
    message ReceiveMessage hands over it checks the retention period through
    `get_queue_attributes(["MessageRetentionPeriod"])`, which computes every attribute of the queue twice,
    those counts included. With a backlog (orders parked with their delayed re-drive messages, a recovery's
    spread re-drives) that made the local creation queue quadratic: a fifth of the stack's CPU in the
    recovery benchmark. The retention period is read from the queue's own integer attribute, and each walk
    reads the clock once; what is visible, delayed or retained is decided as before."""

    _PROPERTIES = (
        "messages",
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    )

    def __init__(self) -> None:
        self._originals: dict[str, Any] = {}

    def install(self) -> None:
        from moto.core.utils import unix_time, unix_time_millis
        from moto.sqs.models import Queue, SQSBackend

        if self._originals:
            return
        self._originals = {name: Queue.__dict__[name] for name in self._PROPERTIES}
        self._originals["retention"] = SQSBackend.__dict__["is_message_valid_based_on_retention_period"]

        def messages(queue: Any) -> list[Any]:
            now = unix_time_millis()
            return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

        def delayed(queue: Any) -> int:
            now = unix_time_millis()
            return sum(1 for m in queue._messages if now < m.delayed_until)

        def not_visible(queue: Any) -> int:
            now = unix_time_millis()
            return sum(1 for m in queue._messages if not now > m.visible_at)

        def retained(backend: Any, queue_name: str, message: Any) -> bool:
            retention_period = backend.get_queue(queue_name).message_retention_period
            return bool(retention_period + message.sent_timestamp / 1000 > unix_time())

        Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
        Queue.approximate_number_of_messages = property(lambda queue: len(messages(queue)))  # type: ignore[method-assign,assignment]
        Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[method-assign,assignment]
        Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[method-assign,assignment]
        SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.sqs.models import Queue, SQSBackend

        if not self._originals:
            return
        SQSBackend.is_message_valid_based_on_retention_period = self._originals.pop("retention")  # type: ignore[method-assign]
        for name, original in self._originals.items():
            setattr(Queue, name, original)
        self._originals = {}


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


class DirectSqsClient:
    """What the local event source mappings (ame_local/pollers.py) use to receive and delete messages.

    Through a boto3 client each receive and delete costs ~1-2 ms of CPU (botocore builds and signs the
    request, moto's stubber parses it back, the answer makes the same trip back): about a tenth of the
    stack's CPU per order, some of it while the creation poller hands an order to its workflow. Polling is
    the Lambda service's own work, not an API AME calls, so this client asks moto's SQS backend directly
    and answers what ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch answer. AME's
    own SQS calls (intake, publish_result, the relay) still go through boto3."""

    def __init__(self, account_id: str, region: str) -> None:
        self._account_id, self._region = account_id, region

    def _backend(self) -> Any:
        from moto.sqs.models import sqs_backends

        return sqs_backends[self._account_id][self._region]

    @staticmethod
    def _queue_name(queue_url: str) -> str:
        return queue_url.rstrip("/").rsplit("/", 1)[-1]

    def receive_message(
        self,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        WaitTimeSeconds: int = 0,
        MessageAttributeNames: list[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        backend, name = self._backend(), self._queue_name(QueueUrl)
        queue = backend.get_queue(name)
        messages = backend.receive_message(
            name, MaxNumberOfMessages, WaitTimeSeconds, queue.visibility_timeout, MessageAttributeNames or []
        )
        return {"Messages": [self._message(m) for m in messages]} if messages else {}

    @staticmethod
    def _message(message: Any) -> dict[str, Any]:
        import base64

        answer: dict[str, Any] = {
            "MessageId": message.id,
            "ReceiptHandle": message.receipt_handle,
            "MD5OfBody": message.body_md5,
            "Body": message.body,
        }
        if message.message_attributes:
            attributes = {}
            for key, value in message.message_attributes.items():
                value = dict(value)
                if isinstance(value.get("BinaryValue"), str):  # botocore hands binary values over decoded
                    value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
                attributes[key] = value
            answer["MessageAttributes"] = attributes
            answer["MD5OfMessageAttributes"] = message.attribute_md5
        system = {
            "SenderId": message.sender_id,
            "SentTimestamp": str(message.sent_timestamp),
            "ApproximateReceiveCount": str(message.approximate_receive_count),
            "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
        }
        optional = {
            "MessageDeduplicationId": message.deduplication_id,
            "MessageGroupId": message.group_id,
            "SequenceNumber": message.sequence_number,
            "AWSTraceHeader": (message.system_attributes or {}).get("AWSTraceHeader", {}).get("StringValue"),
        }
        system.update({k: v for k, v in optional.items() if v is not None})
        answer["Attributes"] = system
        return answer

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        success, failed = self._backend().delete_message_batch(self._queue_name(QueueUrl), Entries)
        return {"Successful": [{"Id": i} for i in success], "Failed": failed}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        success, failed = self._backend().change_message_visibility_batch(self._queue_name(QueueUrl), Entries)
        return {"Successful": [{"Id": i} for i in success], "Failed": failed}


class JsonCopies:
    """moto's interpreter deep-copies the state data at almost every step (a state's input and output, the
    Parameters it evaluates, each Map iteration's frame, every history event's details) with
    copy.deepcopy: a third of the interpreter's CPU for AME's workflow. That data is JSON (dicts, lists,
    strings, numbers, booleans, None), which a copy that knows only those types copies several times
    faster. Anything else (moto's own objects, a tuple) is copied by copy.deepcopy exactly as before, as a
    whole, so shared references and memo semantics are kept wherever they could matter."""

    # The interpreter's modules that call copy.deepcopy (each does `import copy`).
    MODULES = (
        "moto.stepfunctions.parser.asl.eval.states",
        "moto.stepfunctions.parser.asl.eval.environment",
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "moto.stepfunctions.parser.asl.component.common.path.result_path",
        "moto.stepfunctions.parser.asl.component.common.string.string_expression",
        "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
        "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
    )

    def __init__(self) -> None:
        self._found: list[tuple[Any, Any]] = []  # (module, the `copy` it had)

    def install(self) -> None:
        import copy as copy_module
        import importlib

        if self._found:
            return
        modules = [importlib.import_module(name) for name in self.MODULES]
        found = [(module, module.__dict__.get("copy")) for module in modules]
        for module, present in found:
            if present is not copy_module and not isinstance(present, _CopyWithJsonFastPath):
                raise AttributeError(f"{module.__name__} no longer imports copy")
        shim = _CopyWithJsonFastPath(copy_module)
        for module, _ in found:
            module.copy = shim
        self._found = found

    def uninstall(self) -> None:
        while self._found:
            module, present = self._found.pop()
            module.copy = present


class _NotJson(Exception):
    pass


_JSON_SCALARS = (str, int, float, bool, type(None))


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value; raises _NotJson at the first thing that is not one."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    raise _NotJson


class _CopyWithJsonFastPath:
    """Stands in for the `copy` module inside the patched modules: deepcopy takes the JSON fast path
    when the whole value is JSON; every other name is the real module's."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if memo is None:
            try:
                return json_copy(value)
            except _NotJson:
                pass
        return self._module.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


class InlineTasks:
    """moto runs every Task state on a thread of its own and waits for it, only so that it can give up at
    the state's TimeoutSeconds. A Task that declares none (AME's declare none: a Lambda's own timeout
    bounds them) can never time out, so it runs on the interpreter's thread: one thread start and two
    hand-overs of the interpreter lock fewer per Task, on the way from one partner answer to the next
    call. A Task with a TimeoutSeconds of its own still runs as moto runs it."""

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
        from moto.stepfunctions.parser.asl.component.state.exec import execute_state
        from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

        if self._original is not None:
            return
        self._original = ExecutionState.__dict__["_evaluate_with_timeout"]
        original = self._original

        def _evaluate_with_timeout(self: Any, env: Any) -> None:
            timeout = self.timeout
            if not (isinstance(timeout, TimeoutSeconds) and timeout.is_default_value()):
                return original(self, env)
            # moto's own steps, without the thread: the Task is evaluated on a frame of its own
            timeout.eval(env=env)
            env.stack.pop()
            frame = env.open_frame()
            frame.states.reset(input_value=env.states.get_input())
            frame.stack = execute_state.copy.deepcopy(env.stack)  # the module's copy: JsonCopies may patch it
            try:
                self._eval_execution(frame)
                outputs = list(frame.stack)
            finally:
                frame.set_ended()
                env.close_frame(frame)
            if not outputs:
                raise IndexError("pop from empty list")  # what moto raises when a Task left no output
            execution_output = outputs[-1]
            env.stack.append(execution_output)
            if not self._is_language_query_jsonpath():
                env.states.set_result(execution_output)
            if self.assign_decl:
                self.assign_decl.eval(env=env)
            if self.result_selector:
                self.result_selector.eval(env=env)
            if self.result_path:
                self.result_path.eval(env)
            else:
                res = env.stack.pop()
                env.states.reset(input_value=res)

        ExecutionState._evaluate_with_timeout = _evaluate_with_timeout  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState

        if self._original is not None:
            ExecutionState._evaluate_with_timeout = self._original  # type: ignore[method-assign]
            self._original = None


class ActionNames:
    """For every API call, moto's BaseResponse.call_action lists the response class's methods with
    inspect.getmembers to check that the action is one of them (~1 ms per call here, a quarter of a
    StartExecution's dispatch). A class's methods do not change while the stack runs, so each class is
    listed once."""

    def __init__(self) -> None:
        self._original: Any = None

    def install(self) -> None:
        import moto.core.responses as responses_module

        if self._original is not None:
            return
        self._original = responses_module.__dict__["method_names_from_class"]
        original = self._original
        names: dict[type, frozenset[str]] = {}

        def method_names_from_class(clazz: type) -> frozenset[str]:
            found = names.get(clazz)
            if found is None:
                found = names[clazz] = frozenset(original(clazz))
            return found

        responses_module.method_names_from_class = method_names_from_class  # type: ignore[assignment]

    def uninstall(self) -> None:
        import moto.core.responses as responses_module

        if self._original is not None:
            responses_module.method_names_from_class = self._original  # type: ignore[attr-defined]
            self._original = None


class MotoSpeedups:
    """Every patch above, installed and removed together; see the module docstring."""

    def __init__(self, dispatcher: LambdaDispatcher) -> None:
        self.parse_cache = ParseCache()
        self.lambda_route = DirectLambdaRoute(dispatcher)
        self.json_paths = JsonPathCache()
        self.loopback = LoopbackPassthrough()
        self.sqs_scans = SqsScans()
        self.action_names = ActionNames()
        self.json_copies = JsonCopies()
        self.inline_tasks = InlineTasks()
        self.installed: list[Any] = []

    def install(self) -> None:
        check_versions()
        for patch in (
            self.parse_cache,
            self.lambda_route,
            self.json_paths,
            self.loopback,
            self.sqs_scans,
            self.action_names,
            self.json_copies,
            self.inline_tasks,
        ):
            try:
                patch.install()
            except (ImportError, AttributeError, KeyError) as exc:  # the private target moved
                logger.warning(
                    "ame_local.speedups: %s not installed (%s: %s); the emulation runs without it",
                    type(patch).__name__,
                    type(exc).__name__,
                    exc,
                )
            else:
                self.installed.append(patch)

    def uninstall(self) -> None:
        while self.installed:
            self.installed.pop().uninstall()
