"""What the workflow tasks write: the claim on an order, partner answers per party, the parties' verdicts,
and the conclusion with its event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from chalicelib.adapters.db.base import SqlStore, amount_or_none, loads, rows_of_order, to_db_time
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
        query = sa.select(party_artifacts.c.kind, party_artifacts.c.payload).where(
            party_artifacts.c.order_key == order_key, party_artifacts.c.position == position
        )
        with self._engine.connect() as conn:
            return {r.kind: loads(r.payload) for r in conn.execute(query)}

    def artifacts_of_kind(self, order_key: str, kind: str) -> dict[int, Any]:
        query = sa.select(party_artifacts.c.position, party_artifacts.c.payload).where(
            party_artifacts.c.order_key == order_key, party_artifacts.c.kind == kind
        )
        with self._engine.connect() as conn:
            return {r.position: loads(r.payload) for r in conn.execute(query)}

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
        party = (order_parties.c.order_key == order_key) & (order_parties.c.position == position)
        with partner_calls_for(order_key) as calls, self._write("save_party_evaluation") as conn:
            updated = conn.execute(
                order_parties.update()
                .where(party)
                .values(quorum_met=quorum_met, reason=reason, evaluation=dumps(evaluation))
            ).rowcount
            if updated != 1:
                raise UnknownParty(f"{order_key} has no party at position {position}")
            for table in (order_participants, order_rules):
                conn.execute(table.delete().where(table.c.order_key == order_key, table.c.party_position == position))
            if participant_rows:
                conn.execute(order_participants.insert(), participant_rows)
            if rule_rows:
                conn.execute(order_rules.insert(), rule_rows)
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


def _replace_artifact(
    conn: sa.Connection, order_key: str, position: int, kind: str, payload: Any, now: datetime
) -> None:
    """The party's artifact of `kind` replaced, in the caller's transaction."""
    conn.execute(
        party_artifacts.delete().where(
            party_artifacts.c.order_key == order_key,
            party_artifacts.c.position == position,
            party_artifacts.c.kind == kind,
        )
    )
    conn.execute(
        party_artifacts.insert().values(
            order_key=order_key, position=position, kind=kind, payload=dumps(payload), updated_at=to_db_time(now)
        )
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
