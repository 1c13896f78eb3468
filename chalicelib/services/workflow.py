"""The envelope-creation workflow's use cases: one method per Task state of statemachine.asl.json.

The execution carries keys, not people: every partner answer is kept in the database as a party
artifact, so a company with thousands of representatives never inflates the state machine's payload.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from chalicelib.domain.eligibility import inactive_reasons
from chalicelib.domain.orders import OrderStatus, PartyRole, PersonType, StoredOrder
from chalicelib.domain.partners import CompanyPowers, Operator, Person
from chalicelib.domain.quorum import NOT_FOUND, PERSON_NOT_FOUND, evaluate_party
from chalicelib.domain.restrictions import assess_restrictions
from chalicelib.observability import record_verdict, record_workflow_failure
from chalicelib.services.ports import (
    ClaimOutcome,
    Clock,
    MessageQueue,
    OperatorRegistry,
    OutboxMessage,
    PartnerRejected,
    PeopleDirectory,
    PowersDirectory,
    WorkflowRepository,
)

log = logging.getLogger(__name__)

RESULT_QUEUE = "result"
# Brazil has had no daylight saving since 2019: the business date is UTC-3 all year.
BRASILIA = timezone(timedelta(hours=-3))

KIND_PF = "PF"
KIND_PJ_POWERS = "PJ_POWERS"
KIND_PJ_NO_POWERS = "PJ_NO_POWERS"

EVENT_TYPES = {
    OrderStatus.QUORUM_MET: "ORDER_QUORUM_MET",
    OrderStatus.NO_QUORUM: "ORDER_NO_QUORUM",
    OrderStatus.FAILED: "ORDER_FAILED",
}


class OrderVanished(PartnerRejected):
    """The order named by the execution does not exist: nothing to retry."""

    def __init__(self, order_key: str):
        super().__init__("ame", f"order {order_key} not found")


def describe_error(error: dict[str, Any] | None, default: str = "PartnerUnavailable") -> tuple[str, str]:
    """(error name, message) of what a Catch hands over: {"Error": ..., "Cause": <Lambda's JSON or text>}."""
    error = error or {}
    name = str(error.get("Error", default))
    cause = error.get("Cause")
    message = cause
    if isinstance(cause, str):
        try:
            message = json.loads(cause).get("errorMessage", cause)
        except (ValueError, AttributeError):
            message = cause
    return name, str(message or "")


def _stored_participant(participant: dict[str, Any], person: Person | None) -> dict[str, Any]:
    """A participant as the party evaluation stores it: the engine's view plus Pessoas' contact data."""
    return {
        **participant,
        "name": person.name if person else None,
        "email": person.email if person else None,
        "phone": person.phone if person else None,
    }


# What the verdict (and so the result event, docs/contracts.md §3) tells of each participant.
_VERDICT_FIELDS = ("cpf", "name", "groups", "restricted", "active", "reasons")


def _verdict_participant(stored: dict[str, Any]) -> dict[str, Any]:
    return {field: stored[field] for field in _VERDICT_FIELDS}


@dataclass(frozen=True, slots=True)
class PartyFacts:
    """What a party's tasks read of the order. LoadOrder puts it in the party's Map item, so FetchPowers,
    CheckOperators, EvaluatePerson and DecideParty do not read the order again; an order's facts do not
    change after intake, so the copy cannot go stale. A few scalars, never participants: the item stays small."""

    role: str
    person_type: str
    document: str
    power_code: str | None
    amount: Decimal
    platform: str
    operator_check: bool

    @classmethod
    def of(cls, order: StoredOrder, position: int) -> PartyFacts:
        party = order.parties[position]
        return cls(
            role=party.role.value if isinstance(party.role, PartyRole) else party.role,
            person_type=party.person_type.value,
            document=party.document,
            power_code=party.power_code,
            amount=order.amount,
            platform=order.platform,
            operator_check=bool(order.area_snapshot.get("operator_check")),
        )

    def to_payload(self) -> dict[str, Any]:
        """JSON for the state machine; the amount as its decimal string, never a float."""
        return {
            "role": self.role,
            "person_type": self.person_type,
            "document": self.document,
            "power_code": self.power_code,
            "amount": str(self.amount),
            "platform": self.platform,
            "operator_check": self.operator_check,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PartyFacts:
        amount = payload["amount"]
        if not isinstance(amount, str):  # a float would already have lost the cents' exactness
            raise ValueError(f"party amount must be a decimal string, got {type(amount).__name__}")
        return cls(
            role=str(payload["role"]),
            person_type=str(payload["person_type"]),
            document=str(payload["document"]),
            power_code=payload["power_code"],
            amount=Decimal(amount),
            platform=str(payload["platform"]),
            operator_check=bool(payload["operator_check"]),
        )


def business_date(now: datetime) -> date:
    return now.astimezone(BRASILIA).date()


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class EnvelopeWorkflow:
    def __init__(
        self,
        repository: WorkflowRepository,
        powers: PowersDirectory,
        people: PeopleDirectory,
        operators: OperatorRegistry,
        queue: MessageQueue,
        clock: Clock,
    ):
        self._repo = repository
        self._powers = powers
        self._people = people
        self._operators = operators
        self._queue = queue
        self._clock = clock

    # -- LoadOrder -------------------------------------------------------------------------------
    def load_order(self, order_key: str, execution_id: str) -> dict[str, Any]:
        """Claim the order for this execution; a second execution finds it claimed and stops."""
        outcome = self._repo.claim(order_key, execution_id, self._clock.now())
        if outcome is ClaimOutcome.MISSING:
            raise OrderVanished(order_key)
        claimed = outcome in (ClaimOutcome.CLAIMED, ClaimOutcome.RESUMED)
        if not claimed:
            log.info("order not claimed by this execution", extra={"order_key": order_key, "outcome": outcome.value})
            return {"order_key": order_key, "claimed": False, "outcome": outcome.value, "parties": []}
        order = self._order(order_key)
        powers_check = bool(order.area_snapshot.get("powers_check"))
        parties = []
        for party in order.parties:
            if party.person_type is PersonType.PF:
                kind = KIND_PF
            else:
                kind = KIND_PJ_POWERS if powers_check else KIND_PJ_NO_POWERS
            parties.append(
                {
                    "order_key": order_key,
                    "position": party.position,
                    "kind": kind,
                    "party": PartyFacts.of(order, party.position).to_payload(),
                }
            )
        return {"order_key": order_key, "claimed": True, "outcome": outcome.value, "parties": parties}

    # -- PJ: Poderes -----------------------------------------------------------------------------
    def fetch_powers(self, order_key: str, position: int, party: Mapping[str, Any] | None = None) -> dict[str, Any]:
        facts = self._facts(order_key, position, party)
        on = business_date(self._clock.now())
        powers = self._powers.get_powers(facts.document, facts.power_code or "")
        representatives = powers.representatives if powers else []
        assessments = assess_restrictions(representatives, facts.amount, on)
        self._repo.put_artifact(
            order_key,
            position,
            "powers",
            {
                "evaluated_on": on.isoformat(),
                "powers": powers.model_dump(mode="json") if powers else None,
            },
            self._clock.now(),
        )
        unrestricted = sum(1 for a in assessments.values() if not a.restricted)
        return {
            "order_key": order_key,
            "position": position,
            "kind": KIND_PJ_POWERS,
            "representatives": len(representatives),
            "unrestricted": unrestricted,
        }

    def _stored_powers(
        self, order_key: str, position: int, artifacts: dict[str, Any] | None = None
    ) -> tuple[CompanyPowers | None, date]:
        """The party's stored Poderes answer; `artifacts` when the caller has already read them."""
        if artifacts is None:
            artifacts = self._repo.get_artifacts(order_key, position)
        artifact = artifacts.get("powers") or {}
        raw = artifact.get("powers")
        on = (
            date.fromisoformat(artifact["evaluated_on"])
            if "evaluated_on" in artifact
            else business_date(self._clock.now())
        )
        return (CompanyPowers.model_validate(raw) if raw else None), on

    # -- PJ: Pessoas, for every representative (restricted ones stay on record with their data) --
    def fetch_people(self, order_key: str, position: int) -> dict[str, Any]:
        powers, _ = self._stored_powers(order_key, position)
        cpfs = sorted({r.cpf for r in powers.representatives}) if powers else []
        found = self._people.search(cpfs) if cpfs else []
        self._repo.put_artifact(
            order_key, position, "people", [p.model_dump(mode="json") for p in found], self._clock.now()
        )
        return {"found": len(found)}

    # -- PJ: Cadastro Único, for the unrestricted ones, when the area asks ---------------------
    def check_operators(self, order_key: str, position: int, party: Mapping[str, Any] | None = None) -> dict[str, Any]:
        facts = self._facts(order_key, position, party)
        if not facts.operator_check:
            self._repo.put_artifact(
                order_key, position, "operators", {"checked": False, "operators": []}, self._clock.now()
            )
            return {"checked": False}
        powers, on = self._stored_powers(order_key, position)
        reps = powers.representatives if powers else []
        assessments = assess_restrictions(reps, facts.amount, on)
        cpfs = sorted({r.cpf for r in reps if not assessments[r.cpf].restricted})
        found = self._operators.search(facts.document, facts.platform, cpfs) if cpfs else []
        self._repo.put_artifact(
            order_key,
            position,
            "operators",
            {"checked": True, "operators": [o.model_dump(mode="json") for o in found]},
            self._clock.now(),
        )
        return {"checked": True, "found": len(found)}

    # -- PJ: the quorum engine ---------------------------------------------------------------------
    def decide_party(self, order_key: str, position: int, party: Mapping[str, Any] | None = None) -> dict[str, Any]:
        facts = self._facts(order_key, position, party)
        artifacts = self._repo.get_artifacts(order_key, position)
        if "powers" not in artifacts:  # PJ whose area has no powers check: nothing to decide
            verdict = self._party_result(
                facts,
                quorum_met=True,
                reason=None,
                participants=[],
                satisfied_rules=[],
                signer_sets=[],
                eligible=[],
            )
            self._record(order_key, position, verdict, evaluation={"powers_check": False}, participants=[])
            return {"quorum_met": True}

        powers, on = self._stored_powers(order_key, position, artifacts)  # one read of the artifacts
        people = {p["cpf"]: Person.model_validate(p) for p in artifacts.get("people") or []}
        operators_artifact = artifacts.get("operators") or {"checked": False, "operators": []}
        operators = {o["cpf"]: Operator.model_validate(o) for o in operators_artifact["operators"]}
        reps = powers.representatives if powers else []
        assessments = assess_restrictions(reps, facts.amount, on)
        inactive = inactive_reasons(
            reps, assessments, people.keys(), operators if operators_artifact["checked"] else None
        )
        evaluation = evaluate_party(powers, facts.amount, on, inactive=inactive)
        stored_participants = [_stored_participant(p.to_dict(), people.get(p.cpf)) for p in evaluation.participants]
        satisfied = set(evaluation.satisfied_rules)
        skipped = {s.rule_id for s in evaluation.skipped_rules}
        rules = [
            {
                "rule_id": r.rule_id,
                "description": r.description,
                "max_amount": str(r.max_amount) if r.max_amount is not None else None,
                "requirements": [q.model_dump() for q in r.requirements],
                "applicable": r.rule_id not in skipped,
                "satisfied": r.rule_id in satisfied,
            }
            for r in (powers.rules if powers else [])
        ]
        verdict = self._party_result(
            facts,
            quorum_met=evaluation.quorum_met,
            reason=evaluation.reason,
            participants=[_verdict_participant(sp) for sp in stored_participants],
            satisfied_rules=list(evaluation.satisfied_rules),
            signer_sets=[s.to_dict() for s in evaluation.signer_sets],
            eligible=list(evaluation.signers_to_notify),
        )
        verdict["critical_signers"] = list(evaluation.critical_signers)
        # What the portal's party card shows for a failing party (docs/contracts.md §2).
        verdict["failed_rules"] = [f.to_dict() for f in evaluation.failed_rules]
        verdict["skipped_rules"] = [s.to_dict() for s in evaluation.skipped_rules]
        self._record(order_key, position, verdict, evaluation.to_dict(), stored_participants, rules)
        log.info(
            "party decided",
            extra={
                "order_key": order_key,
                "position": position,
                "quorum_met": evaluation.quorum_met,
                "reason": evaluation.reason,
            },
        )
        return {"quorum_met": evaluation.quorum_met, "reason": evaluation.reason, "representatives": len(reps)}

    # -- PF: Pessoas --------------------------------------------------------------------------------
    def evaluate_person(self, order_key: str, position: int, party: Mapping[str, Any] | None = None) -> dict[str, Any]:
        facts = self._facts(order_key, position, party)
        cpf = facts.document
        found = {p.cpf: p for p in self._people.search([cpf])}
        person = found.get(cpf)
        participant = _stored_participant(
            {
                "cpf": cpf,
                "groups": [],
                "restricted": False,
                "active": person is not None,
                "reasons": [] if person else [NOT_FOUND],
                "joint_only": False,
            },
            person,
        )
        met = person is not None
        reason = None if met else PERSON_NOT_FOUND
        verdict = self._party_result(
            facts,
            quorum_met=met,
            reason=reason,
            participants=[_verdict_participant(participant)],
            satisfied_rules=[],
            signer_sets=[],
            eligible=[cpf] if met else [],
        )
        self._record(order_key, position, verdict, evaluation={"person_found": met}, participants=[participant])
        return {"quorum_met": met, "reason": reason}

    # -- aggregate, persist, publish ------------------------------------------------------------------
    def conclude_order(self, order_key: str, execution_id: str) -> dict[str, Any]:
        order = self._order(order_key)
        verdicts = self._repo.artifacts_of_kind(order_key, "verdict")  # every party's, in one read
        parties = []
        for party in order.parties:
            verdict = verdicts.get(party.position)
            if verdict is None:
                raise PartnerRejected("ame", f"party {party.position} of {order_key} has no verdict")
            parties.append(verdict)
        quorum_met = all(p["quorum_met"] for p in parties)
        status = OrderStatus.QUORUM_MET if quorum_met else OrderStatus.NO_QUORUM
        result = {"quorum_met": quorum_met, "parties": parties}
        detail = (
            None
            if quorum_met
            else "sem quórum: "
            + ", ".join(f"{p['role'].lower()} {p['document']}: {p['reason']}" for p in parties if not p["quorum_met"])
        )
        concluded = self._finish(order, execution_id, status, detail, result)
        if concluded:
            record_verdict(status.value, order.area_code)
        return {"order_key": order_key, "status": status.value if concluded else "ALREADY_CONCLUDED"}

    def record_failure(self, order_key: str, execution_id: str, error: dict[str, Any] | None) -> dict[str, Any]:
        order = self._repo.get_order(order_key)
        if order is None:
            return {"order_key": order_key, "status": "ALREADY_CONCLUDED"}
        name, message = describe_error(error, default="TechnicalFailure")
        detail = f"falha técnica: {name}: {message}"[:1000]
        result = {"quorum_met": False, "parties": [], "failure": {"error": name, "message": str(message)[:1000]}}
        concluded = self._finish(order, execution_id, OrderStatus.FAILED, detail, result)
        if concluded:
            record_workflow_failure()
            record_verdict(OrderStatus.FAILED.value, order.area_code)
        return {"order_key": order_key, "status": "FAILED" if concluded else "ALREADY_CONCLUDED"}

    def publish_result(self, order_key: str) -> dict[str, Any]:
        """Send what the outbox holds for this order; the scheduled relay covers a crash here."""
        pending = self._repo.pending_outbox_for(order_key)
        sent = []
        for message in pending:
            self._queue.send(message.queue, message.body)
            sent.append(message.message_id)
        if sent:
            self._repo.mark_outbox_published(sent, self._clock.now())
        return {"published": len(sent)}

    # -- helpers -------------------------------------------------------------------------------------
    def _finish(
        self, order: StoredOrder, execution_id: str, status: OrderStatus, detail: str | None, result: dict[str, Any]
    ) -> bool:
        now = self._clock.now()
        event = {
            "event_id": f"evt_{order.order_key}",
            "event_type": EVENT_TYPES[status],
            "order_key": order.order_key,
            "area_code": order.area_code,
            "external_reference": order.external_reference,
            "occurred_at": _instant(now),
            "status": status.value,
            "result": result,
        }
        message = OutboxMessage(
            message_id=uuid.uuid4().hex,
            order_key=order.order_key,
            queue=RESULT_QUEUE,
            body=json.dumps(event, ensure_ascii=False),
            created_at=now,
        )
        return self._repo.conclude(order.order_key, execution_id, status, now, detail, result, message)

    def _facts(self, order_key: str, position: int, party: Mapping[str, Any] | None) -> PartyFacts:
        """The party's facts from its Map item; read from the order when the item has none (an execution
        started by a state machine that did not pass them, or a direct call)."""
        if party is not None:
            return PartyFacts.from_payload(party)
        return PartyFacts.of(self._order(order_key), position)

    def _order(self, order_key: str) -> StoredOrder:
        order = self._repo.get_order(order_key)
        if order is None:
            raise OrderVanished(order_key)
        return order

    def _record(
        self,
        order_key: str,
        position: int,
        verdict: dict[str, Any],
        evaluation: dict[str, Any],
        participants: list[dict[str, Any]],
        rules: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store the party's evaluation (its rows replaced) and its verdict, which conclude_order gathers,
        in one write."""
        self._repo.save_party_evaluation(
            order_key,
            position,
            quorum_met=verdict["quorum_met"],
            reason=verdict["reason"],
            evaluation=evaluation,
            participants=participants,
            rules=rules or [],
            verdict=verdict,
            now=self._clock.now(),
        )

    @staticmethod
    def _party_result(
        facts: PartyFacts,
        *,
        quorum_met: bool,
        reason: str | None,
        participants: list[dict[str, Any]],
        satisfied_rules: list[str],
        signer_sets: list[dict[str, Any]],
        eligible: list[str],
    ) -> dict[str, Any]:
        return {
            "role": facts.role,
            "person_type": facts.person_type,
            "document": facts.document,
            "power_code": facts.power_code,
            "quorum_met": quorum_met,
            "reason": reason,
            "participants": participants,
            "satisfied_rules": satisfied_rules,
            "signer_sets": signer_sets,
            "eligible_signers": eligible,
            "critical_signers": [],
            "failed_rules": [],
            "skipped_rules": [],
        }
