"""Object stores for exported and archived files: a local folder (`.local/…`) or an S3 prefix; each put is atomic.

A reader never sees half a file: locally the bytes go to a temporary name in the same folder and are
renamed over the old file; an S3 PUT replaces an object in one step. `put_confirmed` (the retention
archive, docs/data-lifecycle.md) also reads the object's size and checksum back before saying it is there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


class LocalObjectStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        )

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def put_confirmed(self, key: str, data: bytes, sha256: str) -> bool:
        self.put(key, data)
        back = self.read(key)
        return back is not None and len(back) == len(data) and hashlib.sha256(back).hexdigest() == sha256

    def read(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None


class S3ObjectStore:
    def __init__(
        self,
        client: Callable[[], Any],
        bucket: str,
        prefix: str = "",
        content_type: str = "application/vnd.apache.parquet",
        server_side_encryption: str | None = None,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._content_type = content_type
        self._sse = {"ServerSideEncryption": server_side_encryption} if server_side_encryption else {}

    def put(self, key: str, data: bytes) -> None:
        self._client().put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType=self._content_type, **self._sse
        )

    def put_confirmed(self, key: str, data: bytes, sha256: str) -> bool:
        """PUT with S3 computing a SHA-256 of what it received, then HEAD: the size, S3's own checksum and
        (single-part, SSE-S3) the ETag must all match the bytes sent."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        client = self._client()
        client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + key,
            Body=data,
            ContentType=self._content_type,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
            Metadata={"sha256": sha256},
            **self._sse,
        )
        head = client.head_object(Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED")
        stored_checksum = head.get("ChecksumSHA256")
        return (
            head.get("ContentLength") == len(data)
            and head.get("Metadata", {}).get("sha256") == sha256
            and (stored_checksum is None or stored_checksum == checksum)
        )

    def read(self, key: str) -> bytes | None:
        client = self._client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None

    def delete(self, key: str) -> None:
        self._client().delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def keys(self, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in (
            self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        ):
            out.extend(o["Key"][len(self.prefix) :] for o in page.get("Contents", []))
        return sorted(out)

    def get(self, key: str) -> bytes:
        return self._client().get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
