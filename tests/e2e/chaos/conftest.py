"""One chaos run per session of this package (tests/e2e/chaos/harness.py): the tests read its outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.chaos.harness import ChaosPlan, Outcome, chaos_stack, execute


@pytest.fixture(scope="package")
def plan() -> ChaosPlan:
    return ChaosPlan()


@pytest.fixture(scope="package")
def outcome(tmp_path_factory, plan) -> Iterator[Outcome]:
    with chaos_stack(tmp_path_factory.mktemp("chaos"), plan) as chaos:
        yield execute(chaos)
