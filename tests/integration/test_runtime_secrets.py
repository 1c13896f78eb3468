"""Secrets read at run time from Secrets Manager (moto), cached, with rotation honoured: the database login
follows a rotated password against the real MariaDB, and plain secrets in the environment are refused
outside the local stack."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from chalicelib.adapters.db.engine import create_engine_for
from chalicelib.adapters.runtime_secrets import (
    RuntimeSecrets,
    attach_rotating_credentials,
    cursor_secret,
    database_credentials,
    local_only,
    refuse_plain_database_password,
)
from chalicelib.bootstrap import Container
from chalicelib.settings import Settings, SettingsError
from tests.conftest import MARIADB_ADMIN_URL, require_service
from tests.support import SETTINGS_ENV

BASE_ENV = dict(SETTINGS_ENV)
LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "ame-dev-APIHandler"}


@pytest.fixture()
def secretsmanager(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_a_secret_is_cached_for_its_max_age_and_read_again_when_forced(secretsmanager):
    arn = secretsmanager.create_secret(
        Name="ame/dev/database", SecretString=json.dumps({"username": "ame", "password": "one"})
    )["ARN"]
    secrets = RuntimeSecrets(lambda: secretsmanager, max_age=300)
    read = database_credentials(secrets, arn)
    assert read(False) == ("ame", "one")
    secretsmanager.put_secret_value(SecretId=arn, SecretString=json.dumps({"username": "ame", "password": "two"}))
    assert read(False) == ("ame", "one")  # cached: no call per connection
    assert read(True) == ("ame", "two")  # forced, as after a refused login
    assert read(False) == ("ame", "two")  # and the cache holds the new value


def test_with_max_age_zero_every_read_sees_the_rotated_value(secretsmanager):
    secretsmanager.create_secret(Name="ame/dev/cursor", SecretString="k1")
    secrets = RuntimeSecrets(lambda: secretsmanager, max_age=0)
    assert secrets.text("ame/dev/cursor") == "k1"
    secretsmanager.put_secret_value(SecretId="ame/dev/cursor", SecretString="k2")
    assert secrets.text("ame/dev/cursor") == "k2"


def test_the_cursor_key_comes_from_secrets_manager_when_named(secretsmanager):
    secretsmanager.create_secret(Name="ame/dev/cursor", SecretString="cursor-key-from-secrets-manager")
    settings = Settings.from_env({**BASE_ENV, "AME_CURSOR_SECRET_NAME": "ame/dev/cursor"})
    secrets = RuntimeSecrets(lambda: secretsmanager)
    assert cursor_secret(settings, lambda: secrets, environ=LAMBDA) == "cursor-key-from-secrets-manager"


def test_plain_secrets_in_the_environment_are_refused_unless_the_local_stack_allows_them():
    plain = Settings.from_env(
        {**BASE_ENV, "AME_CURSOR_SECRET": "k", "AME_DATABASE_URL": "mysql+pymysql://ame:pw@db/ame"}
    )
    with pytest.raises(SettingsError, match="AME_CURSOR_SECRET_NAME"):
        cursor_secret(plain, lambda: None, environ={})
    with pytest.raises(SettingsError, match="AME_DATABASE_SECRET_ARN"):
        refuse_plain_database_password(plain.database_url, plain, environ={})
    local = Settings.from_env({**BASE_ENV, "AME_CURSOR_SECRET": "k", "AME_ALLOW_PLAIN_SECRETS": "1"})
    assert cursor_secret(local, lambda: None, environ={}) == "k"
    refuse_plain_database_password("mysql+pymysql://ame:pw@db/ame", local, environ={})
    # Inside Lambda the switch is ignored: an environment variable cannot bring plain secrets back.
    with pytest.raises(SettingsError):
        cursor_secret(local, lambda: None, environ=LAMBDA)
    with pytest.raises(SettingsError):
        refuse_plain_database_password("mysql+pymysql://ame:pw@db/ame", local, environ=LAMBDA)
    refuse_plain_database_password("mysql+pymysql://ame@db/ame", plain, environ=LAMBDA)  # no password: fine


def test_local_switches_are_ignored_inside_lambda():
    assert local_only(True, {}) and not local_only(False, {})
    assert not local_only(True, LAMBDA)


def test_the_container_refuses_a_password_in_the_database_url(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    c = Container(Settings.from_env({**BASE_ENV, "AME_DATABASE_URL": "mysql+pymysql://ame:pw@127.0.0.1:9/ame"}))
    with pytest.raises(SettingsError, match="AME_DATABASE_URL carries a password"):
        c.engine


@pytest.fixture()
def mariadb_user():
    """A throwaway MariaDB user and database: (user, password, url without credentials, admin engine)."""
    require_service("MariaDB", "127.0.0.1", 3306)
    admin = sa.create_engine(MARIADB_ADMIN_URL)
    suffix = uuid.uuid4().hex[:8]
    user, database = f"ame_rot_{suffix}", f"ame_rot_{suffix}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE `{database}`")
        conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'first-password'")
        conn.exec_driver_sql(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 'first-password'")
        conn.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{user}'@'%%'")
        conn.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{user}'@'localhost'")
    host = MARIADB_ADMIN_URL.split("@", 1)[1].split("/", 1)[0]
    try:
        yield user, f"mysql+pymysql://{host}/{database}", admin
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'localhost'")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        admin.dispose()


def test_the_engine_logs_in_with_the_secret_and_follows_a_rotated_password(secretsmanager, mariadb_user):
    user, url, admin = mariadb_user
    arn = secretsmanager.create_secret(
        Name=f"ame/test/{user}", SecretString=json.dumps({"username": user, "password": "first-password"})
    )["ARN"]
    reads: list[bool] = []
    read = database_credentials(RuntimeSecrets(lambda: secretsmanager, max_age=3600), arn)

    def counted(force: bool) -> tuple[str, str]:
        reads.append(force)
        return read(force)

    engine = attach_rotating_credentials(create_engine_for(url), counted)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT CURRENT_USER()").scalar().startswith(user + "@")
        # Rotation, as Secrets Manager's rotation function does it: the database first, then the secret.
        for host in ("%%", "localhost"):
            with admin.begin() as conn:
                conn.exec_driver_sql(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY 'second-password'")
        secretsmanager.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"username": user, "password": "second-password"})
        )
        engine.dispose()  # every pooled connection gone: the next one must log in again
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert reads == [False, False, True]  # cached password refused once, then read again
    finally:
        engine.dispose()


def test_a_wrong_password_everywhere_is_still_an_error(secretsmanager, mariadb_user):
    user, url, _ = mariadb_user
    arn = secretsmanager.create_secret(
        Name=f"ame/test/{user}-wrong", SecretString=json.dumps({"username": user, "password": "not-it"})
    )["ARN"]
    engine = attach_rotating_credentials(
        create_engine_for(url), database_credentials(RuntimeSecrets(lambda: secretsmanager), arn)
    )
    try:
        with pytest.raises(sa.exc.OperationalError, match="1045"):
            with engine.connect():
                pass
    finally:
        engine.dispose()
