"""Object stores for exported files: a local folder (`.local/analytics`) or an S3 prefix; each put is atomic.

A reader never sees half a file: locally the bytes go to a temporary name in the same folder and are
renamed over the old file; an S3 PUT replaces an object in one step.
"""

from __future__ import annotations

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


class S3ObjectStore:
    def __init__(self, client: Callable[[], Any], bucket: str, prefix: str = "") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def put(self, key: str, data: bytes) -> None:
        self._client().put_object(
            Bucket=self.bucket, Key=self.prefix + key, Body=data, ContentType="application/vnd.apache.parquet"
        )

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
