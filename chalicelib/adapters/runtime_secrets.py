"""Secrets read at run time from Secrets Manager (Powertools parameters, cached), never from the environment.

Anyone allowed `lambda:GetFunctionConfiguration` reads a function's environment, so in AWS it carries only
the secrets' names: AME_DATABASE_SECRET_ARN (RDS's `{"username", "password", ...}` JSON) and
AME_CURSOR_SECRET_NAME (the key that signs search cursors). Values are cached for
AME_SECRETS_MAX_AGE_SECONDS by Powertools' SecretsProvider, so a rotated secret is picked up within that
age; a database login refused with the cached password reads the secret again at once and retries.

Plain secrets in the environment (a password inside AME_DATABASE_URL, AME_CURSOR_SECRET) are the local
stack's: only with AME_ALLOW_PLAIN_SECRETS=1, and never inside Lambda.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.settings import SettingsError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from chalicelib.settings import Settings

#: MySQL's "Access denied for user": the password the pool used is no longer the database's.
MYSQL_ACCESS_DENIED = 1045


def in_lambda(environ: Mapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get("AWS_LAMBDA_FUNCTION_NAME"))


def local_only(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A switch meant for the local stack (loopback webhooks, plain secrets): honoured outside Lambda only,
    so a deployed function cannot be talked into it by an environment variable."""
    return bool(flag) and not in_lambda(environ)


class RuntimeSecrets:
    """Secrets Manager through Powertools' SecretsProvider: one client, values cached for `max_age` seconds."""

    def __init__(self, client_factory: Callable[[], Any], max_age: int = 300):
        self._client_factory = client_factory
        self._max_age = max_age
        self._provider: Any = None
        self._lock = threading.Lock()

    def _secrets(self) -> Any:
        if self._provider is None:
            with self._lock:
                if self._provider is None:
                    from aws_lambda_powertools.utilities.parameters import SecretsProvider

                    self._provider = SecretsProvider(boto3_client=self._client_factory())
        return self._provider

    def text(self, name: str, force: bool = False) -> str:
        return self._secrets().get(name, max_age=self._max_age, force_fetch=force)

    def json(self, name: str, force: bool = False) -> dict[str, Any]:
        value = self._secrets().get(name, max_age=self._max_age, transform="json", force_fetch=force)
        if not isinstance(value, dict):
            raise SettingsError(f"secret {name} is not a JSON object")
        return value


def database_credentials(secrets: RuntimeSecrets, secret_arn: str) -> Callable[[bool], tuple[str, str]]:
    """force -> (username, password) from the database secret; force=True skips the cache."""

    def read(force: bool = False) -> tuple[str, str]:
        value = secrets.json(secret_arn, force=force)
        try:
            return str(value["username"]), str(value["password"])
        except KeyError as exc:
            raise SettingsError(f"database secret has no {exc.args[0]}") from None

    return read


def refuse_plain_database_password(url: str, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
    """A password inside AME_DATABASE_URL is a secret in the environment: the local stack's only."""
    from sqlalchemy.engine import make_url

    if make_url(url).password and not local_only(settings.allow_plain_secrets, environ):
        raise SettingsError(
            "AME_DATABASE_URL carries a password: give AME_DATABASE_SECRET_ARN instead "
            "(plain secrets only with AME_ALLOW_PLAIN_SECRETS=1, outside Lambda)"
        )


def attach_rotating_credentials(engine: Engine, credentials: Callable[[bool], tuple[str, str]]) -> Engine:
    """Every new connection of `engine` logs in with the secret's current username and password.

    Connections already open keep working after a rotation (MySQL does not end them); a new one refused
    with MYSQL_ACCESS_DENIED means the cached password is stale: read the secret again, bypassing the
    cache, and try once more.
    """
    from sqlalchemy import event

    def connect(dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        user, password = credentials(False)
        cparams.update(user=user, password=password)
        try:
            return dialect.loaded_dbapi.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError as exc:
            if not (exc.args and exc.args[0] == MYSQL_ACCESS_DENIED):
                raise
        user, password = credentials(True)
        cparams.update(user=user, password=password)
        return dialect.loaded_dbapi.connect(*cargs, **cparams)

    event.listen(engine, "do_connect", connect)
    return engine


def cursor_secret(
    settings: Settings, secrets: Callable[[], RuntimeSecrets], environ: Mapping[str, str] | None = None
) -> str | None:
    """The key that signs search cursors: from Secrets Manager when AME_CURSOR_SECRET_NAME names it;
    AME_CURSOR_SECRET only for the local stack; None (a random key per process) when neither is set."""
    if settings.cursor_secret_name:
        return secrets().text(settings.cursor_secret_name)
    if settings.cursor_secret:
        if not local_only(settings.allow_plain_secrets, environ):
            raise SettingsError(
                "AME_CURSOR_SECRET is a secret in the environment: give AME_CURSOR_SECRET_NAME "
                "instead (plain secrets only with AME_ALLOW_PLAIN_SECRETS=1, outside Lambda)"
            )
        return settings.cursor_secret
    return None
