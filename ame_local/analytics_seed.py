"""Synthetic past orders for analytics: tests, benches and `make run` (the Painel shows something at once).

Rows go straight into AME's tables as the workflow would have left them (parties, participants, rules,
status history, partner calls), with valid-looking CPFs/CNPJs, so the no-personal-data scan has real
documents to miss. Deterministic for a seed. `seed_orders` inserts through SQLAlchemy in large chunks
(any database); `seed_orders_mariadb_fast` builds the same shape with INSERT … SELECT over MariaDB's
sequence engine, for a million orders in seconds (bench/bench_analytics.py).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from stdnum.br import cnpj as _cnpj
from stdnum.br import cpf as _cpf

from chalicelib.adapters.db.schema import (
    order_participants,
    order_parties,
    order_partner_calls,
    order_rules,
    order_status_history,
    orders,
)
from chalicelib.domain.partners import WORKFLOW_PARTNERS

AREAS = {
    "CREDITO_PJ": {
        "name": "Crédito PJ",
        "cost_center": "4471",
        "platforms": ["BANKLINE"],
        "methods": ["DIGITAL"],
        "products": ["CCB_GIRO", "CCB_INVESTIMENTO"],
    },
    "CAMBIO_PF": {
        "name": "Câmbio PF",
        "cost_center": "5120",
        "platforms": ["BANKLINE", "MOBILE"],
        "methods": ["DIGITAL", "ELETRONICA"],
        "products": ["CAMBIO_CONTRATO"],
    },
}
NO_QUORUM_REASONS = ("NO_RULE_SATISFIED", "ALL_RESTRICTED", "NO_ACTIVE_OPERATOR", "NO_REPRESENTATIVES")
PARTICIPANT_REASONS = ("MAX_AMOUNT", "BLOCKED", "EXPIRED", "NO_OPERATOR", "NO_ACCOUNT_ACCESS")
PARTNERS = WORKFLOW_PARTNERS
CHUNK = 5000


def make_cpf(n: int) -> str:
    base = f"{n % 10**9:09d}"
    return base + _cpf._calc_check_digits(base)


def make_cnpj(n: int) -> str:
    base = f"{n % 10**8:08d}0001"
    return base + _cnpj.calc_check_digits(base)


def _order_rows(
    n: int, first_day: date, days: int, rng: random.Random, prefix: str, in_flight: bool = True
) -> Iterator[dict[str, list]]:
    """One chunk at a time: rows per table for up to CHUNK orders."""
    tables: dict[str, list] = {"orders": [], "parties": [], "participants": [], "rules": [], "history": [], "calls": []}
    codes = sorted(AREAS)
    for i in range(n):
        area = codes[i % len(codes)]
        spec = AREAS[area]
        key = f"{prefix}{i:012d}"  # 16 characters: never shaped like a CNPJ
        created = datetime.combine(first_day + timedelta(days=rng.randrange(days)), datetime.min.time()) + timedelta(
            seconds=rng.randrange(86400), microseconds=rng.randrange(1000) * 1000
        )
        roll = rng.random() if in_flight else rng.random() * 0.95
        status = (
            "QUORUM_MET"
            if roll < 0.70
            else "NO_QUORUM"
            if roll < 0.90
            else "FAILED"
            if roll < 0.95
            else "PROCESSING"
            if roll < 0.98
            else "RECEIVED"
        )
        pj = area == "CREDITO_PJ" or rng.random() < 0.3
        requester = make_cnpj(1000 + i) if pj else make_cpf(100000 + i)
        verdict_ms = int(rng.lognormvariate(7.5, 1.0)) + 200
        parked = 1 if status != "RECEIVED" and rng.random() < 0.05 else 0
        updated = created + timedelta(milliseconds=verdict_ms + parked * 60000)
        snapshot = {"area_code": area, "name": spec["name"], "cost_center": spec["cost_center"]}
        tables["orders"].append(
            {
                "order_key": key,
                "status": status,
                "status_detail": None,
                "version": 3,
                "created_by": "seed",
                "updated_by": "ame",
                "area_code": area,
                "product_code": rng.choice(spec["products"]),
                "platform": rng.choice(spec["platforms"]),
                "signature_method": rng.choice(spec["methods"]),
                "amount": Decimal(rng.choice((5000, 80000, 250000, 2000000, 9000000))) + Decimal("0.50"),
                "external_reference": None,
                "requester_person_type": "PJ" if pj else "PF",
                "requester_document": requester,
                "idempotency_key": None,
                "request_hash": None,
                "area_snapshot": json.dumps(snapshot),
                "request_body": "{}",
                "result": None,
                "processing_by": None,
                "redrive_count": parked,
                "first_failure_at": None,
                "next_attempt_at": None,
                "created_at": created,
                "updated_at": updated if status != "RECEIVED" else created,
            }
        )
        history = [("RECEIVED", None, created)]
        if status != "RECEIVED":
            history.append(("PROCESSING", "em processamento", created + timedelta(milliseconds=50)))
            for _ in range(parked):
                history.append(
                    (
                        "PROCESSING",
                        "Poderes indisponível; nova tentativa agendada",
                        created + timedelta(milliseconds=100),
                    )
                )
                history.append(("PROCESSING", "em processamento", created + timedelta(milliseconds=150)))
        if status in ("QUORUM_MET", "NO_QUORUM", "FAILED"):
            history.append((status, None, updated))
        tables["history"].extend({"order_key": key, "status": s, "detail": d, "created_at": at} for s, d, at in history)
        guarantors = rng.choice((0, 0, 1, 2))
        parties = [("REQUESTER", "PJ" if pj else "PF", requester)] + [
            ("GUARANTOR", "PF", make_cpf(500000 + i * 3 + g)) for g in range(guarantors)
        ]
        failing = rng.randrange(len(parties)) if status == "NO_QUORUM" else -1
        for pos, (role, ptype, document) in enumerate(parties):
            decided = status in ("QUORUM_MET", "NO_QUORUM")
            met = None if not decided else pos != failing
            reason = (
                None
                if met in (None, True)
                else (rng.choice(NO_QUORUM_REASONS) if ptype == "PJ" else "PERSON_NOT_FOUND")
            )
            tables["parties"].append(
                {
                    "order_key": key,
                    "position": pos,
                    "role": role,
                    "person_type": ptype,
                    "document": document,
                    "power_code": "ASSINAR_CCB" if ptype == "PJ" else None,
                    "quorum_met": met,
                    "reason": reason,
                    "evaluation": None,
                }
            )
            if not decided:
                continue
            people = [make_cpf(900000 + i * 7 + pos * 3 + k) for k in range(3 if ptype == "PJ" else 1)]
            for k, cpf in enumerate(people):
                reasons = [] if met or k == 0 else [rng.choice(PARTICIPANT_REASONS)]
                tables["participants"].append(
                    {
                        "order_key": key,
                        "party_position": pos,
                        "cpf": cpf,
                        "name": f"Pessoa {i} {k}",
                        "email": f"pessoa{i}.{k}@example.com",
                        "phone": f"+551199{i % 10**7:07d}",
                        "groups": json.dumps(["A"]),
                        "restricted": bool(reasons),
                        "active": not reasons,
                        "reasons": json.dumps(reasons),
                        "joint_only": False,
                    }
                )
            if ptype == "PJ":
                for rule, applicable in (("R1", True), ("R2", rng.random() < 0.5)):
                    tables["rules"].append(
                        {
                            "order_key": key,
                            "party_position": pos,
                            "rule_id": rule,
                            "description": "Regra",
                            "max_amount": None,
                            "requirements": "[]",
                            "applicable": applicable,
                            "satisfied": bool(met and applicable and rule == "R1"),
                        }
                    )
        if status != "RECEIVED":
            for partner in PARTNERS if pj else ("pessoas",):
                calls = 1 + parked
                errors = parked + (1 if rng.random() < 0.02 else 0)
                tables["calls"].append(
                    {
                        "order_key": key,
                        "partner": partner,
                        "calls": calls + errors - parked,
                        "errors": errors,
                        "latency_ms": int(rng.uniform(20, 400)) * calls,
                    }
                )
        if len(tables["orders"]) >= CHUNK:
            yield tables
            tables = {k: [] for k in tables}
    if tables["orders"]:
        yield tables


TABLES = (
    ("orders", orders),
    ("parties", order_parties),
    ("participants", order_participants),
    ("rules", order_rules),
    ("history", order_status_history),
    ("calls", order_partner_calls),
)


def seed_orders(
    engine: sa.Engine, n: int, first_day: date, days: int, seed: int = 16, prefix: str = "SEED", in_flight: bool = True
) -> int:
    """Inserts `n` synthetic orders created over `days` days from `first_day`; returns n. `in_flight=False`:
    every order has its verdict (a running stack's sweeper would otherwise re-drive the others)."""
    rng = random.Random(seed)
    for tables in _order_rows(n, first_day, days, rng, prefix, in_flight):
        with engine.begin() as conn:
            for name, table in TABLES:
                if tables[name]:
                    conn.execute(table.insert(), tables[name])
    return n


def seed_orders_mariadb_fast(engine: sa.Engine, n: int, first_day: date, days: int) -> int:
    """The same shape for `n` orders, generated inside MariaDB (INSERT … SELECT FROM seq_1_to_n).

    Keys follow creation time, as AME's ULID order keys do: a day's orders are neighbours in the primary key,
    so reading a window of days touches that part of the table only. (Spreading each day's orders over the
    whole key range, e.g. day = seq % days, makes every window read the whole table: with MariaDB's default
    128 MB buffer pool a million orders then took over 13 minutes to read back.)"""
    seq = f"seq_1_to_{n}"
    start = first_day.isoformat()
    span = days * 86400  # seconds: order seq is created at (seq - 1) * span / n after the first day
    statements = [
        f"""INSERT INTO orders (order_key, status, status_detail, version, created_by, updated_by, area_code,
              product_code, platform, signature_method, amount, external_reference, requester_person_type,
              requester_document, idempotency_key, request_hash, area_snapshot, request_body, result,
              processing_by, redrive_count, first_failure_at, next_attempt_at, created_at, updated_at)
            SELECT CONCAT('B', LPAD(seq, 10, '0')),
                   ELT(1 + (seq * 7919) % 100 DIV 70 + ((seq * 7919) % 100 DIV 90) + ((seq * 7919) % 100 DIV 95),
                       'QUORUM_MET', 'NO_QUORUM', 'FAILED', 'PROCESSING'),
                   NULL, 3, 'seed', 'ame', IF(seq % 2 = 0, 'CREDITO_PJ', 'CAMBIO_PF'),
                   IF(seq % 2 = 0, ELT(1 + seq % 3 % 2, 'CCB_GIRO', 'CCB_INVESTIMENTO'), 'CAMBIO_CONTRATO'),
                   IF(seq % 2 = 0, 'BANKLINE', ELT(1 + seq % 5 % 2, 'BANKLINE', 'MOBILE')),
                   IF(seq % 2 = 0, 'DIGITAL', ELT(1 + seq % 7 % 2, 'DIGITAL', 'ELETRONICA')),
                   ELT(1 + seq % 5, 5000.50, 80000.50, 250000.50, 2000000.50, 9000000.50), NULL,
                   IF(seq % 2 = 0 OR seq % 3 = 0, 'PJ', 'PF'),
                   LPAD(seq, IF(seq % 2 = 0 OR seq % 3 = 0, 14, 11), '7'), NULL, NULL,
                   IF(seq % 2 = 0, '{{"name": "Crédito PJ", "cost_center": "4471"}}',
                                   '{{"name": "Câmbio PF", "cost_center": "5120"}}'), '{{}}', NULL,
                   NULL, 0, NULL, NULL,
                   TIMESTAMP('{start}') + INTERVAL ((seq - 1) * {span} DIV {n}) SECOND,
                   TIMESTAMP('{start}') + INTERVAL ((seq - 1) * {span} DIV {n}) SECOND
                     + INTERVAL (300 + (seq * 131) % 5000) * 1000 MICROSECOND
            FROM {seq}""",
        """INSERT INTO order_status_history (order_key, status, detail, created_at)
            SELECT order_key, 'RECEIVED', NULL, created_at FROM orders WHERE order_key LIKE 'B%'""",
        """INSERT INTO order_status_history (order_key, status, detail, created_at)
            SELECT order_key, 'PROCESSING', 'em processamento', created_at FROM orders WHERE order_key LIKE 'B%'""",
        """INSERT INTO order_status_history (order_key, status, detail, created_at)
            SELECT order_key, status, NULL, updated_at FROM orders
            WHERE order_key LIKE 'B%' AND status IN ('QUORUM_MET', 'NO_QUORUM', 'FAILED')""",
        """INSERT INTO order_parties (order_key, position, role, person_type, document, power_code, quorum_met,
              reason, evaluation)
            SELECT order_key, 0, 'REQUESTER', requester_person_type, requester_document, NULL,
                   CASE status WHEN 'QUORUM_MET' THEN 1 WHEN 'NO_QUORUM' THEN 0 END,
                   IF(status = 'NO_QUORUM', IF(requester_person_type = 'PJ',
                      ELT(1 + CRC32(order_key) % 4, 'NO_RULE_SATISFIED', 'ALL_RESTRICTED', 'NO_ACTIVE_OPERATOR',
                          'NO_REPRESENTATIVES'), 'PERSON_NOT_FOUND'), NULL), NULL
            FROM orders WHERE order_key LIKE 'B%'""",
        """INSERT INTO order_parties (order_key, position, role, person_type, document, power_code, quorum_met,
              reason, evaluation)
            SELECT order_key, 1, 'GUARANTOR', 'PF', LPAD(CRC32(order_key) % 100000000000, 11, '3'), NULL,
                   IF(status IN ('QUORUM_MET', 'NO_QUORUM'), 1, NULL), NULL, NULL
            FROM orders WHERE order_key LIKE 'B%' AND CRC32(order_key) % 2 = 0""",
        """INSERT INTO order_participants (order_key, party_position, cpf, name, email, phone, `groups`,
              restricted, active, reasons, joint_only)
            SELECT p.order_key, p.position, LPAD(s.seq, 11, '9'), 'Pessoa', 'pessoa@example.com', '+5511999990000',
                   '["A"]', s.seq = 2 AND p.quorum_met = 0, NOT (s.seq = 2 AND p.quorum_met = 0),
                   IF(s.seq = 2 AND p.quorum_met = 0, '["MAX_AMOUNT"]', '[]'), 0
            FROM order_parties p JOIN seq_1_to_2 s
            WHERE p.order_key LIKE 'B%' AND p.quorum_met IS NOT NULL AND (p.person_type = 'PJ' OR s.seq = 1)""",
        """INSERT INTO order_rules (order_key, party_position, rule_id, description, max_amount, requirements,
              applicable, satisfied)
            SELECT p.order_key, p.position, CONCAT('R', s.seq), 'Regra', NULL, '[]', s.seq = 1 OR p.quorum_met = 1,
                   s.seq = 1 AND p.quorum_met = 1
            FROM order_parties p JOIN seq_1_to_2 s
            WHERE p.order_key LIKE 'B%' AND p.person_type = 'PJ' AND p.quorum_met IS NOT NULL""",
        """INSERT INTO order_partner_calls (order_key, partner, calls, errors, latency_ms)
            SELECT o.order_key, ELT(s.seq, 'poderes', 'pessoas', 'cadastro'), 1, IF(CRC32(o.order_key) % 50 = 0, 1, 0),
                   20 + CRC32(CONCAT(o.order_key, s.seq)) % 380
            FROM orders o JOIN seq_1_to_3 s
            WHERE o.order_key LIKE 'B%' AND o.status <> 'RECEIVED'""",
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement.replace("%", "%%"))
    return n
