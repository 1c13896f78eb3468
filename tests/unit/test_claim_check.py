"""Claim check: which bodies go to S3, what the reference looks like, and what a bad reference does."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.claim_check import (
    ClaimCheckCorrupted,
    ClaimCheckMissing,
    ClaimCheckNotConfigured,
    S3ClaimChecks,
    claim_reference,
)
from chalicelib.settings import Settings

BUCKET = "ame-claims-unit"
THRESHOLD = 1024


def s3():
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture()
def claims():
    with mock_aws():
        s3().create_bucket(Bucket=BUCKET)
        yield S3ClaimChecks(s3, BUCKET, threshold_bytes=THRESHOLD)


def body_of(size: int) -> str:
    """A JSON body of exactly `size` UTF-8 bytes, with multi-byte characters so bytes != characters."""
    head, tail = '{"name":"', '"}'
    fill = size - len(head) - len(tail)
    text = "ç" * (fill // 2) + "a" * (fill % 2)
    body = head + text + tail
    assert len(body.encode("utf-8")) == size
    return body


def stored_keys() -> list[str]:
    return [o["Key"] for o in s3().list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_a_body_of_exactly_the_threshold_travels_inline(claims):
    body = body_of(THRESHOLD)
    assert claims.check_in("result", body) == body
    assert stored_keys() == []


def test_one_byte_over_the_threshold_travels_as_a_reference_with_the_agreed_shape(claims):
    body = body_of(THRESHOLD + 1)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()

    envelope = json.loads(claims.check_in("result", body))

    assert envelope == {
        "claim_check": {
            "bucket": BUCKET,
            "key": f"claims/result/{digest}.json",
            "sha256": digest,
            "bytes": THRESHOLD + 1,
        }
    }
    stored = s3().get_object(Bucket=BUCKET, Key=f"claims/result/{digest}.json")
    assert stored["Body"].read().decode("utf-8") == body
    assert stored["ServerSideEncryption"] == "AES256"


def test_the_threshold_counts_utf8_bytes_not_characters(claims):
    body = body_of(THRESHOLD + 2)
    assert len(body) < THRESHOLD  # fewer characters than the threshold, more bytes
    assert claim_reference(claims.check_in("result", body)) is not None


def test_the_same_body_twice_is_one_object_and_the_same_reference(claims):
    body = body_of(THRESHOLD * 3)
    assert claims.check_in("result", body) == claims.check_in("result", body)
    assert len(stored_keys()) == 1


def test_a_reference_checks_out_as_the_original_body(claims):
    body = body_of(THRESHOLD * 5)
    assert claims.check_out(claims.check_in("envelope_ready", body)) == body


def test_an_ordinary_body_checks_out_unchanged_without_touching_s3():
    untouched = S3ClaimChecks(lambda: pytest.fail("S3 must not be called"), BUCKET, THRESHOLD)
    for body in ('{"order_key": "abc"}', "not json", '{"claim_check": 1, "other": 2}', ""):
        assert untouched.check_out(body) == body


def test_an_object_that_does_not_match_its_sha256_is_corrupted(claims):
    envelope = claims.check_in("result", body_of(THRESHOLD * 2))
    key = json.loads(envelope)["claim_check"]["key"]
    tampered = body_of(THRESHOLD * 2).replace("ç", "c", 1).replace("a", "", 1) + " "
    s3().put_object(Bucket=BUCKET, Key=key, Body=tampered.encode("utf-8"))

    with pytest.raises(ClaimCheckCorrupted) as raised:
        claims.check_out(envelope)
    assert key in raised.value.reason


def test_a_missing_object_is_reported_as_missing(claims):
    envelope = claims.check_in("result", body_of(THRESHOLD * 2))
    s3().delete_object(Bucket=BUCKET, Key=json.loads(envelope)["claim_check"]["key"])

    with pytest.raises(ClaimCheckMissing) as raised:
        claims.check_out(envelope)
    assert "não encontrado" in raised.value.reason


def test_a_reference_without_its_digest_is_corrupted():
    with pytest.raises(ClaimCheckCorrupted):
        claim_reference('{"claim_check": {"bucket": "b", "key": "k", "bytes": 3}}')


def test_a_big_body_without_a_bucket_is_a_configuration_error_not_a_silent_oversize_send():
    unconfigured = S3ClaimChecks(s3, None, THRESHOLD)
    assert unconfigured.check_in("result", "small") == "small"
    with pytest.raises(ClaimCheckNotConfigured):
        unconfigured.check_in("result", body_of(THRESHOLD + 1))


def test_the_threshold_is_a_setting_that_defaults_below_the_sqs_limit():
    base = {
        "AME_DATABASE_URL": "sqlite://",
        "AME_PARAMETRIZADOR_URL": "p",
        "AME_DOMINIOS_URL": "d",
        "AME_PODERES_URL": "po",
        "AME_PESSOAS_URL": "pe",
        "AME_CADASTRO_URL": "c",
        "AME_NOTIFICACAO_URL": "n",
        "AME_STATE_MACHINE_ARN": "arn",
    }
    assert Settings.from_env(base).claim_check_threshold_bytes == 200 * 1024
    assert Settings.from_env({**base, "AME_CLAIM_CHECK_THRESHOLD_BYTES": "4096"}).claim_check_threshold_bytes == 4096
    with pytest.raises(Exception):
        Settings.from_env({**base, "AME_CLAIM_CHECK_THRESHOLD_BYTES": str(256 * 1024 + 1)})
