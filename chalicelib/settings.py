"""The one settings model: read from the environment once, lazily, and validated."""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Mapping

from pydantic import BaseModel, Field, ValidationError


class SettingsError(RuntimeError):
    """A required setting is missing or invalid: an error at start, never a silent default."""


class Settings(BaseModel):
    stage: str = Field("local", alias="AME_STAGE")
    database_url: str = Field(alias="AME_DATABASE_URL")
    redis_url: str | None = Field(None, alias="AME_REDIS_URL")
    parametrizador_url: str = Field(alias="AME_PARAMETRIZADOR_URL")
    dominios_url: str = Field(alias="AME_DOMINIOS_URL")
    poderes_url: str = Field(alias="AME_PODERES_URL")
    pessoas_url: str = Field(alias="AME_PESSOAS_URL")
    cadastro_url: str = Field(alias="AME_CADASTRO_URL")
    notificacao_url: str = Field(alias="AME_NOTIFICACAO_URL")
    queue_prefix: str = Field("", alias="AME_QUEUE_PREFIX")
    state_machine_arn: str = Field(alias="AME_STATE_MACHINE_ARN")
    bucket: str | None = Field(None, alias="AME_BUCKET")
    aws_region: str = Field("us-east-1", alias="AWS_DEFAULT_REGION")
    partner_timeout_seconds: float = Field(3.0, alias="AME_PARTNER_TIMEOUT_SECONDS", gt=0)
    area_cache_ttl_seconds: float = Field(300.0, alias="AME_AREA_CACHE_TTL_SECONDS", ge=0)
    outbox_relay_min_age_seconds: float = Field(30.0, alias="AME_OUTBOX_RELAY_MIN_AGE_SECONDS", ge=0)
    retry_after_seconds: int = Field(5, alias="AME_RETRY_AFTER_SECONDS", ge=1)
    local_caller: str = Field("local", alias="AME_LOCAL_CALLER")

    model_config = {"populate_by_name": True, "extra": "ignore"}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate({k: v for k, v in env.items() if k.startswith(("AME_", "AWS_"))})
        except ValidationError as exc:
            missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
            raise SettingsError(f"invalid or missing settings: {missing}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
