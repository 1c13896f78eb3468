"""`bin/ame retention plan|run`, `bin/ame archive show ORDER_KEY`, `bin/ame privacy report --cpf …` (docs/data-lifecycle.md).

They read `AME_DATABASE_URL` (default: the local stack's SQLite file, as `bin/ame analytics` does) and the
archive from `AME_ARCHIVE_LOCAL_DIR` (default `.local/archive`, where `make run` writes it), or from S3 when
`AME_ARCHIVE_BUCKET` is set (`AME_AWS_ENDPOINT_URL` for the local stack's emulated S3, `AME_ARCHIVE_PREFIX`).
Periods and pacing come from the same AME_RETENTION_* variables as the deployed job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARCHIVE = ROOT / ".local" / "archive"


def _setting(name: str, env: Mapping[str, str]) -> Any:
    """A job setting from its AME_* variable, or the settings model's default (one place for defaults)."""
    from chalicelib.settings import Settings

    field = Settings.model_fields[name]
    raw = env.get(field.alias or "")
    return field.default if raw is None else type(field.default)(raw)


def archive_store(env: Mapping[str, str] | None = None) -> Any:
    from chalicelib.adapters.object_store import LocalObjectStore, S3ObjectStore

    env = os.environ if env is None else env
    bucket = env.get("AME_ARCHIVE_BUCKET")
    if not bucket:
        return LocalObjectStore(env.get("AME_ARCHIVE_LOCAL_DIR") or DEFAULT_ARCHIVE)
    import boto3

    endpoint = env.get("AME_AWS_ENDPOINT_URL") or None
    if endpoint:  # the local stack's emulation takes any credentials
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=endpoint, region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"))
    return S3ObjectStore(
        lambda: client,
        bucket,
        env.get("AME_ARCHIVE_PREFIX", "archive"),
        content_type="application/gzip",
        server_side_encryption="AES256",
    )


def _engine(database_url: str) -> Any:
    from chalicelib.adapters.db.analytics import create_export_engine

    return create_export_engine(database_url)


def job(engine: Any, env: Mapping[str, str] | None = None, archive: Any = None) -> Any:
    from chalicelib.adapters.clock import SystemClock
    from chalicelib.adapters.db.retention import SqlRetentionStore
    from chalicelib.domain.retention import RetentionPolicy
    from chalicelib.services.retention import RetentionJob

    env = os.environ if env is None else env
    store = SqlRetentionStore(engine)
    return RetentionJob(
        store,
        store,
        archive if archive is not None else archive_store(env),
        SystemClock(),
        RetentionPolicy.model_validate(dict(env)),
        batch_rows=_setting("retention_batch_rows", env),
        pause_seconds=_setting("retention_pause_seconds", env),
        time_box_seconds=_setting("retention_time_box_seconds", env),
        lease_seconds=_setting("retention_lease_seconds", env),
        orders_per_archive=_setting("retention_orders_per_archive", env),
    )


def plan(database_url: str) -> dict[str, Any]:
    engine = _engine(database_url)
    try:
        return job(engine).plan()
    finally:
        engine.dispose()


def run(database_url: str) -> dict[str, Any]:
    engine = _engine(database_url)
    try:
        return job(engine).run().as_dict()
    finally:
        engine.dispose()


def archive_show(database_url: str, order_key: str, archive: Any = None) -> dict[str, Any] | None:
    """The archived order with every row it had, read back from its archive object; None when not archived."""
    from chalicelib.adapters.db.retention import SqlRetentionStore
    from chalicelib.domain.retention import decode_archive

    engine = _engine(database_url)
    try:
        object_key = SqlRetentionStore(engine).archived_object(order_key)
    finally:
        engine.dispose()
    if object_key is None:
        return None
    data = (archive or archive_store()).read(object_key)
    if data is None:
        raise FileNotFoundError(f"archive object {object_key} is missing")
    for record in decode_archive(data):
        if record["order"]["order_key"] == order_key:
            return {"object_key": object_key, **record}
    raise LookupError(f"order {order_key} is recorded in {object_key} but not found in it")


def privacy_report(
    database_url: str, cpf: str, archive: Any = None, scan_archive: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """Where a person appears (requester, guarantor, participant), what is held, what was anonymised or
    archived. The CPF is masked in the output; the caller gives it whole."""
    from chalicelib.adapters.db.retention import SqlRetentionStore
    from chalicelib.domain.masking import mask_cpf
    from chalicelib.domain.retention import TERMINAL, RetentionPolicy, decode_archive

    now = now or datetime.now(UTC)
    contacts_cutoff = RetentionPolicy.model_validate(dict(os.environ)).participant_contacts_days
    engine = _engine(database_url)
    try:
        live = SqlRetentionStore(engine).person_report(cpf)
    finally:
        engine.dispose()
    for row in live["participant"]:
        updated = datetime.fromisoformat(row["updated_at"])
        past = row["status"] in TERMINAL and (now - updated).days >= contacts_cutoff
        has_contact = bool(row.pop("has_email")) | bool(row.pop("has_phone"))
        row["contact"] = "retido" if has_contact else ("anonimizado" if past else "ausente")
    report: dict[str, Any] = {
        "cpf": mask_cpf(cpf),
        "held": {
            "as_requester": live["requester"],
            "as_guarantor": live["guarantor"],
            "as_participant": live["participant"],
        },
        "what_is_held": {
            "as_requester": "pedido: documento, área, produto, valor, corpo do pedido, parecer e histórico",
            "as_guarantor": "documento, papel e parecer da parte; respostas dos parceiros até 30 dias após o parecer",
            "as_participant": "nome, grupos, motivos e restrições; e-mail e telefone até 30 dias após o parecer",
        },
    }
    if scan_archive:
        store = archive or archive_store()
        found = []
        for key in store.keys("orders/"):
            data = store.read(key)
            for record in decode_archive(data or b""):
                roles = []
                if record["order"].get("requester_document") == cpf:
                    roles.append("requester")
                if any(p.get("document") == cpf and p.get("role") == "GUARANTOR" for p in record["parties"]):
                    roles.append("guarantor")
                if any(p.get("cpf") == cpf for p in record["participants"]):
                    roles.append("participant")
                if roles:
                    found.append({"order_key": record["order"]["order_key"], "object_key": key, "roles": roles})
        report["archived"] = found
    else:
        report["archived"] = "não verificado (--no-archive)"
    return report
