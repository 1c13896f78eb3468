"""Webhooks to products: Standard Webhooks 1.0 signatures and one HTTP POST per attempt (timeout, no redirects)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

import urllib3

from chalicelib.adapters.webhook_destination import (
    Destination,
    DestinationRefused,
    Resolver,
    checked_url,
    system_resolver,
)

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


class WebhookSecretInvalid(ValueError):
    """The secret behind a secret_ref is not one or more `whsec_<base64>` keys."""


class SecretSource(Protocol):
    def get(self, secret_ref: str) -> str: ...


def parse_secret(value: str) -> list[bytes]:
    """The signing keys held by one secret value.

    Rotation: the value may hold several whitespace-separated `whsec_<base64>` keys (newest first,
    e.g. `"whsec_NEW whsec_OLD"`); every key signs each delivery, so a product verifying with either
    the old or the new key accepts it while it switches over. One key is the normal case.
    """
    keys = []
    for token in (value or "").split():
        if not token.startswith(SECRET_PREFIX):
            raise WebhookSecretInvalid("segredo do webhook inválido: deve começar com whsec_")
        try:
            encoded = token[len(SECRET_PREFIX) :]
            # Padding is optional in the wild (Standard Webhooks libraries accept both).
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebhookSecretInvalid("segredo do webhook inválido: whsec_ seguido de base64") from exc
        if not key:
            raise WebhookSecretInvalid("segredo do webhook inválido: chave vazia")
        keys.append(key)
    if not keys:
        raise WebhookSecretInvalid("segredo do webhook vazio")
    return keys


def sign(webhook_id: str, timestamp: int, body: bytes, keys: Sequence[bytes]) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per key."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return " ".join(
        f"{SIGNATURE_VERSION},{base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode('ascii')}"
        for key in keys
    )


@lru_cache(maxsize=64)
def _keys(secret_value: str) -> tuple[bytes, ...]:
    """parse_secret, once per secret value (a batch signs many deliveries with one secret)."""
    return tuple(parse_secret(secret_value))


@dataclass(frozen=True)
class WebhookAttempt:
    delivered: bool
    status: int | None = None
    error: str | None = None  # why it failed, as readers of the order see it (no address, no secret)


class _Transport:
    """One urllib3 pool per checked destination (scheme, address, port, host), kept alive between batches.

    urllib3 rather than requests: on this path requests' per-call machinery (settings merge, environment
    lookups, hooks) cost more CPU than the rest of a delivery, and a batch's deliveries share the GIL.
    The pool connects to the address checked_url resolved and checked, never to the name: no second DNS
    look-up can swap it. TLS still checks the certificate against the host name (SNI and
    assert_hostname). No proxy: an egress proxy would resolve the name again, out of this check's reach."""

    def __init__(self, pool_size: int) -> None:
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._options: dict = {"maxsize": pool_size, "block": False, "retries": False}
        self._tls: dict = {"cert_reqs": "CERT_REQUIRED"}
        if ca_bundle:
            self._tls["ca_certs"] = ca_bundle
        else:
            try:
                import certifi  # requests' CA bundle, shipped with it to Lambda

                self._tls["ca_certs"] = certifi.where()
            except ImportError:  # pragma: no cover - the system store then
                pass
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def pool(self, destination: Destination) -> urllib3.HTTPConnectionPool:
        key = (destination.scheme, destination.ip, destination.port, destination.host)
        pool = self._pools.get(key)
        if pool is None:
            if destination.scheme == "https":
                pool = urllib3.HTTPSConnectionPool(
                    destination.ip,
                    destination.port,
                    server_hostname=destination.host,
                    assert_hostname=destination.host,
                    **self._options,
                    **self._tls,
                )
            else:
                pool = urllib3.HTTPConnectionPool(destination.ip, destination.port, **self._options)
            with self._lock:
                pool = self._pools.setdefault(key, pool)
        return pool


def _connection_outcome(exc: BaseException) -> str:
    """What readers of the order see of a failed connection: refused, or failed; never the address."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "conexão recusada"
        cause = cause.__cause__ or cause.__context__
    return "falha de conexão"


class WebhookSender:
    """Signs and POSTs one event to one product URL; every outcome is a WebhookAttempt, never an exception
    for the product's faults (non-2xx, redirect, timeout, connection error, refused URL, bad secret).

    `error` is what readers of the order see ("HTTP 502", "timeout", "conexão recusada", "falha de
    conexão", "destino recusado"): nothing that would tell an area's editor what listens where. The
    detail goes to the logs only."""

    def __init__(
        self,
        secrets: SecretSource,
        timeout: float = 5.0,
        pool_size: int = 16,
        unix_time: Callable[[], float] | None = None,
        allow_local: bool = False,
        resolve: Resolver = system_resolver,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._secrets = secrets
        self._timeout = timeout
        self._transport = _Transport(pool_size)
        self._unix_time = unix_time or time.time
        self._allow_local = allow_local
        self._resolve = resolve

    def headers(self, webhook_id: str, body: bytes, secret_ref: str) -> dict[str, str]:
        timestamp = int(self._unix_time())
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(webhook_id, timestamp, body, _keys(self._secrets.get(secret_ref))),
        }

    def _failed(self, url: str, shown: str, detail: str, status: int | None = None) -> WebhookAttempt:
        log.warning(
            "webhook attempt failed", extra={"destination": self.describe(url), "outcome": shown, "detail": detail}
        )
        return WebhookAttempt(False, status, shown)

    def send(self, url: str, secret_ref: str, webhook_id: str, body: bytes) -> WebhookAttempt:
        try:
            destination = checked_url(url, self._allow_local, self._resolve)
        except DestinationRefused as exc:
            return self._failed(url, "destino recusado", exc.reason)
        try:
            headers = self.headers(webhook_id, body, secret_ref)
        except WebhookSecretInvalid as exc:
            return WebhookAttempt(False, error=str(exc))
        except Exception as exc:  # Secrets Manager unreachable or the ref missing: try again later
            log.warning("webhook secret unavailable", extra={"secret_ref": secret_ref, "detail": repr(exc)})
            return WebhookAttempt(False, error="segredo indisponível")
        headers["host"] = destination.host_header
        try:
            response = self._transport.pool(destination).urlopen(
                "POST",
                destination.path,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(total=self._timeout),
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=True,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # urllib3 makes it a TimeoutError subclass
            return self._failed(url, _connection_outcome(exc), repr(exc))
        except urllib3.exceptions.TimeoutError as exc:
            return self._failed(url, "timeout", f"{exc!r} after {self._timeout:g}s")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return self._failed(url, _connection_outcome(exc), repr(exc))
        if 200 <= response.status < 300:
            return WebhookAttempt(True, response.status)
        return self._failed(url, f"HTTP {response.status}", f"HTTP {response.status}", response.status)

    @staticmethod
    def describe(url: str) -> str:
        """The URL as shown on the order: no query string or credentials, which may carry tokens."""
        parts = urlsplit(url or "")
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
