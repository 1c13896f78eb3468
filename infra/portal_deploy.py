"""`make deploy` for the Portal de Documentos: portal/dist to the stack's private bucket under portal/, a
per-stage /portal/config.json from the stack's outputs, then a CloudFront invalidation of the two files that
are not content-hashed (docs/deploy.md). Never shipped to Lambda."""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.portal_template import portal_config

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "portal" / "dist"
KEY_PREFIX = "portal/"
UNHASHED = ("index.html", "config.json")  # revalidated on every load; everything else is immutable


def plan(dist: Path = DIST) -> list[dict[str, str]]:
    """One entry per file of the built SPA: local path, S3 key, Content-Type and Cache-Control."""
    if not (dist / "index.html").is_file():
        raise FileNotFoundError(f"{dist}/index.html is missing: run `make portal` first")
    files = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        relative = path.relative_to(dist).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        immutable = relative.startswith("assets/") and relative not in UNHASHED
        files.append(
            {
                "path": str(path),
                "key": KEY_PREFIX + relative,
                "content_type": content_type,
                "cache_control": "public, max-age=31536000, immutable" if immutable else "no-cache",
            }
        )
    return files


def upload(stack_name: str, region: str, files: list[dict[str, str]], session: Any = None) -> str:
    import boto3

    session = session or boto3.session.Session(region_name=region)
    cfn, s3, cloudfront = session.client("cloudformation"), session.client("s3"), session.client("cloudfront")
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "PortalBucketName" not in outputs:
        return "portal: not deployed (PortalDomainPrefix is empty in the stage's parameters)"
    bucket = outputs["PortalBucketName"]
    for entry in files:
        s3.upload_file(
            entry["path"],
            bucket,
            entry["key"],
            ExtraArgs={"ContentType": entry["content_type"], "CacheControl": entry["cache_control"]},
        )
    config = portal_config(outputs, region)
    s3.put_object(
        Bucket=bucket,
        Key=KEY_PREFIX + "config.json",
        Body=json.dumps(config).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    cloudfront.create_invalidation(
        DistributionId=outputs["PortalDistributionId"],
        InvalidationBatch={
            "Paths": {"Quantity": 2, "Items": [f"/{KEY_PREFIX}index.html", f"/{KEY_PREFIX}config.json"]},
            "CallerReference": f"ame-{int(time.time())}",
        },
    )
    return f"portal: {len(files)} files and config.json in s3://{bucket}/{KEY_PREFIX}; {outputs['PortalUrl']}"


def describe(files: list[dict[str, str]]) -> str:
    return (
        f"portal: would upload {len(files)} files of portal/dist to the stack's PortalBucket under "
        f"{KEY_PREFIX} plus a generated config.json, then invalidate /{KEY_PREFIX}index.html and config.json"
    )


def config_preview(outputs: Mapping[str, str], region: str) -> dict[str, Any]:
    return portal_config(dict(outputs), region)
