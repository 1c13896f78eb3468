"""Benchmark: quorum evaluation with explanations vs json.loads of the same Poderes answer.

    python bench/bench_quorum.py                 # this tree
    python bench/bench_quorum.py --against main  # this tree and `main` side by side (any git ref)

With --against, the ref's chalicelib/ is extracted (git archive) to a temporary folder and each case runs
in child processes, this tree's and the ref's taking turns, so that both meet the same machine load.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = {1_000: 101, 10_000: 31}  # representatives -> repetitions (a shared machine needs many)
GROUPS = 20
RULES = 200
MAX_REQUIREMENTS = 5
AMOUNT = Decimal("250000.00")
ON = date(2026, 11, 29)
GOAL_RATIO = 2.0


def poderes_answer(representatives: int, seed: int) -> tuple[str, dict[str, list[str]]]:
    """A seeded Poderes answer (contracts §1) and what Pessoas/Cadastro Único flagged."""
    rnd = random.Random(seed)
    groups = [f"G{i:02d}" for i in range(GROUPS)]
    cpfs = rnd.sample(range(10**10, 10**11), representatives)
    reps: list[dict[str, Any]] = []
    inactive: dict[str, list[str]] = {}
    for number in cpfs:
        cpf = str(number)
        restrictions: list[dict[str, Any]] = []
        roll = rnd.random()
        if roll < 0.08:
            restrictions.append({"type": "MAX_AMOUNT", "amount": f"{rnd.randrange(50, 2000) * 1000}.00"})
        elif roll < 0.10:
            restrictions.append({"type": "BLOCKED", "reason": "Mandato suspenso"})
        elif roll < 0.15:
            restrictions.append({"type": "JOINT_ONLY"})
        elif roll < 0.16:
            restrictions.append({"type": "PROCURACAO_ESPECIAL"})
        valid_until = "2025-12-31" if rnd.random() < 0.03 else rnd.choice([None, "2028-06-30"])
        reps.append(
            {
                "cpf": cpf,
                "groups": sorted(rnd.sample(groups, rnd.randint(1, 3))),
                "valid_from": rnd.choice(["2019-03-01", "2021-05-10", "2024-01-15"]),
                "valid_until": valid_until,
                "restrictions": restrictions,
            }
        )
        if rnd.random() < 0.05:
            inactive[cpf] = [rnd.choice(["NOT_FOUND", "NO_OPERATOR", "NO_ACCOUNT_ACCESS"])]
    rules = []
    for index in range(RULES):
        chosen = rnd.sample(groups, rnd.randint(1, MAX_REQUIREMENTS))
        rules.append(
            {
                "rule_id": f"R{index:03d}",
                "description": f"Agrupamento {index} de assinantes",
                "max_amount": None if rnd.random() < 0.4 else f"{rnd.randrange(100, 5000) * 1000}.00",
                "requirements": [{"group": g, "min_signers": rnd.randint(1, 3)} for g in chosen],
            }
        )
    body = {"cnpj": "11222333000181", "power_code": "ASSINAR_CCB", "representatives": reps, "rules": rules}
    return json.dumps(body), inactive


def medians(actions: dict[str, Callable[[], object]], repetitions: int) -> dict[str, float]:
    """Median seconds of each action.

    The actions are interleaved so that drifts in machine speed hit all alike, and each sample starts
    from a freshly collected heap, with the cyclic collector on as in production, for every action.
    """
    for action in actions.values():
        action()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repetitions):
        for name, action in actions.items():
            gc.collect()
            start = time.perf_counter()
            action()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def run_case(representatives: int, repetitions: int) -> tuple[float, float]:
    from chalicelib.domain.partners import CompanyPowers
    from chalicelib.domain.quorum import evaluate_party

    text, inactive = poderes_answer(representatives, seed=representatives)
    powers = CompanyPowers.model_validate(json.loads(text))
    result = evaluate_party(powers, AMOUNT, ON, inactive=inactive)

    timed = medians(
        {
            "decode": lambda: json.loads(text),
            "evaluate": lambda: evaluate_party(powers, AMOUNT, ON, inactive=inactive, include_lint=False),
            "evaluate_lint": lambda: evaluate_party(powers, AMOUNT, ON, inactive=inactive),
            "parse": lambda: CompanyPowers.model_validate_json(text),
            "serialise": result.to_dict,
        },
        repetitions,
    )
    decode, evaluate, parse, serialise = timed["decode"], timed["evaluate"], timed["parse"], timed["serialise"]
    with_lint = timed["evaluate_lint"]
    ratio = evaluate / decode
    print(
        f"-- {representatives} representatives, {GROUPS} groups, {RULES} rules of 1-{MAX_REQUIREMENTS} requirements"
        f" ({len(text) / 1024:.0f} KiB of JSON; {len(result.satisfied_rules)} satisfied, "
        f"{len(result.failed_rules)} failed, {len(result.skipped_rules)} skipped; median of {repetitions})"
    )
    print(f"   json.loads(Poderes answer)                       {decode * 1000:9.2f} ms")
    print(f"   evaluate_party(CompanyPowers) with explanations  {evaluate * 1000:9.2f} ms")
    print(f"   ratio evaluation / decoding                      {ratio:9.2f}   (goal <= {GOAL_RATIO})")
    print(
        f"   the same plus the rule-set lint                  {with_lint * 1000:9.2f} ms"
        f"   ratio {with_lint / decode:.2f} (reported, not the goal's measure)"
    )
    print(
        f"   not counted above: CompanyPowers.model_validate_json {parse * 1000:.2f} ms,"
        f" PartyEvaluation.to_dict {serialise * 1000:.2f} ms"
    )
    return ratio, with_lint / decode


def _extract(ref: str, into: Path) -> None:
    """The ref's chalicelib/ (all the engine imports) as committed, into `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "chalicelib"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def _child(root: Path, representatives: int) -> tuple[float, float, str]:
    """One case in a fresh process importing chalicelib from `root`: (ratio, ratio with lint, its printout)."""
    done = subprocess.run(
        [sys.executable, __file__, "--root", str(root), "--case", str(representatives)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    *lines, last = done.stdout.rstrip("\n").split("\n")
    ratio, with_lint = (float(x) for x in last.split())
    return ratio, with_lint, "\n".join(lines)


def against(ref: str, rounds: int) -> bool:
    label = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True, text=True
    ).stdout.strip()
    met = True
    with tempfile.TemporaryDirectory(prefix="bench-quorum-") as tmp:
        _extract(ref, Path(tmp))
        trees = {"this tree": ROOT, f"{ref} ({label})": Path(tmp)}
        for representatives in CASES:
            ratios: dict[str, list[float]] = {name: [] for name in trees}
            lint: dict[str, list[float]] = {name: [] for name in trees}
            for turn in range(rounds):
                for name, root in trees.items():
                    ratio, with_lint, printout = _child(root, representatives)
                    ratios[name].append(ratio)
                    lint[name].append(with_lint)
                    if turn == 0:
                        print(f"== {name}\n{printout}")
            print(f"== {representatives} representatives, median ratio of {rounds} alternating runs each:")
            for name in trees:
                ratio = statistics.median(ratios[name])
                print(
                    f"   {name:<28} evaluation / decoding {ratio:5.2f}"
                    f"   with lint {statistics.median(lint[name]):5.2f}   runs {', '.join(f'{r:.2f}' for r in ratios[name])}"
                )
            mine, theirs = (statistics.median(ratios[name]) for name in trees)
            print(f"   this tree / {ref}: {mine / theirs:.2f}")
            met = met and mine <= GOAL_RATIO
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REF", help="also run the bench on this git ref, side by side")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: alternating runs per tree and case")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # the tree to import
    parser.add_argument("--case", type=int, choices=sorted(CASES), help=argparse.SUPPRESS)  # one case, for --against
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    if args.case:
        ratio, with_lint = run_case(args.case, CASES[args.case])
        print(f"{ratio} {with_lint}")
        return 0
    print("Timed as evaluation: evaluate_party() on an already-built CompanyPowers, computing restrictions,")
    print("matching, signer sets, eligibility, failure explanations and critical signers; the rule-set lint")
    print("(a report on Poderes' answer that does not depend on the order) is timed beside it.")
    if args.against:
        met = against(args.against, args.rounds)
    else:
        met = all(ratio <= GOAL_RATIO for ratio, _ in (run_case(n, repetitions) for n, repetitions in CASES.items()))
    print(f"goal evaluation <= {GOAL_RATIO} x decoding (this tree): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
