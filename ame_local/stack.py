"""The local stack of `make run` (contracts §4): simulator, database, moto, event sources and the API."""
from __future__ import annotations

import importlib
import json
import logging
import os
import threading
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
        self.partner_urls: dict[str, str] = {}
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._saved_env: dict[str, str | None] = {}
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "LocalStack":
        if self._started:
            return self
        self._started = True
        try:
            self._start_partners()
            self._set_environment()
            if self.config.run_migrations:
                self._migrate()
            if self.app is None:
                self.app = importlib.import_module("app").app
            self._start_aws()
            self.event_sources = EventSources(
                self.app,
                self.sqs,
                self.aws.queue_urls,
                self.aws.queue_arns,
                schedule_interval_seconds=self.config.schedule_interval_seconds,
            )
            self.event_sources.start()
            if self.config.serve_http:
                self._serve_http()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        steps = (
            self._stop_http,
            lambda: self.event_sources and self.event_sources.stop(),
            lambda: self.aws and self.aws.stop(),
            lambda: self.simulator and self.simulator.stop(),
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

    def __enter__(self) -> "LocalStack":
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
            }
        )
        from ame_local.config import state_machine_arn

        env["AME_STATE_MACHINE_ARN"] = state_machine_arn()
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

    def _migrate(self) -> None:
        url = self.config.database_url
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        from migrations.runner import upgrade

        upgrade(url)

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
        )
        self.aws.start()

    def _serve_http(self) -> None:
        from chalice.config import Config
        from chalice.local import create_local_server

        chalice_config = Config(
            chalice_stage="local",
            user_provided_params={
                "lambda_timeout": LAMBDA_TIMEOUT_SECONDS,
                "lambda_memory_size": 512,
            },
        )
        # chalice.local's server is a ThreadingMixIn HTTPServer: concurrent requests each get a thread.
        self._server = create_local_server(self.app, chalice_config, self.config.host, self.config.port)
        host, port = self._server.server.server_address[:2]
        self.api_url = f"http://{host}:{port}"
        self._server_thread = threading.Thread(
            target=self._server.server.serve_forever, name="ame-local-http", daemon=True
        )
        self._server_thread.start()

    def _stop_http(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server.server_close()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join(5.0)
            self._server_thread = None
