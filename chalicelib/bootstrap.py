"""The composition root: builds adapters on first use and reuses them across warm invocations."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.settings import Settings


class Container:
    """Every collaborator, built lazily from one Settings object. Tests may override attributes."""

    def __init__(self, settings: Settings | None = None):
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        # Imported here: building the settings model is the dearest import of the app (cold start).
        from chalicelib.settings import get_settings

        return self._settings or get_settings()

    @cached_property
    def clock(self):
        from chalicelib.adapters.clock import SystemClock

        return SystemClock()

    @cached_property
    def engine(self):
        from chalicelib.adapters import runtime_secrets
        from chalicelib.adapters.db.engine import create_engine_for

        s = self.settings
        if s.database_secret_arn:  # credentials from Secrets Manager, re-read when the password rotates
            engine = create_engine_for(s.database_url)
            credentials = runtime_secrets.database_credentials(self.runtime_secrets, s.database_secret_arn)
            return runtime_secrets.attach_rotating_credentials(engine, credentials)
        runtime_secrets.refuse_plain_database_password(s.database_url, s)
        return create_engine_for(s.database_url)

    @cached_property
    def runtime_secrets(self):
        from chalicelib.adapters.runtime_secrets import RuntimeSecrets

        return RuntimeSecrets(lambda: self.boto_session.client("secretsmanager"), self.settings.secrets_max_age_seconds)

    @cached_property
    def repository(self):
        from chalicelib.adapters.db.repository import SqlOrderRepository

        return SqlOrderRepository(self.engine, on_status_change=self.order_changes.announce)

    @cached_property
    def order_changes(self):
        from chalicelib.adapters.order_changes import build_order_changes

        # Between Lambdas through Redis when configured; in this process otherwise (the local stack).
        return build_order_changes(self.settings.redis_url)

    @cached_property
    def cache(self):
        from chalicelib.adapters.cache import build_cache

        return build_cache(self.settings.redis_url)

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ame-io")

    @cached_property
    def http_session(self):
        from chalicelib.adapters.partners import build_session

        return build_session()

    def _partner_options(self) -> dict[str, Any]:
        """What every partner client is built with: the configured timeout and the shared HTTP session."""
        return {"timeout": self.settings.partner_timeout_seconds, "session": self.http_session}

    @cached_property
    def areas(self):
        from chalicelib.adapters.cached_directories import CachedAreaDirectory
        from chalicelib.adapters.partners import ParametrizadorClient

        inner = ParametrizadorClient(self.settings.parametrizador_url, **self._partner_options())
        return CachedAreaDirectory(inner, self.cache, self.settings.area_cache_ttl_seconds)

    @cached_property
    def domains(self):
        from chalicelib.adapters.cached_directories import CachedDomainDirectory
        from chalicelib.adapters.partners import DominiosClient

        inner = DominiosClient(self.settings.dominios_url, **self._partner_options())
        return CachedDomainDirectory(inner, self.cache, self.settings.area_cache_ttl_seconds)

    @cached_property
    def breaker_store(self):
        from chalicelib.adapters.breaker import InProcessBreakerStore, RedisBreakerStore

        # Shared by every Lambda instance when Redis is configured; this process only otherwise.
        return RedisBreakerStore(self.settings.redis_url) if self.settings.redis_url else InProcessBreakerStore()

    @cached_property
    def breakers(self) -> dict[str, Any]:
        from chalicelib.adapters.breaker import BreakerPolicy, CircuitBreaker
        from chalicelib.observability import record_breaker_state
        from chalicelib.services.recovery import RECOVERABLE_PARTNERS

        s = self.settings
        policy = BreakerPolicy(
            failure_rate=s.breaker_failure_rate,
            min_calls=s.breaker_min_calls,
            window_seconds=s.breaker_window_seconds,
            open_seconds=s.breaker_open_seconds,
        )

        def on_state(partner: str, is_open: bool) -> None:
            record_breaker_state(partner, is_open)
            if not is_open:  # closed after a successful half-open probe: the partner is back
                self.recovery.partner_recovered(partner)

        return {
            name: CircuitBreaker(name, self.breaker_store, policy, on_state=on_state) for name in RECOVERABLE_PARTNERS
        }

    def _guarded(self, name: str, client: Any) -> Any:
        from chalicelib.adapters.breaker import BreakerGuarded

        return BreakerGuarded(client, self.breakers[name])

    @cached_property
    def partner_clients(self) -> dict[str, Any]:
        """The breaker-guarded partners' HTTP clients, unguarded: the scheduled health probe calls them."""
        from chalicelib.adapters.partners import CadastroClient, PessoasClient, PoderesClient

        s, options = self.settings, self._partner_options()
        return {
            "poderes": PoderesClient(s.poderes_url, **options),
            "pessoas": PessoasClient(s.pessoas_url, **options),
            "cadastro": CadastroClient(s.cadastro_url, **options),
        }

    @cached_property
    def powers(self):
        # Powers decide who may sign: never served from a cache, only guarded by the breaker.
        return self._guarded("poderes", self.partner_clients["poderes"])

    @cached_property
    def people(self):
        from chalicelib.adapters.people_cache import CachedPeopleDirectory
        from chalicelib.observability import record_cache

        return CachedPeopleDirectory(
            self._guarded("pessoas", self.partner_clients["pessoas"]),
            self.cache,
            self.settings.people_cache_fresh_seconds,
            self.settings.people_cache_stale_seconds,
            on_cache=lambda hit: record_cache("people", hit),
        )

    @cached_property
    def operators(self):
        return self._guarded("cadastro", self.partner_clients["cadastro"])

    @cached_property
    def redrive(self):
        from chalicelib.services.redrive import Redrive, RedrivePolicy

        s = self.settings
        policy = RedrivePolicy(
            base_seconds=s.redrive_base_seconds,
            max_interval_seconds=s.redrive_max_interval_seconds,
            max_total_seconds=s.redrive_max_total_seconds,
            stuck_after_seconds=s.stuck_after_seconds,
            grace_seconds=s.redrive_grace_seconds,
        )
        return Redrive(self.repository, self.queue, self.workflow_starter, self.workflow, self.clock, policy)

    @cached_property
    def recovery(self):
        from chalicelib.adapters.partners import health_probes
        from chalicelib.services.recovery import PartnerRecovery, ResumePolicy

        s = self.settings
        policy = ResumePolicy(
            rate_per_second=s.resume_rate_per_second,
            spread_seconds=s.resume_spread_seconds,
            grace_seconds=s.redrive_grace_seconds,
        )
        # Through the breakers: while one is open its partner is not called (the probe waits for the open
        # period, as any caller does); half-open, the probe is the breaker's probe and its success closes it.
        probes = health_probes(self.powers, self._guarded("pessoas", self.partner_clients["pessoas"]), self.operators)
        return PartnerRecovery(self.repository, self.queue, probes, self.clock, policy)

    @cached_property
    def notifications(self):
        from chalicelib.adapters.partners import NotificacaoClient

        return NotificacaoClient(self.settings.notificacao_url, **self._partner_options())

    @cached_property
    def boto_session(self):
        import boto3

        return boto3.session.Session(region_name=self.settings.aws_region)

    @cached_property
    def queue(self):
        from chalicelib.adapters.aws import SqsMessageQueue

        return SqsMessageQueue(
            lambda: self.boto_session.client("sqs"), prefix=self.settings.queue_prefix, claims=self.claim_checks
        )

    @cached_property
    def workflow_starter(self):
        from chalicelib.adapters.aws import StepFunctionsStarter

        return StepFunctionsStarter(lambda: self.boto_session.client("stepfunctions"), self.settings.state_machine_arn)

    @cached_property
    def intake(self):
        from chalicelib.services.intake import IntakeService

        return IntakeService(self.areas, self.domains, self.repository, self.queue, self.clock, self.executor)

    @cached_property
    def outbox_relay(self):
        from chalicelib.services.intake import OutboxRelay

        return OutboxRelay(self.repository, self.queue, self.clock, self.settings.outbox_relay_min_age_seconds)

    @cached_property
    def workflow(self):
        from chalicelib.services.workflow import EnvelopeWorkflow

        return EnvelopeWorkflow(self.repository, self.powers, self.people, self.operators, self.queue, self.clock)

    @cached_property
    def launcher(self):
        from chalicelib.services.launch import WorkflowLauncher

        return WorkflowLauncher(self.repository, self.workflow_starter, self.clock)

    # -- per-caller throttling (docs/security.md) ---------------------------------------------
    @cached_property
    def rate_limiter(self):
        from chalicelib.adapters.rate_limit import build_rate_limiter

        # One bucket per caller shared by every Lambda instance when Redis is configured; this process's
        # own buckets otherwise (the local stack runs the API in one process, so they are exact there).
        return build_rate_limiter(self.settings.redis_url)

    @cached_property
    def caller_throttle(self):
        from chalicelib.services.throttling import CallerThrottle

        return CallerThrottle(self.rate_limiter, self.settings.caller_limits)

    # -- identity, reads, search and what-if --------------------------------------------
    @cached_property
    def token_verifier(self):
        from chalicelib.auth import JwksCache, TokenVerifier, TrustedIssuer, http_jwks_fetcher, parse_trusted_issuers
        from chalicelib.settings import SettingsError

        s = self.settings

        def jwks_for(url: str) -> JwksCache:
            return JwksCache(http_jwks_fetcher(url, s.partner_timeout_seconds), ttl_seconds=s.jwks_cache_seconds)

        try:
            configured = parse_trusted_issuers(s.token_issuers)
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
        trusted = [
            TrustedIssuer.from_config(issuer, config, jwks_for(config["jwks_url"]))
            for issuer, config in configured.items()
        ]
        return TokenVerifier(
            jwks_for(s.jwks_url) if s.jwks_url else None,
            s.token_issuer,
            s.token_audience,
            s.token_leeway_seconds,
            trusted=trusted,
        )

    @cached_property
    def order_store(self):
        from chalicelib.adapters.db.search import SqlOrderSearch

        return SqlOrderSearch(self.engine)

    @cached_property
    def order_queries(self):
        from chalicelib.adapters.runtime_secrets import cursor_secret
        from chalicelib.services.search import CursorCodec, OrderQueries

        key = cursor_secret(self.settings, lambda: self.runtime_secrets)
        return OrderQueries(
            self.repository, self.order_store, CursorCodec.from_secret(key), self.deliveries, self.order_changes
        )

    @cached_property
    def area_options(self):
        from chalicelib.services.area_options import AreaOptions

        return AreaOptions(self.areas, self.domains, self.executor)

    @cached_property
    def quorum_simulator(self):
        from chalicelib.services.simulation import QuorumSimulator

        return QuorumSimulator(
            self.areas, self.powers, self.people, self.operators, self.simulation_journal, self.clock, self.executor
        )

    @cached_property
    def simulation_journal(self):
        from chalicelib.adapters.db.simulations import SqlSimulationJournal

        return SqlSimulationJournal(self.engine)

    # -- result delivery -------------------------------------------------------------------
    @cached_property
    def delivery_settings(self):
        return self.settings.delivery

    @cached_property
    def secrets(self):
        from chalicelib.adapters.aws import SecretsManagerSecrets

        return SecretsManagerSecrets(lambda: self.boto_session.client("secretsmanager"))

    @cached_property
    def webhooks(self):
        from chalicelib.adapters.webhooks import WebhookSender

        timings = self.delivery_settings
        from chalicelib.adapters.runtime_secrets import local_only

        return WebhookSender(
            self.secrets,
            timings.webhook_timeout_seconds,
            pool_size=timings.concurrency,
            allow_local=local_only(self.settings.webhook_allow_local),
        )

    @cached_property
    def deliveries(self):
        from chalicelib.adapters.db.deliveries import SqlDeliveryRepository

        return SqlDeliveryRepository(self.engine)

    @cached_property
    def delivery(self):
        from chalicelib.services.delivery import DeliveryService

        return DeliveryService(
            self.repository,
            self.deliveries,
            self.webhooks,
            self.notifications,
            self.queue,
            self.clock,
            self.delivery_settings,
        )

    @cached_property
    def delivery_executor(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        # Its own pool: a batch's deliveries overlap without starving the intake's partner calls.
        return ThreadPoolExecutor(max_workers=self.delivery_settings.concurrency, thread_name_prefix="ame-delivery")

    @cached_property
    def result_redelivery(self):
        from chalicelib.adapters.aws import SqsRedelivery

        return SqsRedelivery(lambda: self.boto_session.client("sqs"))

    # -- claim check ------------------------------------------------------------------------
    @cached_property
    def claim_checks(self):
        from chalicelib.adapters.claim_check import S3ClaimChecks

        return S3ClaimChecks(
            lambda: self.boto_session.client("s3"), self.settings.bucket, self.settings.claim_check_threshold_bytes
        )

    # -- analytics (docs/analytics.md) ----------------------------------------------------------------
    @cached_property
    def analytics_store(self):
        from chalicelib.adapters.db.analytics import SqlAnalyticsStore

        return SqlAnalyticsStore(self.engine)

    @cached_property
    def analytics_objects(self):
        from chalicelib.adapters.object_store import LocalObjectStore, S3ObjectStore

        s = self.settings
        if s.analytics_local_dir:
            return LocalObjectStore(s.analytics_local_dir)
        if not s.bucket:
            from chalicelib.settings import SettingsError

            raise SettingsError("invalid or missing settings: AME_BUCKET (the analytics export writes there)")
        return S3ObjectStore(lambda: self.boto_session.client("s3"), s.bucket, s.analytics_prefix)

    @cached_property
    def analytics_export(self):
        # pyarrow is imported here, inside the export function only (its layer); never by the API.
        from chalicelib.adapters.parquet import parquet_bytes
        from chalicelib.services.analytics_export import AnalyticsExport

        ref = self.settings.analytics_hmac_secret_ref
        from chalicelib.adapters.db.analytics import SqlAnalyticsStore, create_export_engine

        url = self.settings.database_url
        # SQLite (the local stack): the same engine, so its writer gate also covers the export's writes.
        store = SqlAnalyticsStore(self.engine if url.startswith("sqlite") else create_export_engine(url))
        return AnalyticsExport(
            store,
            self.analytics_objects,
            parquet_bytes,
            lambda: self.secrets.get(ref).encode("utf-8"),
            self.clock,
            min_interval_seconds=self.settings.analytics_min_interval_seconds,
        )

    @cached_property
    def insights(self):
        from chalicelib.services.insights import InsightsQueries

        return InsightsQueries(self.analytics_store, self.clock)

    @cached_property
    def operations_report(self):
        from chalicelib.adapters.db.backlog import SqlParkedBacklog
        from chalicelib.services.operations_report import OperationsReport

        return OperationsReport(SqlParkedBacklog(self.engine), SharedBreakerStates(self), self.clock)

    @cached_property
    def partner_call_ledger(self):
        return self.analytics_store.add_partner_calls

    # -- data lifecycle (docs/data-lifecycle.md) ----------------------------------------------------------
    @cached_property
    def retention_store(self):
        from chalicelib.adapters.db.retention import SqlRetentionStore

        return SqlRetentionStore(self.engine)

    @cached_property
    def archive_objects(self):
        from chalicelib.adapters.object_store import LocalObjectStore, S3ObjectStore

        s = self.settings
        if s.archive_local_dir:
            return LocalObjectStore(s.archive_local_dir)
        if not s.bucket:
            from chalicelib.settings import SettingsError

            raise SettingsError("invalid or missing settings: AME_BUCKET (the retention archive writes there)")
        return S3ObjectStore(
            lambda: self.boto_session.client("s3"),
            s.bucket,
            s.archive_prefix,
            content_type="application/gzip",
            server_side_encryption="AES256",
        )

    @cached_property
    def retention(self):
        from chalicelib import observability
        from chalicelib.services.retention import RetentionJob

        s = self.settings
        return RetentionJob(
            self.retention_store,
            self.retention_store,
            self.archive_objects,
            self.clock,
            s.retention,
            batch_rows=s.retention_batch_rows,
            pause_seconds=s.retention_pause_seconds,
            time_box_seconds=s.retention_time_box_seconds,
            lease_seconds=s.retention_lease_seconds,
            orders_per_archive=s.retention_orders_per_archive,
            metrics=observability.record_retention,
        )


class SharedBreakerStates:
    """The BreakerStates port over the container's breakers and their shared store."""

    def __init__(self, owner: Container) -> None:
        self._owner = owner

    def open_partners(self) -> dict[str, bool]:
        import time

        now = time.time()
        store = self._owner.breaker_store
        return {name: store.open_until(name) > now for name in self._owner.breakers}


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container()
                _register_partner_call_sink()
    return _container


def _register_partner_call_sink() -> None:
    from chalicelib import observability

    observability.set_partner_call_sink(lambda: container().partner_call_ledger)


def set_container(new: Container | None) -> None:
    """Tests and the local stack install their own container (None: rebuild from the environment)."""
    global _container
    with _lock:
        _container = new
    if new is not None:
        _register_partner_call_sink()
