"""Settings of the local stack (`make run`): ports, database, partner URLs and local timings."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
FUNCTION_PREFIX = "ame-local-"
STATE_MACHINE_NAME = "ame-local-workflow"
DEFAULT_BUCKET = "ame-local-documents"

# The partner base URLs chalicelib/settings.py reads; the simulator stands in for any left unset.
PARTNER_URL_VARIABLES = (
    "AME_PARAMETRIZADOR_URL",
    "AME_DOMINIOS_URL",
    "AME_PODERES_URL",
    "AME_PESSOAS_URL",
    "AME_CADASTRO_URL",
    "AME_NOTIFICACAO_URL",
)


# The local workflow's retry settings, set on every Retry rule of the parsed statemachine.asl.json
# (chalicelib.asl.RETRY_SETTINGS): moto really sleeps between retries, so keep them short.
# AME_LOCAL_ASL_SUBSTITUTIONS (a JSON object) overrides them or fills extra `${Name}` placeholders.
LOCAL_ASL_SUBSTITUTIONS = {
    "RetryIntervalSeconds": "1",
    "RetryMaxAttempts": "2",
    "RetryBackoffRate": "2.0",
}


def function_arn(function_name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_PREFIX}{function_name}"


def state_machine_arn(name: str = STATE_MACHINE_NAME) -> str:
    return f"arn:aws:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"


def default_database_url(root: Path = REPO_ROOT) -> str:
    return f"sqlite:///{root / '.local' / 'ame.sqlite3'}"


def _json_object(env: Mapping[str, str], name: str) -> dict[str, str]:
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object")
    return {str(k): str(v) for k, v in value.items()}


def _optional_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    return float(raw) if raw else None


CRASH_MOMENTS = ("before", "after")


@dataclass(frozen=True)
class CrashPlan:
    """The `nth` invocation of Lambda `function` dies `when` ("before" its handler runs, or "after" the
    handler did its work but before it answers), as Step Functions sees a Lambda service failure."""

    function: str
    nth: int
    when: str

    @classmethod
    def parse(cls, text: str) -> CrashPlan:
        """`conclude_order:40:after` → CrashPlan("conclude_order", 40, "after")."""
        parts = text.strip().split(":")
        if (
            len(parts) != 3
            or not parts[0]
            or not parts[1].isdigit()
            or int(parts[1]) < 1
            or parts[2] not in CRASH_MOMENTS
        ):
            raise ValueError(f"crash plan {text!r} is not function:nth:before|after (nth >= 1)")
        return cls(parts[0], int(parts[1]), parts[2])


@dataclass(frozen=True)
class ChaosConfig:
    """Faults the local stack injects into its own AWS emulation (the chaos suite); all off by default.

    duplicate_rate: a queue record handled successfully on its first receive is left on the queue with
    this probability, so it is delivered again a second later (SQS delivers at least once).
    crashes: Lambda invocations that die on purpose (AME_LOCAL_CHAOS_CRASHES=fn:nth:before|after,...);
    crash_rate: any other task invocation dies with this probability, before or after its handler.
    seed: the dice of both rates, so a run is reproducible up to thread scheduling.
    """

    duplicate_rate: float = 0.0
    crashes: tuple[CrashPlan, ...] = ()
    crash_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "crash_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")

    @property
    def active(self) -> bool:
        return bool(self.duplicate_rate or self.crashes or self.crash_rate)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChaosConfig:
        crashes = tuple(CrashPlan.parse(p) for p in env.get("AME_LOCAL_CHAOS_CRASHES", "").split(",") if p.strip())
        return cls(
            duplicate_rate=_optional_float(env, "AME_LOCAL_CHAOS_DUPLICATE_RATE") or 0.0,
            crashes=crashes,
            crash_rate=_optional_float(env, "AME_LOCAL_CHAOS_CRASH_RATE") or 0.0,
            seed=int(env.get("AME_LOCAL_CHAOS_SEED", "0").strip() or "0"),
        )


@dataclass
class LocalConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    partners_port: int = 8100
    database_url: str = field(default_factory=default_database_url)
    # Partner URLs given in the environment; the simulator runs unless all of them are set.
    partner_urls: dict[str, str] = field(default_factory=dict)
    simulator_seed_dir: str | None = None
    queue_prefix: str = ""
    bucket: str = DEFAULT_BUCKET
    secrets: dict[str, str] = field(default_factory=dict)  # AME_LOCAL_SECRETS
    # None keeps each queue's visibility timeout from chalicelib/queues.py (what AWS uses);
    # a few seconds makes failed messages come back quickly on a laptop.
    visibility_timeout: int | None = None
    # rate(...) and cron(...) schedules all fire every this many seconds locally.
    schedule_interval_seconds: float = 10.0
    # The partner probe (resume on recovery, docs/resilience.md) fires more often than the other schedules,
    # so parked orders resume within seconds of a partner's return (AME_LOCAL_PROBE_SECONDS); never more
    # than five times as often as they do, so slowing the schedules down (tests) slows it too.
    probe_interval_seconds: float = 2.0

    @property
    def effective_probe_interval_seconds(self) -> float:
        return max(self.probe_interval_seconds, self.schedule_interval_seconds / 5)

    # Retry settings and extra ASL placeholders: moto really sleeps, so keep retries short locally.
    asl_substitutions: dict[str, str] = field(default_factory=lambda: dict(LOCAL_ASL_SUBSTITUTIONS))
    statemachine_path: Path = REPO_ROOT / "statemachine.asl.json"
    serve_http: bool = True
    # Logical queues whose consumer is not started (AME_LOCAL_PAUSED_QUEUES=creation,result).
    paused_queues: tuple[str, ...] = ()
    # The in-process AWS is also served over HTTP here for operator tools (None: not served).
    aws_port: int | None = None
    # Start a product stand-in on each free loopback webhook port (AME_LOCAL_WEBHOOK_RECEIVER=0 to skip).
    webhook_receiver: bool = True
    # One receiver on this port for every seeded loopback webhook, the seed's URLs pointed at it (0 = any free
    # port, AME_LOCAL_WEBHOOK_PORT): parallel stacks then never fight over the seed's fixed 9100.
    webhook_port: int | None = None
    # The product stand-ins' own processing time per webhook (AME_LOCAL_WEBHOOK_DELAY_MS; benchmarks).
    webhook_delay_seconds: float = 0.0
    run_migrations: bool = True
    # The local token issuer: its key file (None: .local/issuer-key.pem) and JWKS port (0 = any free one).
    issuer_key_path: Path | None = None
    issuer_port: int = 0
    # Faults in the AWS emulation itself (AME_LOCAL_CHAOS_*): duplicate SQS deliveries, killed Lambdas.
    chaos: ChaosConfig = field(default_factory=ChaosConfig)
    # Past orders generated at start when the database has none of them (AME_LOCAL_ANALYTICS_SEED; `make
    # run` asks for 2,000 over 60 days), so the Painel and `bin/ame analytics query` show something at once.
    analytics_seed_orders: int = 0

    @property
    def simulator_needed(self) -> bool:
        return not all(self.partner_urls.get(name) for name in PARTNER_URL_VARIABLES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalConfig:
        env = os.environ if environ is None else environ
        visibility = env.get("AME_LOCAL_VISIBILITY_TIMEOUT", "").strip()
        config = cls(
            host=env.get("AME_HOST", "127.0.0.1"),
            port=int(env.get("AME_PORT", "8000")),
            partners_port=int(env.get("AME_PARTNERS_PORT", "8100")),
            database_url=env.get("AME_DATABASE_URL") or default_database_url(),
            partner_urls={k: env[k] for k in PARTNER_URL_VARIABLES if env.get(k)},
            simulator_seed_dir=env.get("AME_PARTNERS_SEED_DIR") or None,
            queue_prefix=env.get("AME_QUEUE_PREFIX", ""),
            bucket=env.get("AME_BUCKET") or DEFAULT_BUCKET,
            secrets=_json_object(env, "AME_LOCAL_SECRETS"),
            visibility_timeout=int(visibility) if visibility else None,
            asl_substitutions={**LOCAL_ASL_SUBSTITUTIONS, **_json_object(env, "AME_LOCAL_ASL_SUBSTITUTIONS")},
            webhook_receiver=env.get("AME_LOCAL_WEBHOOK_RECEIVER", "1").strip().lower() not in ("0", "false", "no"),
        )
        config.aws_port = int(env.get("AME_AWS_PORT", "8200"))
        config.paused_queues = tuple(q.strip() for q in env.get("AME_LOCAL_PAUSED_QUEUES", "").split(",") if q.strip())
        config.issuer_key_path = Path(env["AME_LOCAL_ISSUER_KEY"]) if env.get("AME_LOCAL_ISSUER_KEY") else None
        config.issuer_port = int(env.get("AME_ISSUER_PORT", "0"))
        webhook_port = env.get("AME_LOCAL_WEBHOOK_PORT", "").strip()
        config.webhook_port = int(webhook_port) if webhook_port else None
        config.webhook_delay_seconds = (_optional_float(env, "AME_LOCAL_WEBHOOK_DELAY_MS") or 0.0) / 1000
        config.chaos = ChaosConfig.from_env(env)
        config.analytics_seed_orders = int(env.get("AME_LOCAL_ANALYTICS_SEED", "0").strip() or "0")
        if env.get("AME_ANALYTICS_LOCAL_DIR"):
            # The exports of the stack and of `bin/ame analytics export` hash requesters with the same key.
            from ame_ops.analytics import local_hmac_key

            ref = env.get("AME_ANALYTICS_HMAC_SECRET_REF", "ame/analytics/requester-hmac")
            config.secrets.setdefault(ref, local_hmac_key().decode("ascii"))
        interval = _optional_float(env, "AME_LOCAL_SCHEDULE_SECONDS")
        if interval is not None:
            config.schedule_interval_seconds = interval
        probe = _optional_float(env, "AME_LOCAL_PROBE_SECONDS")
        if probe is not None:
            config.probe_interval_seconds = probe
        return config
