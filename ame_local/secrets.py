"""The local secrets store (docs/contracts.md §4): AME_LOCAL_SECRETS plus generated secrets, in moto Secrets Manager."""

from __future__ import annotations

import base64
import json
import logging
import secrets as _random
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger("ame_local.secrets")


def generate_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(_random.token_bytes(24)).decode("ascii")


def secret_refs_in(directory: str | Path | None) -> set[str]:
    """Every `"secret_ref"` value in the JSON files under `directory` (the simulator's seed data),
    so their secrets exist, and are logged, before the first webhook needs one."""
    if directory is None:
        return set()
    refs: set[str] = set()
    for path in sorted(Path(directory).rglob("*.json")):
        try:
            refs.update(_find_refs(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            logger.warning("could not read %s while looking for secret_ref values", path)
    return refs


def _find_refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "secret_ref" and isinstance(item, str) and item:
                yield item
            else:
                yield from _find_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _find_refs(item)


class LocalSecretsStore:
    """secret_ref -> value. Seeded from AME_LOCAL_SECRETS; any other ref gets a generated secret,
    logged with its value since it only ever exists on this machine."""

    def __init__(
        self,
        seeded: Mapping[str, str] | None = None,
        generate: Callable[[], str] = generate_webhook_secret,
    ):
        self._values: dict[str, str] = dict(seeded or {})
        self._generated: set[str] = set()
        self._generate = generate
        self._lock = threading.Lock()

    @property
    def refs(self) -> list[str]:
        return sorted(self._values)

    def was_generated(self, ref: str) -> bool:
        return ref in self._generated

    def get(self, ref: str) -> str:
        with self._lock:
            value = self._values.get(ref)
            if value is None:
                value = self._values[ref] = self._generate()
                self._generated.add(ref)
                logger.warning("local secret generated for %s: %s", ref, value)
            return value

    def ensure(self, refs: Iterable[str]) -> None:
        for ref in refs:
            self.get(ref)

    def publish(self, secretsmanager_client: Any) -> None:
        """Create (or update) one Secrets Manager secret per ref, named after the ref, so Lambda code
        resolves it with GetSecretValue exactly as in AWS."""
        for ref in self.refs:
            self._put(secretsmanager_client, ref, self._values[ref])

    @staticmethod
    def _put(client: Any, ref: str, value: str) -> None:
        try:
            client.create_secret(Name=ref, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=ref, SecretString=value)

    def serve_unknown_refs(self) -> Callable[[], None]:
        """Make moto answer GetSecretValue for a ref nobody named with a freshly generated secret
        (an area added to the simulator while running, or partner URLs pointing elsewhere).
        Returns the function that undoes it."""
        from moto.secretsmanager.models import SecretsManagerBackend

        original = SecretsManagerBackend.get_secret_value
        store = self

        def get_secret_value(backend: Any, secret_id: str, version_id: Any, version_stage: Any):
            if not backend._is_valid_identifier(secret_id) and not secret_id.startswith("arn:"):
                backend.create_secret(
                    name=secret_id,
                    secret_string=store.get(secret_id),
                    secret_binary=None,
                    description="AME local secret (generated)",
                    tags=None,
                    kms_key_id=None,
                    client_request_token=None,
                    replica_regions=[],
                    force_overwrite=False,
                )
            return original(backend, secret_id, version_id, version_stage)

        SecretsManagerBackend.get_secret_value = get_secret_value  # type: ignore[method-assign]

        def undo() -> None:
            SecretsManagerBackend.get_secret_value = original  # type: ignore[method-assign]

        return undo
