"""Pessoas behind a per-CPF cache: fresh hits skip the partner, stale answers cover an outage."""

import pytest

from chalicelib.adapters.cache import InProcessTtlCache
from chalicelib.adapters.people_cache import CachedPeopleDirectory
from chalicelib.services.ports import PartnerUnavailable
from tests.fakes import FakePeople

ANA, BIA, UNKNOWN = "52998224725", "11144477735", "26457513182"
PEOPLE = [
    {"cpf": ANA, "name": "Ana", "email": "a@x", "phone": None},
    {"cpf": BIA, "name": "Bia", "email": None, "phone": "+55"},
]


class Clock:
    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


class Down(FakePeople):
    down = False

    def search(self, cpfs):
        if self.down:
            raise PartnerUnavailable("pessoas", "503")
        return super().search(cpfs)


def directory(clock):
    inner = Down(PEOPLE)
    cache = InProcessTtlCache(clock=clock)
    return CachedPeopleDirectory(inner, cache, fresh_seconds=60, stale_seconds=3600, clock=clock), inner


def test_fresh_answers_are_served_without_calling_pessoas():
    clock = Clock()
    people, inner = directory(clock)
    assert [p.name for p in people.search([ANA, BIA])] == ["Ana", "Bia"]
    assert [p.name for p in people.search([BIA, ANA])] == ["Bia", "Ana"]
    assert inner.calls == [[ANA, BIA]]
    assert people.counters.snapshot() == {"hits": 2, "misses": 2, "stale_served": 0}


def test_unknown_cpf_is_remembered_as_unknown():
    clock = Clock()
    people, inner = directory(clock)
    assert people.search([UNKNOWN]) == []
    assert people.search([UNKNOWN]) == [] and len(inner.calls) == 1


def test_only_missing_cpfs_are_asked_for():
    clock = Clock()
    people, inner = directory(clock)
    people.search([ANA])
    people.search([ANA, BIA])
    assert inner.calls == [[ANA], [BIA]]


def test_stale_answers_are_served_while_pessoas_is_down():
    clock = Clock()
    people, inner = directory(clock)
    people.search([ANA, UNKNOWN])
    clock.now += 120  # no longer fresh
    inner.down = True
    assert [p.name for p in people.search([ANA, UNKNOWN])] == ["Ana"]
    assert people.counters.snapshot()["stale_served"] == 2


def test_outage_with_an_uncached_cpf_is_still_an_outage():
    clock = Clock()
    people, inner = directory(clock)
    people.search([ANA])
    clock.now += 120
    inner.down = True
    with pytest.raises(PartnerUnavailable):
        people.search([ANA, BIA])


def test_after_the_stale_window_nothing_is_served():
    clock = Clock()
    people, inner = directory(clock)
    people.search([ANA])
    clock.now += 3601
    inner.down = True
    with pytest.raises(PartnerUnavailable):
        people.search([ANA])
