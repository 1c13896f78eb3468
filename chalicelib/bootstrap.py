"""The composition root: builds adapters on first use and reuses them across warm invocations."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from chalicelib.settings import Settings, get_settings


class Container:
    """Every collaborator, built lazily from one Settings object. Tests may override attributes."""

    def __init__(self, settings: Settings | None = None):
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @cached_property
    def clock(self):
        from chalicelib.adapters.clock import SystemClock

        return SystemClock()

    @cached_property
    def engine(self):
        from chalicelib.adapters.db.engine import create_engine_for

        return create_engine_for(self.settings.database_url)

    @cached_property
    def repository(self):
        from chalicelib.adapters.db.repository import SqlOrderRepository

        return SqlOrderRepository(self.engine)

    @cached_property
    def cache(self):
        from chalicelib.adapters.cache import build_cache

        return build_cache(self.settings.redis_url)

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ame-io")

    @cached_property
    def http_session(self):
        from chalicelib.adapters.partners import build_session

        return build_session()

    def _partner(self, cls_name: str, url: str) -> Any:
        from chalicelib.adapters import partners

        cls = getattr(partners, cls_name)
        return cls(url, timeout=self.settings.partner_timeout_seconds, session=self.http_session)

    @cached_property
    def areas(self):
        from chalicelib.adapters.cached_directories import CachedAreaDirectory

        inner = self._partner("ParametrizadorClient", self.settings.parametrizador_url)
        return CachedAreaDirectory(inner, self.cache, self.settings.area_cache_ttl_seconds)

    @cached_property
    def domains(self):
        from chalicelib.adapters.cached_directories import CachedDomainDirectory

        inner = self._partner("DominiosClient", self.settings.dominios_url)
        return CachedDomainDirectory(inner, self.cache, self.settings.area_cache_ttl_seconds)

    @cached_property
    def powers(self):
        return self._partner("PoderesClient", self.settings.poderes_url)

    @cached_property
    def people(self):
        return self._partner("PessoasClient", self.settings.pessoas_url)

    @cached_property
    def operators(self):
        return self._partner("CadastroClient", self.settings.cadastro_url)

    @cached_property
    def notifications(self):
        return self._partner("NotificacaoClient", self.settings.notificacao_url)

    @cached_property
    def boto_session(self):
        import boto3

        return boto3.session.Session(region_name=self.settings.aws_region)

    @cached_property
    def queue(self):
        from chalicelib.adapters.aws import SqsMessageQueue

        return SqsMessageQueue(lambda: self.boto_session.client("sqs"), prefix=self.settings.queue_prefix)

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

        return WorkflowLauncher(self.repository, self.workflow_starter)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container()
    return _container


def set_container(new: Container | None) -> None:
    """Tests and the local stack install their own container (None: rebuild from the environment)."""
    global _container
    with _lock:
        _container = new
