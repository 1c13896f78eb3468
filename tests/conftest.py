"""Shared fixtures: real MariaDB and Redis on loopback (fail under CI=true when missing, never skip)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

MARIADB_ADMIN_URL = os.environ.get("AME_TEST_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306/test")
REDIS_TEST_URL = os.environ.get("AME_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Under CI=true a missing service is a failure; elsewhere the test is skipped, loudly."""
    if _port_open(host, port):
        return
    message = f"{name} is not answering on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: tests that need it must fail, not skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """A fresh, empty MariaDB database for this test session (dropped at the end)."""
    from tests.support import scratch_mariadb

    require_service("MariaDB", "127.0.0.1", 3306)
    with scratch_mariadb(MARIADB_ADMIN_URL, f"ame_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}") as url:
        yield url


@pytest.fixture()
def redis_url() -> str:
    """Redis database 15, with a per-test key prefix so parallel tests never see each other."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_TEST_URL


@pytest.fixture()
def unique_prefix() -> str:
    return f"test:{uuid.uuid4().hex[:10]}:"
