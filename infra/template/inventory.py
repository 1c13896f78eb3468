"""Which Lambda functions `chalice package` emits for the app, and what each may touch (FUNCTION_ACCESS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.asl import logical_id
from infra.template.common import API_FUNCTION_KEY, API_HANDLER, TemplateError


@dataclass(frozen=True)
class Access:
    """What one function may touch beyond its own log group, X-Ray and the VPC."""

    send: tuple[str, ...] = ()  # logical queue names it sends to
    consume: tuple[str, ...] = ()  # logical queue names it is the event source of
    start_workflow: bool = False
    describe_executions: bool = False  # the sweeper asks whether an owning execution still runs
    dead_letter: tuple[str, ...] = ()  # logical queue names whose DLQ it sends to directly
    webhook_secrets: bool = False
    bucket: bool = False
    archive: bool = False  # the retention archive prefix of the document bucket (archive/*)
    timeout: int | None = None  # seconds, when the function needs more than Chalice's default


# One row per Chalice function. A function missing here fails the build on purpose: whoever adds a
# function says what it may touch, rather than inheriting a broad default.
FUNCTION_ACCESS: dict[str, Access] = {
    API_FUNCTION_KEY: Access(send=("creation",)),
    "ame_token": Access(),  # the API's token authorizer: JWKS over HTTPS, nothing in AWS
    # bucket: claim checks (docs/resilience.md) — every consumer resolves them; senders of result events write them.
    "on_creation_message": Access(consume=("creation",), start_workflow=True, dead_letter=("creation",), bucket=True),
    "relay_outbox": Access(send=("creation", "result"), bucket=True),
    "load_order": Access(),
    "fetch_powers": Access(send=("creation",)),  # a breaker closing here resumes parked orders
    "fetch_people": Access(send=("creation",)),  # a breaker closing here resumes parked orders
    "check_operators": Access(send=("creation",)),  # a breaker closing here resumes parked orders
    "decide_party": Access(),
    "evaluate_person": Access(),
    "conclude_order": Access(),
    "record_failure": Access(),
    "publish_result": Access(send=("result",), bucket=True),
    "park_order": Access(send=("creation",)),  # try again later: the delayed re-drive message
    "sweep_orders": Access(send=("creation",), describe_executions=True),
    "report_operations": Access(),  # reads the database and Redis (VPC), emits EMF gauges to its log
    # Resume on recovery: its probe calls partners (VPC egress) and re-drives through the creation queue.
    "resume_parked": Access(send=("creation",)),
    "on_result_message": Access(
        consume=("result",), send=("envelope_ready",), dead_letter=("result",), webhook_secrets=True, bucket=True
    ),
    # Its analytics files and HMAC key: infra/analytics_template.py adds that policy to its role.
    "export_analytics": Access(),
    # The daily purge (docs/data-lifecycle.md): time-boxed at 600 s inside a 900 s timeout.
    "purge_data": Access(archive=True, timeout=900),
}


# The workflow tasks that call a partner (Poderes, Pessoas, Cadastro Único): each gets reserved concurrency
# (PartnerTaskConcurrency), so a burst of orders cannot become a burst of partner calls.
PARTNER_TASKS = frozenset({"fetch_powers", "fetch_people", "check_operators", "evaluate_person"})


@dataclass
class AppFunction:
    key: str  # FUNCTION_ACCESS key: Chalice name, or api_handler
    logical_id: str  # Chalice's CloudFormation logical id
    kind: str  # route | authorizer | lambda | sqs | schedule
    queue: str | None = None  # for sqs: the queue name the decorator names
    extra: dict[str, Any] = field(default_factory=dict)


def app_functions(app: Any) -> list[AppFunction]:
    """Every Lambda function `chalice package` will emit for `app`, with its logical id."""
    found: list[AppFunction] = []
    if app.routes:
        found.append(AppFunction(API_FUNCTION_KEY, API_HANDLER, "route"))
    for auth in getattr(app, "builtin_auth_handlers", []):
        found.append(AppFunction(auth.name, logical_id(auth.name), "authorizer"))
    for fn in app.pure_lambda_functions:
        found.append(AppFunction(fn.name, logical_id(fn.name), "lambda"))
    for source in app.event_sources:
        kind = type(source).__name__
        if kind == "SQSEventConfig":
            found.append(AppFunction(source.name, logical_id(source.name), "sqs", queue=source.queue))
        elif kind in ("ScheduledEventConfig", "CloudWatchEventConfig"):
            found.append(AppFunction(source.name, logical_id(source.name), "schedule"))
        else:
            raise TemplateError(f"{source.name}: event source {kind} is not handled by infra/template/inventory.py")
    return found


def load_app() -> Any:
    import app as app_module  # the repository's app.py; importing it does no I/O by house rule

    return app_module.app
