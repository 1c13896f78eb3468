"""Seed data: the partners' answers, loaded from JSON files and indexed for lookups."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SEED_DIR = Path(__file__).parent / "seed"
SEED_FILES = ("areas", "domains", "powers", "people", "operators")


@dataclass
class SeedData:
    """Answers keyed the way each partner looks them up; bodies are served as stored."""

    areas: dict[str, dict[str, Any]] = field(default_factory=dict)
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)
    powers: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (cnpj, platform) -> {cpf: operator}
    operators: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)


def _read(seed_dir: Path, name: str) -> list[dict[str, Any]]:
    path = seed_dir / f"{name}.json"
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{path}: expected a JSON array of objects")
    return data


def load_seed(seed_dir: str | Path | None = None) -> SeedData:
    """Read areas, domains, powers, people and operators .json from seed_dir (all five required)."""
    directory = Path(seed_dir) if seed_dir is not None else DEFAULT_SEED_DIR
    raw = {name: _read(directory, name) for name in SEED_FILES}
    seed = SeedData()
    try:
        seed.areas = {a["area_code"]: a for a in raw["areas"]}
        seed.domains = {d["domain"]: d for d in raw["domains"]}
        seed.powers = {(p["cnpj"], p["power_code"]): p for p in raw["powers"]}
        seed.people = {p["cpf"]: p for p in raw["people"]}
        for entry in raw["operators"]:
            key = (entry["cnpj"], entry["platform"])
            seed.operators.setdefault(key, {}).update({o["cpf"]: o for o in entry["operators"]})
    except KeyError as exc:
        raise ValueError(f"seed data in {directory} lacks the key {exc}") from None
    return seed
