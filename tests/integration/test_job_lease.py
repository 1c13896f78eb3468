"""The job lease contract, over the in-memory fake, SQLite and MariaDB: one holder at a time, renewal,
expiry, release, and a second name independent of the first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.db.retention import SqlRetentionStore
from tests.fakes import InMemoryJobLease
from tests.integration.conftest import clear

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture()
def lease(backend):
    if backend is None:
        return InMemoryJobLease()
    clear(backend)
    return SqlRetentionStore(backend)


def test_one_holder_at_a_time_until_it_releases(lease):
    until = T0 + timedelta(seconds=120)
    assert lease.acquire_lease("purge_data", "a", T0, until)
    assert not lease.acquire_lease("purge_data", "b", T0 + timedelta(seconds=1), until)
    assert lease.acquire_lease("purge_data", "a", T0 + timedelta(seconds=40), until + timedelta(seconds=40))
    lease.release_lease("purge_data", "b", T0 + timedelta(seconds=41))  # not b's: changes nothing
    assert not lease.acquire_lease("purge_data", "b", T0 + timedelta(seconds=42), until)
    lease.release_lease("purge_data", "a", T0 + timedelta(seconds=43))
    assert lease.acquire_lease("purge_data", "b", T0 + timedelta(seconds=43), until + timedelta(seconds=43))


def test_an_expired_lease_goes_to_the_next_run_and_names_are_independent(lease):
    assert lease.acquire_lease("purge_data", "a", T0, T0 + timedelta(seconds=120))
    assert lease.acquire_lease("other_job", "b", T0, T0 + timedelta(seconds=120))
    assert not lease.acquire_lease("purge_data", "b", T0 + timedelta(seconds=119), T0 + timedelta(seconds=300))
    assert lease.acquire_lease("purge_data", "b", T0 + timedelta(seconds=120), T0 + timedelta(seconds=300))
    assert not lease.acquire_lease("purge_data", "a", T0 + timedelta(seconds=121), T0 + timedelta(seconds=400))
