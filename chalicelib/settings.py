"""The one settings model: read from the environment once, lazily, and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from chalicelib.domain.retention import RetentionPolicy
from chalicelib.domain.throttling import CallerLimits


class SettingsError(RuntimeError):
    """A required setting is missing or invalid: an error at start, never a silent default."""


class DeliveryPolicy(BaseModel):
    """Result delivery's timings (docs/delivery.md), a section of Settings read from the same variables.

    Defaults, each overridable by its variable: webhook timeout 5 s; backoff between 30 s and 900 s
    (at most 12 h); a claimed channel's lease 60 s, longer than one batch's work (the consumer's 30 s
    timeout) and shorter than the result queue's visibility timeout; 10 deliveries at once (1 to 64)."""

    webhook_timeout_seconds: float = Field(5.0, alias="AME_WEBHOOK_TIMEOUT_SECONDS", gt=0)
    backoff_base_seconds: float = Field(30.0, alias="AME_DELIVERY_BACKOFF_BASE_SECONDS", ge=0)
    backoff_max_seconds: float = Field(900.0, alias="AME_DELIVERY_BACKOFF_MAX_SECONDS", ge=0, le=43200)
    lease_seconds: float = Field(60.0, alias="AME_DELIVERY_LEASE_SECONDS", gt=0)
    concurrency: int = Field(10, alias="AME_DELIVERY_CONCURRENCY", ge=1, le=64)
    # No person (by CPF) gets more than this many notifications per channel (EMAIL, SMS) per window; the
    # rest are recorded SUPPRESSED on their orders, never silently dropped (docs/delivery.md).
    notification_cap: int = Field(10, alias="AME_NOTIFICATION_CAP", ge=1)
    notification_cap_window_seconds: float = Field(3600.0, alias="AME_NOTIFICATION_CAP_WINDOW_SECONDS", gt=0)

    model_config = {"populate_by_name": True, "extra": "ignore", "defer_build": True, "frozen": True}


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
    # Identity: tokens are RS256, checked against the issuer's JWKS; unset = every call is 401.
    jwks_url: str | None = Field(None, alias="AME_JWKS_URL")
    token_issuer: str | None = Field(None, alias="AME_TOKEN_ISSUER")
    token_audience: str = Field("ame", alias="AME_TOKEN_AUDIENCE")
    # More issuers, as JSON {issuer: {"jwks_url", "audience" | "client_ids", ...}} (docs/deploy.md):
    # the portal's sign-in (Cognito, or the local OIDC provider) next to the products' issuer.
    token_issuers: str | None = Field(None, alias="AME_TOKEN_ISSUERS")
    token_leeway_seconds: float = Field(30.0, alias="AME_TOKEN_LEEWAY_SECONDS", ge=0, le=300)
    jwks_cache_seconds: float = Field(300.0, alias="AME_JWKS_CACHE_SECONDS", ge=0)
    # Portal origins allowed by CORS, comma-separated; empty = no cross-origin access.
    cors_origins: str = Field("", alias="AME_CORS_ORIGINS")
    # Signs search cursors; unset = a random key per process (cursors then live as long as the process).
    cursor_secret: str | None = Field(None, alias="AME_CURSOR_SECRET")
    # Resilience: breaker per partner, Pessoas cache, try again later, the sweeper.
    breaker_failure_rate: float = Field(0.5, alias="AME_BREAKER_FAILURE_RATE", gt=0, le=1)
    breaker_min_calls: int = Field(10, alias="AME_BREAKER_MIN_CALLS", ge=1)
    breaker_window_seconds: float = Field(30.0, alias="AME_BREAKER_WINDOW_SECONDS", gt=0)
    breaker_open_seconds: float = Field(15.0, alias="AME_BREAKER_OPEN_SECONDS", gt=0)
    people_cache_fresh_seconds: float = Field(300.0, alias="AME_PEOPLE_CACHE_FRESH_SECONDS", ge=0)
    people_cache_stale_seconds: float = Field(86400.0, alias="AME_PEOPLE_CACHE_STALE_SECONDS", ge=0)
    redrive_base_seconds: float = Field(60.0, alias="AME_REDRIVE_BASE_SECONDS", gt=0)
    redrive_max_interval_seconds: float = Field(3600.0, alias="AME_REDRIVE_MAX_INTERVAL_SECONDS", gt=0)
    redrive_max_total_seconds: float = Field(86400.0, alias="AME_REDRIVE_MAX_TOTAL_SECONDS", gt=0)
    stuck_after_seconds: float = Field(900.0, alias="AME_STUCK_AFTER_SECONDS", gt=0)
    redrive_grace_seconds: float = Field(120.0, alias="AME_REDRIVE_GRACE_SECONDS", gt=0)
    # Resume on recovery (docs/resilience.md): re-drives started per second at most when a partner is back,
    # and how long one trigger (the scheduled probe, every minute) spreads them: rate × spread orders a run.
    resume_rate_per_second: float = Field(20.0, alias="AME_RESUME_RATE_PER_SECOND", gt=0, le=1000)
    resume_spread_seconds: float = Field(60.0, alias="AME_RESUME_SPREAD_SECONDS", ge=1, le=900)
    # Claim check: a queue message body over this many bytes travels as a reference to S3.
    claim_check_threshold_bytes: int = Field(200 * 1024, alias="AME_CLAIM_CHECK_THRESHOLD_BYTES", gt=0, le=256 * 1024)
    # Abuse and exposure (docs/security.md): loopback/http webhooks and plain secrets in the environment
    # are for the local stack only, and never honoured inside Lambda (chalicelib/adapters/runtime_secrets.py).
    webhook_allow_local: bool = Field(False, alias="AME_WEBHOOK_ALLOW_LOCAL")
    allow_plain_secrets: bool = Field(False, alias="AME_ALLOW_PLAIN_SECRETS")
    database_secret_arn: str | None = Field(None, alias="AME_DATABASE_SECRET_ARN")
    cursor_secret_name: str | None = Field(None, alias="AME_CURSOR_SECRET_NAME")
    secrets_max_age_seconds: int = Field(300, alias="AME_SECRETS_MAX_AGE_SECONDS", ge=0, le=3600)
    # Per-caller throttling (docs/security.md): JSON {"default": {"rate_per_second", "burst"}, "<client_id>":
    # {...}}; a token bucket per caller and action, in Redis when AME_REDIS_URL is set, else in this process.
    caller_limits: CallerLimits = Field(default_factory=CallerLimits, alias="AME_CALLER_LIMITS")

    # Result delivery: its own section, read from the same flat variables (AME_DELIVERY_*, AME_WEBHOOK_*).
    delivery: DeliveryPolicy = Field(default_factory=lambda: DeliveryPolicy.model_validate({}))
    # Analytics (docs/analytics.md): Parquet under s3://AME_BUCKET/<prefix>/, or a local folder when set
    # (the local stack); the requester id's HMAC key lives in Secrets Manager under this name.
    analytics_prefix: str = Field("analytics", alias="AME_ANALYTICS_PREFIX")
    analytics_local_dir: str | None = Field(None, alias="AME_ANALYTICS_LOCAL_DIR")
    analytics_hmac_secret_ref: str = Field("ame/analytics/requester-hmac", alias="AME_ANALYTICS_HMAC_SECRET_REF")
    analytics_min_interval_seconds: float = Field(0.0, alias="AME_ANALYTICS_MIN_INTERVAL_SECONDS", ge=0)

    # Data lifecycle (docs/data-lifecycle.md): periods per kind of data (AME_RETENTION_*_DAYS, a section read
    # from the same flat variables) and how the daily purge_data job paces itself.
    retention: RetentionPolicy = Field(default_factory=lambda: RetentionPolicy.model_validate({}))
    retention_batch_rows: int = Field(1000, alias="AME_RETENTION_BATCH_ROWS", ge=1, le=1000)
    retention_pause_seconds: float = Field(0.05, alias="AME_RETENTION_PAUSE_SECONDS", ge=0, le=5)
    # Stop starting new batches after this long; the function's timeout (900 s) leaves room for the last one.
    retention_time_box_seconds: float = Field(600.0, alias="AME_RETENTION_TIME_BOX_SECONDS", gt=0, le=840)
    retention_lease_seconds: float = Field(120.0, alias="AME_RETENTION_LEASE_SECONDS", gt=0, le=900)
    retention_orders_per_archive: int = Field(500, alias="AME_RETENTION_ORDERS_PER_ARCHIVE", ge=1, le=5000)
    # Archive objects under s3://AME_BUCKET/<prefix>/orders/…, or a local folder when set (the local stack).
    archive_prefix: str = Field("archive", alias="AME_ARCHIVE_PREFIX")
    archive_local_dir: str | None = Field(None, alias="AME_ARCHIVE_LOCAL_DIR")

    model_config = {"populate_by_name": True, "extra": "ignore", "defer_build": True}

    @model_validator(mode="before")
    @classmethod
    def _sections_from_flat_variables(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        flat = {k: v for k, v in data.items() if isinstance(k, str) and k.startswith("AME_")}
        return {**{"delivery": flat, "retention": flat}, **data}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate({k: v for k, v in env.items() if k.startswith(("AME_", "AWS_"))})
        except ValidationError as exc:
            missing = ", ".join(
                str(e["loc"][-1] if e["loc"][0] in ("delivery", "retention") else e["loc"][0]) for e in exc.errors()
            )
            raise SettingsError(f"invalid or missing settings: {missing}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
