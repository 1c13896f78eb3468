"""Webhooks to products: Standard Webhooks 1.0 signatures and one HTTP POST per attempt (timeout, no redirects)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Protocol, Sequence
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"


class WebhookSecretInvalid(ValueError):
    """The secret behind a secret_ref is not one or more `whsec_<base64>` keys."""


class WebhookUrlRefused(ValueError):
    """A URL AME will not call: not http(s), or no host."""


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
            encoded = token[len(SECRET_PREFIX):]
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
    signed = f"{webhook_id}.{timestamp}.".encode("utf-8") + body
    return " ".join(
        f"{SIGNATURE_VERSION},{base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode('ascii')}"
        for key in keys
    )


def checked_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused("URL recusada: só http(s) com host")
    try:
        parts.port
    except ValueError:
        raise WebhookUrlRefused("URL recusada: porta inválida") from None
    return url


@lru_cache(maxsize=64)
def _keys(secret_value: str) -> tuple[bytes, ...]:
    """parse_secret, once per secret value (a batch signs many deliveries with one secret)."""
    return tuple(parse_secret(secret_value))


@dataclass(frozen=True)
class WebhookAttempt:
    delivered: bool
    status: int | None = None
    error: str | None = None   # why it failed, for the delivery record (no secrets, no body)


class _Transport:
    """urllib3 pools, direct or through the environment's proxy for that host (read once per host).

    urllib3 rather than requests: on this path requests' per-call machinery (settings merge, environment
    lookups, hooks) cost more CPU than the rest of a delivery, and a batch's deliveries share the GIL."""

    def __init__(self, pool_size: int) -> None:
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._options: dict = {"maxsize": pool_size, "block": False, "retries": False}
        if ca_bundle:
            self._options["ca_certs"] = ca_bundle
        self._direct = urllib3.PoolManager(num_pools=64, **self._options)
        self._proxies = {k: v for k, v in getproxies().items() if k in ("http", "https")}
        self._by_host: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def manager(self, url: str) -> urllib3.PoolManager:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        manager = self._by_host.get(key)
        if manager is None:
            proxy = self._proxies.get(parts.scheme)
            manager = self._direct
            if proxy and not proxy_bypass(parts.hostname or ""):
                manager = urllib3.ProxyManager(proxy, num_pools=64, **self._options)
            with self._lock:
                manager = self._by_host.setdefault(key, manager)
        return manager


class WebhookSender:
    """Signs and POSTs one event to one product URL; every outcome is a WebhookAttempt, never an exception
    for the product's faults (non-2xx, redirect, timeout, connection error, bad URL or secret)."""

    def __init__(self, secrets: SecretSource, timeout: float = 5.0, pool_size: int = 16,
                 unix_time: Callable[[], float] | None = None) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._secrets = secrets
        self._timeout = timeout
        self._transport = _Transport(pool_size)
        self._unix_time = unix_time or time.time

    def headers(self, webhook_id: str, body: bytes, secret_ref: str) -> dict[str, str]:
        timestamp = int(self._unix_time())
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(webhook_id, timestamp, body, _keys(self._secrets.get(secret_ref))),
        }

    def send(self, url: str, secret_ref: str, webhook_id: str, body: bytes) -> WebhookAttempt:
        try:
            checked_url(url)
            headers = self.headers(webhook_id, body, secret_ref)
        except (WebhookUrlRefused, WebhookSecretInvalid) as exc:
            return WebhookAttempt(False, error=str(exc))
        except Exception as exc:  # Secrets Manager unreachable or the ref missing: try again later
            return WebhookAttempt(False, error=f"segredo indisponível: {type(exc).__name__}")
        try:
            response = self._transport.manager(url).request(
                "POST", url, body=body, headers=headers, timeout=urllib3.Timeout(total=self._timeout),
                redirect=False, retries=False)
        except urllib3.exceptions.NewConnectionError as exc:  # urllib3 makes it a TimeoutError subclass
            return WebhookAttempt(False, error=f"falha de conexão: {type(exc).__name__}")
        except urllib3.exceptions.TimeoutError:
            return WebhookAttempt(False, error=f"timeout após {self._timeout:g}s")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return WebhookAttempt(False, error=f"falha de conexão: {type(exc).__name__}")
        if 200 <= response.status < 300:
            return WebhookAttempt(True, response.status)
        return WebhookAttempt(False, response.status, f"HTTP {response.status}")

    @staticmethod
    def describe(url: str) -> str:
        """The URL as shown on the order: no query string or credentials, which may carry tokens."""
        parts = urlsplit(url or "")
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            port = ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
