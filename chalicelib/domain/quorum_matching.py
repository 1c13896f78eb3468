"""Filling a rule's requirement slots with distinct people: bipartite matching with a Hall certificate."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

_EMPTY: tuple[str, ...] = ()


class Deficit(NamedTuple):
    """Requirements competing for too few people: `requirement_indexes` need `needed`, only `available` can fill them."""

    requirement_indexes: tuple[int, ...]
    needed: int
    available: tuple[str, ...]

    @property
    def short(self) -> int:
        return self.needed - len(self.available)


class RuleMatch(NamedTuple):
    """A maximum assignment of people to one rule's slots.

    `picks[i]` are the people filling requirement i and `signers` all of them, sorted; when the
    rule cannot be filled, `deficits` is a Hall certificate: disjoint groups of requirements whose
    shortfalls add up to exactly the number of slots no assignment can fill.
    """

    satisfied: bool
    picks: tuple[tuple[str, ...], ...]
    signers: tuple[str, ...]
    deficits: tuple[Deficit, ...] = ()

    @property
    def filled(self) -> int:
        return len(self.signers)


def _greedy(
    requirements: Sequence[tuple[str, int]],
    eligible: Mapping[str, Sequence[str]],
    banned: Collection[str],
) -> RuleMatch | None:
    """A quick first-fit that is only trusted when it succeeds (a failure proves nothing)."""
    used = set(banned)
    signers: list[str] = []
    picks: list[tuple[str, ...]] = []
    for group, needed in requirements:
        if needed <= 0:
            picks.append(_EMPTY)
            continue
        candidates = eligible.get(group, _EMPTY)
        if len(candidates) < needed:
            return None
        start = len(signers)
        for person in candidates:
            if person not in used:
                used.add(person)
                signers.append(person)
                if len(signers) - start == needed:
                    break
        else:
            return None
        picks.append(tuple(signers[start:]))
    signers.sort()
    return RuleMatch(True, tuple(picks), tuple(signers))


def first_fit(requirements: Sequence[tuple[str, int]], eligible: Mapping[str, Sequence[str]]) -> tuple[str, ...] | None:
    """The sorted signers first-fit picks with nobody banned, or None when it fails: the evaluation's fast path."""
    picked: set[str] = set()
    slots = 0
    for group, needed in requirements:
        if needed > 0:
            candidates = eligible.get(group, _EMPTY)
            if len(candidates) < needed:
                return None
            picked.update(candidates[:needed])
            slots += needed
    if len(picked) == slots:
        # The first people of the groups are all different, so they are exactly who first-fit takes.
        return tuple(sorted(picked))
    used: set[str] = set()
    for group, needed in requirements:
        if needed > 0:
            taken = 0
            for person in eligible.get(group, _EMPTY):
                if person not in used:
                    used.add(person)
                    taken += 1
                    if taken == needed:
                        break
            else:
                return None
    return tuple(sorted(used))


def match_rule(
    requirements: Sequence[tuple[str, int]],
    eligible: Mapping[str, Sequence[str]],
    banned: Collection[str] = (),
) -> RuleMatch:
    """Assign distinct people to every slot of `requirements` (group, min_signers), if possible.

    `eligible[group]` lists, in a fixed order, the people who may fill a slot of that group in
    this rule; `banned` people are treated as absent. Cost does not grow with group sizes beyond
    the first few entries: at most (slots - 1) people are matched at any time, so every scan of a
    group's list meets a free person after at most that many entries.
    """
    quick = _greedy(requirements, eligible, banned)
    if quick is not None:
        return quick

    slot_requirement = [i for i, (_, needed) in enumerate(requirements) for _ in range(max(needed, 0))]
    slot_people = [eligible.get(requirements[i][0], _EMPTY) for i in slot_requirement]
    holder: list[str | None] = [None] * len(slot_requirement)
    owner: dict[str, int] = {}

    def augment(slot: int, visited: set[str]) -> bool:
        # Kuhn's augmenting path; depth is bounded by the number of slots, which is small.
        for person in slot_people[slot]:
            if person in visited:
                continue
            visited.add(person)
            current = owner.get(person)
            if current is None or augment(current, visited):
                owner[person] = slot
                holder[slot] = person
                return True
        return False

    for slot in range(len(slot_requirement)):
        augment(slot, set(banned))

    picked: list[list[str]] = [[] for _ in requirements]
    for slot, person in enumerate(holder):
        if person is not None:
            picked[slot_requirement[slot]].append(person)
    picks = tuple(tuple(sorted(p)) for p in picked)
    signers = tuple(sorted(person for person in holder if person is not None))
    unmatched = [slot for slot, person in enumerate(holder) if person is None]
    if not unmatched:
        return RuleMatch(True, picks, signers)
    deficits = _deficits(requirements, slot_requirement, slot_people, owner, unmatched, banned)
    return RuleMatch(False, picks, signers, deficits)


def _deficits(
    requirements: Sequence[tuple[str, int]],
    slot_requirement: Sequence[int],
    slot_people: Sequence[Sequence[str]],
    owner: Mapping[str, int],
    unmatched: Sequence[int],
    banned: Collection[str],
) -> tuple[Deficit, ...]:
    """The requirements reachable from unfilled slots by alternating paths, split where they share nobody.

    In a maximum matching everyone those requirements could use is already taken by one of them
    (König), so each connected part needs exactly as many more people as it has unfilled slots.
    """
    reached_slots = set(unmatched)
    queue = list(unmatched)
    while queue:
        slot = queue.pop()
        for person in slot_people[slot]:
            if person in banned:
                continue
            # No augmenting path is left, so everyone reachable is matched.
            next_slot = owner[person]
            if next_slot not in reached_slots:
                reached_slots.add(next_slot)
                queue.append(next_slot)

    reached = sorted({slot_requirement[s] for s in reached_slots})
    parent = {i: i for i in reached}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_requirement_of: dict[str, int] = {}
    people_of: dict[int, set[str]] = {i: set() for i in reached}
    for i in reached:
        # A reached requirement always has at least one slot, the one it was reached through.
        for person in slot_people[slot_requirement.index(i)]:
            if person in banned:
                continue
            people_of[i].add(person)
            other = first_requirement_of.setdefault(person, i)
            parent[find(other)] = find(i)

    parts: dict[int, list[int]] = {}
    for i in reached:
        parts.setdefault(find(i), []).append(i)
    deficits = []
    for indexes in sorted(parts.values()):
        available: set[str] = set()
        for i in indexes:
            available |= people_of[i]
        needed = sum(requirements[i][1] for i in indexes)
        deficits.append(Deficit(tuple(indexes), needed, tuple(sorted(available))))
    return tuple(deficits)
