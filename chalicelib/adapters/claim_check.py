"""Claim check: a queue message too big for SQS travels as a small reference to its body, kept in S3."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ENVELOPE_FIELD = "claim_check"
# SQS refuses a message over 256 KiB (body plus attributes); the default leaves room for attributes.
SQS_MAX_MESSAGE_BYTES = 256 * 1024
DEFAULT_THRESHOLD_BYTES = 200 * 1024
KEY_PREFIX = "claims"
# An envelope is ~250 bytes; anything much longer is an ordinary body and is not parsed at all.
_ENVELOPE_MAX_CHARS = 2048


class ClaimCheckError(Exception):
    """The referenced body cannot be used, and trying again will not change that (a poisoned record)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ClaimCheckMissing(ClaimCheckError):
    """The object the envelope names is not in the bucket (expired, deleted, another account)."""


class ClaimCheckCorrupted(ClaimCheckError):
    """The object's size or SHA-256 is not the one the envelope recorded."""


class ClaimCheckNotConfigured(RuntimeError):
    """A body over the threshold, and no bucket to put it in: a deployment error, not a message error."""


@dataclass(frozen=True)
class ClaimReference:
    bucket: str
    key: str
    sha256: str
    bytes: int

    def envelope(self) -> str:
        return json.dumps(
            {ENVELOPE_FIELD: {"bucket": self.bucket, "key": self.key, "sha256": self.sha256, "bytes": self.bytes}},
            separators=(",", ":"),
        )


def claim_reference(body: str) -> ClaimReference | None:
    """The reference a body carries, or None when the body is the message itself."""
    if len(body) > _ENVELOPE_MAX_CHARS or f'"{ENVELOPE_FIELD}"' not in body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {ENVELOPE_FIELD} or not isinstance(data[ENVELOPE_FIELD], dict):
        return None
    ref = data[ENVELOPE_FIELD]
    try:
        reference = ClaimReference(
            bucket=str(ref["bucket"]), key=str(ref["key"]), sha256=str(ref["sha256"]).lower(), bytes=int(ref["bytes"])
        )
    except (KeyError, TypeError, ValueError):
        raise ClaimCheckCorrupted("referência de claim check incompleta") from None
    if not reference.bucket or not reference.key or len(reference.sha256) != 64 or reference.bytes < 0:
        raise ClaimCheckCorrupted("referência de claim check inválida")
    return reference


def claim_key(queue: str, digest: str) -> str:
    return f"{KEY_PREFIX}/{queue}/{digest}.json"


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3ClaimChecks:
    """Checks big bodies in (before SendMessage) and out (before a record handler runs).

    The key is the body's SHA-256, so sending the same body twice stores one object, and the reference
    is the same message both times. Bodies are written with SSE-S3 (the bucket's default too).
    """

    def __init__(
        self, s3_client_factory: Callable[[], Any], bucket: str | None, threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    ):
        from chalicelib.adapters.aws import _LazyClient

        if not 0 < threshold_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"claim check threshold must be in 1..{SQS_MAX_MESSAGE_BYTES} bytes")
        self._s3 = _LazyClient(s3_client_factory)
        self.bucket = bucket
        self.threshold_bytes = threshold_bytes

    def check_in(self, queue: str, body: str) -> str:
        """What to send instead of `body`: the body itself when it is small enough, else its reference."""
        raw = body.encode("utf-8")
        if len(raw) <= self.threshold_bytes:
            return body
        if not self.bucket:
            raise ClaimCheckNotConfigured(
                f"message of {len(raw)} bytes for queue {queue} is over the claim check threshold "
                f"({self.threshold_bytes}) and AME_BUCKET is not set"
            )
        digest = hashlib.sha256(raw).hexdigest()
        reference = ClaimReference(self.bucket, claim_key(queue, digest), digest, len(raw))
        if not self._stored(reference):
            self._s3.get().put_object(
                Bucket=reference.bucket,
                Key=reference.key,
                Body=raw,
                ContentType="application/json",
                ServerSideEncryption="AES256",
                Metadata={"sha256": digest},
            )
        log.info("message body checked in to S3", extra={"queue": queue, "bytes": len(raw), "key": reference.key})
        return reference.envelope()

    def check_out(self, body: str) -> str:
        """The message body: `body` itself, or the body its reference names, checked against its SHA-256.

        Raises ClaimCheckError when the body can never be had (poisoned); S3 being unreachable raises
        the client's own error, which is transient and retried like any other failure."""
        reference = claim_reference(body)
        if reference is None:
            return body
        try:
            answer = self._s3.get().get_object(Bucket=reference.bucket, Key=reference.key)
        except Exception as exc:
            # Without s3:ListBucket S3 answers a missing key with AccessDenied rather than NoSuchKey.
            if _error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"):
                raise ClaimCheckMissing(
                    f"claim check {reference.key} não encontrado no bucket {reference.bucket} ({_error_code(exc)})"
                ) from None
            raise
        raw = answer["Body"].read()
        if len(raw) != reference.bytes or hashlib.sha256(raw).hexdigest() != reference.sha256:
            raise ClaimCheckCorrupted(
                f"claim check {reference.key} não confere: {len(raw)} bytes, sha256 diferente do registrado"
            )
        return raw.decode("utf-8")

    def _stored(self, reference: ClaimReference) -> bool:
        # A HEAD is cheaper than re-uploading ~300 KB, and the versioned bucket keeps no duplicate version.
        try:
            head = self._s3.get().head_object(Bucket=reference.bucket, Key=reference.key)
        except Exception as exc:
            # Without s3:ListBucket (functions are not granted it) S3 answers a missing key with 403.
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "Forbidden"):
                return False
            raise
        return int(head.get("ContentLength", -1)) == reference.bytes
