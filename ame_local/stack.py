"""The local stack of `make run` (docs/contracts.md §4): simulator, database, moto, event sources and the API."""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from datetime import UTC
from pathlib import Path
from typing import Any

from ame_local.aws import LAMBDA_TIMEOUT_SECONDS, LocalAws
from ame_local.config import PARTNER_URL_VARIABLES, REPO_ROOT, LocalConfig
from ame_local.pollers import EventSources
from ame_local.secrets import LocalSecretsStore, secret_refs_in

logger = logging.getLogger("ame_local.stack")

FAKE_AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class LocalStack:
    """Starts everything AME needs, in order, and stops it in reverse. Use as a context manager.

    `app` is the Chalice app; by default the repo's app.py, imported at start (tests pass their own).
    """

    def __init__(self, config: LocalConfig | None = None, app: Any = None):
        self.config = config if config is not None else LocalConfig.from_env()
        self.app = app
        self.simulator: Any = None
        self.aws: LocalAws | None = None
        self.event_sources: EventSources | None = None
        self.secrets = LocalSecretsStore(self.config.secrets)
        self.api_url: str | None = None
        self.issuer: Any = None  # ame_local.issuer.LocalIssuer, unless AME_JWKS_URL names another issuer
        self.jwks_url: str | None = None
        self._jwks_server: Any = None
        self.webhook_receivers: list[Any] = []
        self.partner_urls: dict[str, str] = {}
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._started = False
        self.aws_endpoint_url: str | None = None
        self._moto_server: Any = None
        self.oidc: Any = None  # ame_local.oidc.OidcProvider, served at /oidc with the portal
        self._sites: Any = None
        self._unregister_metrics: Any = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LocalStack:
        if self._started:
            return self
        self._started = True
        try:
            self._start_partners()
            self._start_issuer()
            if self.app is None:
                self.app = importlib.import_module("app").app  # declarations only: reads no settings
            if self.config.serve_http:
                self._bind_http()  # the port first: the portal's sign-in issuer is named after it
            self._set_environment()
            if self.config.run_migrations:
                self._migrate()
            if self.config.analytics_seed_orders:
                self._seed_analytics(self.config.analytics_seed_orders)
            if self.app is None:
                self.app = importlib.import_module("app").app
            self._start_aws()
            if self.config.webhook_receiver:
                self._start_webhook_receivers()
            self.event_sources = EventSources(
                self.app,
                self.aws.event_source_sqs(),
                self.aws.queue_urls,
                self.aws.queue_arns,
                schedule_interval_seconds=self.config.schedule_interval_seconds,
                schedule_intervals={"resume_parked": self.config.effective_probe_interval_seconds},
                paused=self.config.paused_queues,
                duplicate_rate=self.config.chaos.duplicate_rate,
                seed=self.config.chaos.seed,
                # The Painel shows what the database holds as soon as the stack is up, not a schedule later.
                at_start=("export_analytics",),
            )
            if self.config.chaos.active:
                logger.warning("chaos is on: %s", self.config.chaos)
            self.event_sources.start()
            if self.config.serve_http:
                self._serve_http()
            if self.config.aws_port is not None:
                self._serve_aws_endpoint()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        steps = (
            self._stop_aws_endpoint,
            self._stop_http,
            lambda: self.event_sources and self.event_sources.stop(),
            lambda: self.aws and self.aws.stop(),
            self._stop_webhook_receivers,
            lambda: self.simulator and self.simulator.stop(),
            lambda: self._jwks_server and self._jwks_server.stop(),
            self._restore_environment,
        )
        for step in steps:
            try:
                step()
            except Exception:
                logger.exception("error while stopping the local stack")
        self.event_sources = None
        self.aws = None
        self.simulator = None
        self._jwks_server = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- what tests and the CLI use ------------------------------------------------------------
    @property
    def sqs(self) -> Any:
        return self._client("sqs")

    @property
    def sfn(self) -> Any:
        return self._client("stepfunctions")

    @property
    def s3(self) -> Any:
        return self._client("s3")

    @property
    def state_machine_arn(self) -> str:
        assert self.aws is not None and self.aws.state_machine_arn, "the stack is not started"
        return self.aws.state_machine_arn

    def queue_url(self, logical: str) -> str:
        assert self.aws is not None, "the stack is not started"
        return self.aws.queue_url(logical)

    def dlq_url(self, logical: str) -> str:
        assert self.aws is not None, "the stack is not started"
        return self.aws.dlq_url(logical)

    def _client(self, service: str) -> Any:
        assert self.aws is not None, "the stack is not started"
        return self.aws.client(service)

    # -- steps ---------------------------------------------------------------------------------
    def _start_partners(self) -> None:
        urls = dict(self.config.partner_urls)
        if self.config.simulator_needed:
            from ame_local.simulator import start_simulator

            self.simulator = start_simulator(
                self.config.host, self.config.partners_port, seed_dir=self.config.simulator_seed_dir
            )
            for name in PARTNER_URL_VARIABLES:
                urls.setdefault(name, self.simulator.url)
        self.partner_urls = urls

    def _environment(self) -> dict[str, str]:
        env: dict[str, str] = {}
        chalice_config = REPO_ROOT / ".chalice" / "config.json"
        if chalice_config.exists():
            declared = json.loads(chalice_config.read_text(encoding="utf-8"))
            for name, value in declared.get("environment_variables", {}).items():
                if name not in os.environ:
                    env[name] = str(value)
        # The deployed stages name themselves in config.json; locally the stage is "local".
        env["AME_STAGE"] = os.environ.get("AME_STAGE", "local")
        env.update(self.partner_urls)
        env.update(
            {
                "AME_DATABASE_URL": self.config.database_url,
                "AME_QUEUE_PREFIX": self.config.queue_prefix,
                "AME_BUCKET": self.config.bucket,
                "AWS_DEFAULT_REGION": "us-east-1",
                **FAKE_AWS_CREDENTIALS,
                # Local only (docs/security.md): webhooks to the loopback receivers over http, and a
                # database URL or cursor key given in the environment. Never honoured inside Lambda.
                "AME_WEBHOOK_ALLOW_LOCAL": "1",
                "AME_ALLOW_PLAIN_SECRETS": "1",
            }
        )
        from ame_local.config import state_machine_arn

        env["AME_STATE_MACHINE_ARN"] = state_machine_arn()
        # Schedules fire every few seconds locally; the analytics export (hourly in AWS) once a minute.
        env["AME_ANALYTICS_MIN_INTERVAL_SECONDS"] = os.environ.get("AME_ANALYTICS_MIN_INTERVAL_SECONDS", "60")
        # One probe run spreads its re-drives over one probe interval, so runs never overlap (resume rate).
        spread = max(1.0, self.config.effective_probe_interval_seconds)
        env["AME_RESUME_SPREAD_SECONDS"] = os.environ.get("AME_RESUME_SPREAD_SECONDS", f"{spread:g}")
        if self._jwks_server is not None:
            from ame_local.issuer import AUDIENCE, ISSUER

            env.update({"AME_JWKS_URL": self.jwks_url, "AME_TOKEN_ISSUER": ISSUER, "AME_TOKEN_AUDIENCE": AUDIENCE})
        if self.oidc is not None:
            # The portal's sign-in, accepted through the same path as Cognito when deployed (docs/deploy.md).
            from ame_local.oidc import AME_ISSUER_RULES

            issuers = json.loads(os.environ.get("AME_TOKEN_ISSUERS") or "{}")
            issuers[self.oidc.issuer] = {"jwks_url": self.oidc.jwks_url, **AME_ISSUER_RULES}
            env["AME_TOKEN_ISSUERS"] = json.dumps(issuers)
        return env

    def _set_environment(self) -> None:
        for name, value in self._environment().items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        self._forget_cached_settings()

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        self._forget_cached_settings()

    @staticmethod
    def _forget_cached_settings() -> None:
        # Settings are read once per process; a stack started after another must not see the old ones.
        from chalicelib.bootstrap import set_container
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
        set_container(None)  # the composition root caches settings and adapters too

    def _start_issuer(self) -> None:
        """The local token issuer (`make token`) and its JWKS, unless AME_JWKS_URL points elsewhere."""
        if os.environ.get("AME_JWKS_URL"):
            self.jwks_url = os.environ["AME_JWKS_URL"]
            return
        from ame_local.issuer import JwksServer, LocalIssuer

        self.issuer = LocalIssuer.load_or_create(self.config.issuer_key_path)
        self._jwks_server = JwksServer(self.issuer, self.config.host, self.config.issuer_port).start()
        self.jwks_url = self._jwks_server.url

    def _migrate(self) -> None:
        url = self.config.database_url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        from migrations.runner import upgrade

        upgrade(url)

    def _seed_analytics(self, count: int) -> None:
        """Past orders for the Painel (ame_local/analytics_seed.py), once: skipped when they are there."""
        from datetime import datetime, timedelta

        import sqlalchemy as sa

        from ame_local.analytics_seed import seed_orders
        from chalicelib.adapters.db.engine import create_engine_for
        from chalicelib.adapters.db.schema import orders

        engine = create_engine_for(self.config.database_url)
        try:
            with engine.connect() as conn:
                if conn.execute(sa.select(orders.c.order_key).where(orders.c.created_by == "seed").limit(1)).first():
                    return
            days = 60
            first = datetime.now(UTC).date() - timedelta(days=days - 1)
            seed_orders(engine, count, first, days, in_flight=False)
            logger.warning("analytics: %d past orders generated over %d days for the Painel", count, days)
        finally:
            engine.dispose()

    def _start_aws(self) -> None:
        seed_dir = self.config.simulator_seed_dir or (REPO_ROOT / "ame_local" / "simulator")
        if self.simulator is not None:
            self.secrets.ensure(secret_refs_in(seed_dir))
        self.aws = LocalAws(
            self.app,
            queue_prefix=self.config.queue_prefix,
            visibility_timeout=self.config.visibility_timeout,
            bucket=self.config.bucket,
            secrets=self.secrets,
            statemachine_path=self.config.statemachine_path,
            asl_substitutions=self.config.asl_substitutions,
            chaos=self.config.chaos,
            speedups=True,  # ame_local/speedups.py: moto's per-execution and per-call overheads removed
        )
        self.aws.start()

    def _start_webhook_receivers(self) -> None:
        """A product stand-in on each loopback port named by a seeded area's webhook, when that port is
        free; a busy port is left to whoever listens there (another stack, a real product)."""
        from urllib.parse import urlsplit

        from ame_local.webhook_receiver import WebhookReceiver, webhooks_in

        if self.simulator is None:
            return
        by_address: dict[tuple[str, int], dict[str, str]] = {}
        for hook in webhooks_in(list(self.simulator.seed.areas.values())):
            parts = urlsplit(hook["url"])
            if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port:
                by_address.setdefault((parts.hostname, parts.port), {})[parts.path] = hook["secret_ref"]
        if self.config.webhook_port is not None and by_address:
            self._start_one_webhook_receiver(by_address)
            return
        for (host, port), refs in by_address.items():

            def secret_for(path: str, refs: dict[str, str] = refs) -> str | None:
                return self.secrets.get(refs[path]) if path in refs else None

            try:
                receiver = WebhookReceiver(secret_for, host, port, delay_seconds=self.config.webhook_delay_seconds)
            except OSError:
                logger.info("webhook port %s:%s is taken; no local receiver started there", host, port)
                continue
            self.webhook_receivers.append(receiver.start())
            logger.info("webhook receiver on %s (what arrived: GET %s/_received)", receiver.base_url, receiver.base_url)

    def _start_one_webhook_receiver(self, by_address: dict[tuple[str, int], dict[str, str]]) -> None:
        """Every loopback hook path on one receiver at `config.webhook_port`; the simulator's areas then name it."""
        from urllib.parse import urlsplit, urlunsplit

        from ame_local.webhook_receiver import WebhookReceiver

        refs = {path: ref for paths in by_address.values() for path, ref in paths.items()}

        def secret_for(path: str) -> str | None:
            return self.secrets.get(refs[path]) if path in refs else None

        receiver = WebhookReceiver(
            secret_for, self.config.host, self.config.webhook_port or 0, delay_seconds=self.config.webhook_delay_seconds
        ).start()
        self.webhook_receivers.append(receiver)
        for area in self.simulator.seed.areas.values():
            hook = area.get("webhook") if isinstance(area, dict) else None
            parts = urlsplit(hook["url"]) if isinstance(hook, dict) and hook.get("url") else None
            if parts and parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port:
                hook["url"] = urlunsplit(parts._replace(netloc=f"{self.config.host}:{receiver.port}"))
        logger.info("webhook receiver on %s for every seeded loopback webhook", receiver.base_url)

    def _stop_webhook_receivers(self) -> None:
        receivers, self.webhook_receivers = self.webhook_receivers, []
        for receiver in receivers:
            receiver.stop()

    def _serve_aws_endpoint(self) -> None:
        """The same in-process AWS over HTTP, for operator tools in another process (`bin/ame dlq ...`)."""
        from moto.server import ThreadedMotoServer

        self._moto_server = ThreadedMotoServer(ip_address=self.config.host, port=self.config.aws_port, verbose=False)
        self._moto_server.start()
        host, port = self._moto_server.get_host_and_port()
        self.aws_endpoint_url = f"http://{host}:{port}"

    def _stop_aws_endpoint(self) -> None:
        if self._moto_server is not None:
            self._moto_server.stop()
            self._moto_server = None

    def _bind_http(self) -> None:
        """Bind the API's port (and mount the portal and its sign-in on it); `_serve_http` starts serving."""
        from chalice.config import Config
        from chalice.local import LocalDevServer

        from ame_local.gateway import ProblemRequestHandler
        from ame_local.portal_site import LocalSites, PortalSite, site_handler

        self._sites = LocalSites()

        gateway = ProblemRequestHandler.for_app(self.app)  # unknown paths and methods answered as API Gateway does

        class NoDelayHandler(site_handler(gateway, self._sites)):  # type: ignore[misc]
            # Without TCP_NODELAY each keep-alive answer waits ~40 ms on Nagle + delayed ACK.
            disable_nagle_algorithm = True

        _requests_per_thread(self.app)
        chalice_config = Config(
            chalice_stage="local",
            user_provided_params={
                "lambda_timeout": LAMBDA_TIMEOUT_SECONDS,
                "lambda_memory_size": 512,
            },
        )
        # chalice.local's server is a ThreadingMixIn HTTPServer: concurrent requests each get a thread.
        self._server = LocalDevServer(
            self.app, chalice_config, self.config.host, self.config.port, handler_cls=NoDelayHandler
        )
        host, port = self._server.server.server_address[:2]
        self.api_url = f"http://{host}:{port}"
        from ame_local import metrics

        # GET /metrics: the EMF figures in Prometheus format, fed by observability's metric hook.
        self._unregister_metrics = metrics.start(self._sites)
        dist = os.environ.get("AME_PORTAL_DIST")  # another build of the SPA (tests); default portal/dist
        self._sites.mount("/portal", PortalSite(self.api_url, Path(dist) if dist else None).handle)
        if self.issuer is not None:
            from ame_local.oidc import PREFIX, OidcProvider

            self.oidc = OidcProvider.for_portal(self.api_url, self.issuer)
            self._sites.mount(PREFIX, self.oidc.handle)

    def _serve_http(self) -> None:
        if self._server is None:
            self._bind_http()
        self._server_thread = threading.Thread(
            target=self._server.server.serve_forever, name="ame-local-http", daemon=True
        )
        self._server_thread.start()

    def _stop_http(self) -> None:
        if self._unregister_metrics is not None:
            self._unregister_metrics()
            self._unregister_metrics = None
        if self._server is not None:
            if self._server_thread is not None:  # shutdown() waits for serve_forever: only if it runs
                self._server.shutdown()
            self._server.server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(5.0)
            self._server_thread = None


class _PerThreadRequest:
    """`app.current_request` kept per thread. Chalice stores it on the app object, which is safe in Lambda
    (one request per instance at a time) but not behind a threading HTTP server: concurrent requests
    read each other's body, headers and token. chalice.local.create_local_server swaps the class the same
    way (LocalChalice); this getter also answers None in threads that never served a request."""

    _local = threading.local()

    @property
    def current_request(self) -> Any:
        return getattr(self._local, "request", None)

    @current_request.setter
    def current_request(self, value: Any) -> None:
        self._local.request = value


def _requests_per_thread(app: Any) -> None:
    if not isinstance(app, _PerThreadRequest):
        app.__class__ = type(f"PerThread{type(app).__name__}", (_PerThreadRequest, type(app)), {})
