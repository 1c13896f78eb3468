"""What the workflow tasks write: the claim on an order, partner answers per party, the parties' verdicts,
and the conclusion with its event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa

from chalicelib.adapters.db.base import SqlStore, amount_or_none, loads, rows_of_order, to_db_time
from chalicelib.adapters.db.outbox import mark_creation_delivered
from chalicelib.adapters.db.partner_calls import add_partner_calls
from chalicelib.adapters.db.schema import (
    order_participants,
    order_parties,
    order_rules,
    orders,
    party_artifacts,
)
from chalicelib.adapters.jsontext import dumps
from chalicelib.domain.money import format_amount
from chalicelib.domain.orders import OrderStatus
from chalicelib.observability import partner_calls_for
from chalicelib.services.ports import ClaimOutcome, OutboxMessage

PROCESSING_DETAIL = "em processamento"


class UnknownParty(LookupError):
    """save_party_evaluation was given an (order_key, position) that is not stored."""


class SqlWorkflowStore(SqlStore):
    """The WorkflowStore and PartyDetailsReader ports (chalicelib/services/ports.py)."""

    def claim(self, order_key: str, execution_id: str, now: datetime) -> ClaimOutcome:
        """RECEIVED -> PROCESSING owned by `execution_id`, by compare-and-set."""
        at = to_db_time(now)
        claimable = sa.or_(
            orders.c.status == OrderStatus.RECEIVED.value,
            # a parked order (try again later) is claimed again by its re-drive execution
            sa.and_(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by.is_(None)),
        )
        with self._write("claim") as conn:
            if self._change_status(
                conn,
                order_key,
                claimable,
                OrderStatus.PROCESSING,
                PROCESSING_DETAIL,
                at,
                processing_by=execution_id,
                next_attempt_at=None,
                parked_on=None,
            ):
                mark_creation_delivered(conn, order_key, at)
                return ClaimOutcome.CLAIMED
            row = conn.execute(
                sa.select(orders.c.status, orders.c.processing_by).where(orders.c.order_key == order_key)
            ).first()
        if row is None:
            return ClaimOutcome.MISSING
        status = OrderStatus(row.status)
        if status is OrderStatus.PROCESSING:
            return ClaimOutcome.RESUMED if row.processing_by == execution_id else ClaimOutcome.BUSY
        return ClaimOutcome.TERMINAL if status.terminal else ClaimOutcome.BUSY

    def put_artifact(self, order_key: str, position: int, kind: str, payload: Any, now: datetime) -> None:
        """Replace one party artifact; re-running a task rewrites the same row."""
        # The task's partner calls (docs/analytics.md) are counted in this same commit.
        with partner_calls_for(order_key) as calls, self._write("put_artifact") as conn:
            _replace_artifact(conn, order_key, position, kind, payload, now)
            if calls:
                add_partner_calls(conn, order_key, calls)

    def get_artifacts(self, order_key: str, position: int) -> dict[str, Any]:
        with self._single_reads.connect() as conn:
            rows = conn.execute(_statements().party_artifacts, {"k_order_key": order_key, "k_position": position})
            return {r.kind: loads(r.payload) for r in rows}

    def artifacts_of_kind(self, order_key: str, kind: str) -> dict[int, Any]:
        with self._single_reads.connect() as conn:
            rows = conn.execute(_statements().artifacts_of_kind, {"k_order_key": order_key, "k_kind": kind})
            return {r.position: loads(r.payload) for r in rows}

    def save_party_evaluation(
        self,
        order_key: str,
        position: int,
        *,
        quorum_met: bool | None,
        reason: str | None,
        evaluation: dict[str, Any],
        participants: Sequence[Mapping[str, Any]],
        rules: Sequence[Mapping[str, Any]],
        verdict: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> None:
        """Replace the party's verdict, participants and rules: re-running it leaves the same rows. With
        `verdict`, its verdict artifact too, in the same transaction (one commit per decided party)."""
        if verdict is not None and now is None:
            raise ValueError("a verdict artifact needs its time (now)")
        participant_rows = [participant_row(order_key, position, p) for p in participants]
        rule_rows = [rule_row(order_key, position, r) for r in rules]
        check_unique(order_key, position, participant_rows, rule_rows)
        statements = _statements()
        party = {"k_order_key": order_key, "k_position": position}
        with partner_calls_for(order_key) as calls, self._write("save_party_evaluation") as conn:
            updated = conn.execute(
                statements.party_verdict,
                {**party, "v_quorum_met": quorum_met, "v_reason": reason, "v_evaluation": dumps(evaluation)},
            ).rowcount
            if updated != 1:
                raise UnknownParty(f"{order_key} has no party at position {position}")
            conn.execute(statements.delete_participants, party)
            conn.execute(statements.delete_rules, party)
            if participant_rows:
                conn.execute(statements.insert_participants, participant_rows)
            if rule_rows:
                conn.execute(statements.insert_rules, rule_rows)
            if verdict is not None and now is not None:
                _replace_artifact(conn, order_key, position, "verdict", verdict, now)
            if calls:
                add_partner_calls(conn, order_key, calls)

    def party_details(self, order_key: str) -> dict[int, dict[str, Any]]:
        """Per party position: role, document, verdict, evaluation, participants (by CPF), rules (by id)."""
        with self._engine.connect() as conn:
            parties = rows_of_order(conn, order_parties, order_key, "position")
            participants = rows_of_order(conn, order_participants, order_key, "party_position", "cpf")
            rules = rows_of_order(conn, order_rules, order_key, "party_position", "rule_id")
        details: dict[int, dict[str, Any]] = {
            p.position: {
                "position": p.position,
                "role": p.role,
                "person_type": p.person_type,
                "document": p.document,
                "power_code": p.power_code,
                "quorum_met": None if p.quorum_met is None else bool(p.quorum_met),
                "reason": p.reason,
                "evaluation": loads(p.evaluation),
                "participants": [],
                "rules": [],
            }
            for p in parties
        }
        for r in participants:
            details[r.party_position]["participants"].append(participant_detail(r._mapping))
        for r in rules:
            details[r.party_position]["rules"].append(rule_detail(r._mapping))
        return details

    def conclude(
        self,
        order_key: str,
        execution_id: str,
        status: OrderStatus,
        now: datetime,
        detail: str | None,
        result: dict[str, Any] | None,
        event: OutboxMessage,
    ) -> bool:
        """Terminal status + history + the event's outbox row, in one transaction, by compare-and-set:
        only the execution that owns the PROCESSING order (or anyone while it is still RECEIVED)."""
        at = to_db_time(now)
        detail = detail[:500] if detail else detail
        owned = sa.and_(orders.c.status == OrderStatus.PROCESSING.value, orders.c.processing_by == execution_id)
        unclaimed = orders.c.status == OrderStatus.RECEIVED.value
        with self._write("conclude") as conn:
            if not self._change_status(
                conn,
                order_key,
                sa.or_(owned, unclaimed),
                status,
                detail,
                at,
                next_attempt_at=None,
                parked_on=None,
                result=dumps(result) if result is not None else None,
            ):
                return False
            self._insert_outbox(conn, event, published_at=None, attempts=0)
        return True


class _Statements:
    """The statements a workflow task runs, built once per process with bind parameters: building a
    SQLAlchemy statement and its cache key costs more CPU than running it on SQLite, and as much again
    on every call when rebuilt."""

    def __init__(self) -> None:
        k_order_key, k_position = sa.bindparam("k_order_key"), sa.bindparam("k_position")
        a = party_artifacts
        self.party_artifacts = sa.select(a.c.kind, a.c.payload).where(
            a.c.order_key == k_order_key, a.c.position == k_position
        )
        self.artifacts_of_kind = sa.select(a.c.position, a.c.payload).where(
            a.c.order_key == k_order_key, a.c.kind == sa.bindparam("k_kind")
        )
        self.delete_artifact = a.delete().where(
            a.c.order_key == k_order_key, a.c.position == k_position, a.c.kind == sa.bindparam("k_kind")
        )
        self.insert_artifact = a.insert()
        p = order_parties
        self.party_verdict = (
            p.update()
            .where(p.c.order_key == k_order_key, p.c.position == k_position)
            .values(
                quorum_met=sa.bindparam("v_quorum_met"),
                reason=sa.bindparam("v_reason"),
                evaluation=sa.bindparam("v_evaluation"),
            )
        )
        self.delete_participants, self.delete_rules = (
            t.delete().where(t.c.order_key == k_order_key, t.c.party_position == k_position)
            for t in (order_participants, order_rules)
        )
        self.insert_participants = order_participants.insert()
        self.insert_rules = order_rules.insert()


@cache
def _statements() -> _Statements:
    return _Statements()


def _replace_artifact(
    conn: sa.Connection, order_key: str, position: int, kind: str, payload: Any, now: datetime
) -> None:
    """The party's artifact of `kind` replaced, in the caller's transaction."""
    statements = _statements()
    conn.execute(statements.delete_artifact, {"k_order_key": order_key, "k_position": position, "k_kind": kind})
    conn.execute(
        statements.insert_artifact,
        {
            "order_key": order_key,
            "position": position,
            "kind": kind,
            "payload": dumps(payload),
            "updated_at": to_db_time(now),
        },
    )


# -- rows and their reading back: shared with the in-memory fake's contract (tests/fakes.py) -------------


def check_unique(
    order_key: str, position: int, participant_rows: list[dict[str, Any]], rule_rows: list[dict[str, Any]]
) -> None:
    cpfs = [row["cpf"] for row in participant_rows]
    if len(set(cpfs)) != len(cpfs):
        raise ValueError(f"duplicate participant CPF for party {position} of {order_key}")
    rule_ids = [row["rule_id"] for row in rule_rows]
    if len(set(rule_ids)) != len(rule_ids):
        raise ValueError(f"duplicate rule_id for party {position} of {order_key}")


def _of_party(order_key: str, position: int) -> dict[str, Any]:
    """The columns that tie a participant or rule row to its order party."""
    return {"order_key": order_key, "party_position": position}


def participant_row(order_key: str, position: int, p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **_of_party(order_key, position),
        "cpf": p["cpf"],
        "name": p.get("name"),
        "email": p.get("email"),
        "phone": p.get("phone"),
        "groups": dumps(list(p.get("groups") or [])),
        # No default for the two flags: a participant of unknown standing must not look eligible.
        "restricted": bool(p["restricted"]),
        "active": bool(p["active"]),
        "reasons": dumps(list(p.get("reasons") or [])),
        "joint_only": bool(p.get("joint_only", False)),
    }


def rule_row(order_key: str, position: int, r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **_of_party(order_key, position),
        "rule_id": r["rule_id"],
        "description": r.get("description"),
        "max_amount": amount_or_none(r.get("max_amount")),
        "requirements": dumps(list(r.get("requirements") or [])),
        "applicable": bool(r["applicable"]),
        "satisfied": bool(r["satisfied"]),
    }


def participant_detail(r: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "cpf": r["cpf"],
        "name": r["name"],
        "email": r["email"],
        "phone": r["phone"],
        "groups": loads(r["groups"]),
        "restricted": bool(r["restricted"]),
        "active": bool(r["active"]),
        "reasons": loads(r["reasons"]),
        "joint_only": bool(r["joint_only"]),
    }


def rule_detail(r: Mapping[Any, Any]) -> dict[str, Any]:
    max_amount = amount_or_none(r["max_amount"])
    return {
        "rule_id": r["rule_id"],
        "description": r["description"],
        "max_amount": None if max_amount is None else format_amount(max_amount),
        "requirements": loads(r["requirements"]),
        "applicable": bool(r["applicable"]),
        "satisfied": bool(r["satisfied"]),
    }
