"""export_analytics as Lambda runs it: the scheduled handler, the composition root, S3 and Secrets Manager (moto)."""

from __future__ import annotations

import io
from datetime import date

import boto3
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from ame_local.analytics_seed import seed_orders
from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.bootstrap import Container, set_container
from chalicelib.settings import Settings
from migrations.runner import upgrade
from tests.support import SETTINGS_ENV

BUCKET = "ame-test-documents"


@pytest.fixture()
def container(tmp_path):
    url = f"sqlite:///{tmp_path / 'ame.sqlite'}"
    upgrade(url)
    engine = create_engine_for(url)
    seed_orders(engine, 120, date(2026, 11, 1), 5, seed=3)
    engine.dispose()
    env = {
        **SETTINGS_ENV,
        "AME_DATABASE_URL": url,
        "AME_BUCKET": BUCKET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="ame/analytics/requester-hmac", SecretString="k" * 64
        )
        c = Container(Settings.from_env(env))
        set_container(c)
        try:
            yield c
        finally:
            set_container(None)
            c.engine.dispose()


def test_the_scheduled_export_writes_partitions_to_the_bucket_and_moves_the_watermark(container):
    from ame_local.pollers import lambda_context, scheduled_event
    from chalicelib.entrypoints.schedules import export_analytics

    first = export_analytics(scheduled_event("export_analytics"), lambda_context("export_analytics"))
    second = export_analytics(scheduled_event("export_analytics"), lambda_context("export_analytics"))

    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="analytics/")["Contents"]]
    facts = [k for k in keys if k.startswith("analytics/fact_orders/dt=")]
    rows = sum(pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read())).num_rows for k in facts)
    assert first["orders"] == rows == 120 and len(facts) == first["days"] == 5
    assert "analytics/dim_status/dim_status.parquet" in keys
    assert second["orders"] == 0 and second["high_water"] >= first["high_water"]
