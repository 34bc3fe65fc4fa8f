"""A foreign fund's desk: the mirror of the CNS's co-insurance process.

The fund of the family's country of residence asks the CNS for the entitlement document (R17:
S071 in an S_BUC_01 case it owns), registers the person when the S072 confirms it and answers
with an S073; when the S072 does not confirm, it records the refusal and closes the case (X001).
As the former fund of R5 it answers an S040 with an S041 from its records: ``02`` with the
insurance periods it holds, ``01`` when the person is known but has none, ``03`` when it cannot
find the person. It answers reminders (X009 → X010) and clarification requests (X012 → X013),
and reminds the CNS (X009) when the S072 is overdue.

As the fund of residence of S_BUC_01A it accepts a case opened by the CNS's S072 sent unasked
(it is the counterparty): it finds the person in its records (by its own PIN, else by date of
birth and name; the case names no record when none matches) and, like for an S071's answer,
registers the person and sends the S073 (registration confirmed, dated the S072's start). When
what a registration rests on goes out of effect (the CNS invalidates its S072 with an X008, or
our S073 is invalidated or rejected) the fund un-registers (:class:`EntitlementUnrecorded`).

The default behaviour follows the BUC rules. :class:`FundPolicy` switches each automatic answer
off, and the fund's commands (:data:`~eessi.core.messages.FundCommand`: ``RequestEntitlement``,
``RegisterEntitlement``, ``InvalidateDocument``, ``RejectDocument``, ``RequestClarification``,
``CloseCase``, ``AskAgain``), handed to :meth:`FundDesk.handle` like documents and time, let a
scripted mock (delay, refuse, stay silent...) act when it wants. Those behaviours live outside
the core; this desk is pure like the CNS's: one immutable :class:`FundState`, one transaction
per input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from itertools import chain
from typing import TypeAlias, assert_never

from eessi.clock import Clock
from eessi.core import case as cm
from eessi.core.buc_table import Direction
from eessi.core.desk import (
    CaseFile,
    DueIndex,
    Overlay,
    PersistentMap,
    Tx,
    case_due,
    file_cases,
    reference_of,
)
from eessi.core.mapping import names_match
from eessi.core.messages import (
    AskAgain,
    CloseCase,
    DocumentReceived,
    EntitlementRecorded,
    EntitlementRefused,
    EntitlementUnrecorded,
    FundInput,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    Step,
    TimePassed,
)
from eessi.errors import DomainError, ProtocolError
from eessi.ids import IdGenerator
from eessi.sed.catalogue import Role
from eessi.sed.documents import (
    S040,
    S041,
    S071,
    S072,
    S073,
    X009,
    X012,
    ClosureReason,
    InsurancePeriod,
    InvalidationReason,
    Question,
    RejectionReason,
    ReminderReply,
    S041Reply,
    StatusFamilyMember,
    StatusPerson,
)
from eessi.sed.model import OpenPeriod, OpenPeriodType, Person, ResidenceAddress

__all__ = ["FundDesk", "FundPolicy", "FundRecord", "FundState"]


@dataclass(frozen=True, slots=True)
class FundRecord:
    """A person the fund knows: what it writes in an S071, what it answers to an S040."""

    #: The fund's own key for the person (``"ana"``).
    key: str
    person: Person
    #: The person's address in the fund's country (S071).
    address: ResidenceAddress
    #: Family member of a main insured (with the main insured's details), or insured person.
    status: StatusFamilyMember | StatusPerson
    #: Periods of insurance with this fund, for an S041 (R5).
    insurance_periods: tuple[InsurancePeriod, ...] = ()


@dataclass(frozen=True, slots=True)
class FundPolicy:
    """Which answers the fund sends by itself (all on by default: the BUC rules)."""

    #: On a confirmed S072, register and send the S073 at once.
    auto_register: bool = True
    #: On a not-confirmed S072, close the case with X001.
    close_after_refusal: bool = True
    #: Answer an S040 with an S041 at once.
    answer_s040: bool = True
    #: Answer a reminder X009 with an X010.
    answer_reminders: bool = True
    #: Answer a clarification request X012 with an X013.
    answer_clarifications: bool = True
    #: Reply deadlines per BUC (default: the case machine's).
    deadlines: Mapping[str, cm.Deadlines] | None = None


@dataclass(frozen=True, slots=True)
class FundState:
    """Everything the fund desk knows, as one value."""

    cases: Mapping[str, CaseFile] = field(default_factory=dict)
    #: Persons registered (S073 sent, confirming), by case ID: the start date.
    registered: Mapping[str, date] = field(default_factory=dict)
    #: Refusals received (S072 not confirmed), by case ID: the reason code.
    refused: Mapping[str, str] = field(default_factory=dict)


class FundDesk:
    """A foreign fund (see the module docstring)."""

    def __init__(
        self,
        institution_id: str,
        records: Iterable[FundRecord],
        clock: Clock,
        ids: IdGenerator,
        policy: FundPolicy | None = None,
        state: FundState | None = None,
    ) -> None:
        self.institution_id = institution_id
        self.country = institution_id.split(":", 1)[0]
        self.records: dict[str, FundRecord] = {}
        #: Positions in ``records`` by our country's PIN, and by date of birth (see ``_find``).
        self._by_pin: dict[str, list[int]] = {}
        self._by_birth: dict[date, list[int]] = {}
        for pos, r in enumerate(records):
            if r.key in self.records:
                raise DomainError(
                    f"fund {institution_id}: two records have the key {r.key!r}",
                    hint="give every record its own key",
                    code="domain.bad-registry",
                )
            self.records[r.key] = r
            ours = r.person.pin_for(self.country)
            if ours is not None:
                self._by_pin.setdefault(ours.number, []).append(pos)
            self._by_birth.setdefault(r.person.birth_date, []).append(pos)
        self._in_order = tuple(self.records.values())
        self.clock = clock
        self.ids = ids
        self.policy = policy or FundPolicy()
        state = state or FundState()
        self._state = FundState(
            PersistentMap.of(state.cases),
            PersistentMap.of(state.registered),
            PersistentMap.of(state.refused),
        )
        #: Cases that may have a reminder due, by when (rebuilt from the state).
        self._due: DueIndex[str] = DueIndex()
        file_cases(self._due, self._state.cases)

    # ---- read-only view

    def snapshot(self) -> FundState:
        return self._state

    def case(self, case_id: str) -> CaseFile:
        return self._state.cases[case_id]

    # ---- the facade

    def handle(self, event: FundInput) -> Step:
        """A document arrived, time passed, or the fund's operator gave a command
        (:data:`~eessi.core.messages.FundCommand`). The state changes only if it was legal."""
        act: _Act
        match event:
            case TimePassed(now=now):
                return self._run(now, lambda run: run.tick(now))
            case DocumentReceived():
                act = partial(_FundRun.received, msg=event)
            case RequestEntitlement():
                act = partial(_FundRun.request_entitlement, cmd=event)
            case AskAgain(case_id=case_id):
                act = partial(_FundRun.ask_again, case_id=case_id)
            case RegisterEntitlement(case_id=case_id):
                act = partial(_FundRun.register, case_id=case_id)
            case InvalidateDocument(case_id=case_id, sed=code):
                act = partial(_FundRun.invalidate, case_id=case_id, code=code)
            case RejectDocument(case_id=case_id, sed=code, reason=reason):
                act = partial(_FundRun.reject, case_id=case_id, code=code, reason=reason)
            case RequestClarification(case_id=case_id, sed=code, question=question):
                act = partial(_FundRun.clarify, case_id=case_id, code=code, question=question)
            case CloseCase(case_id=case_id):
                act = partial(_FundRun.close, case_id=case_id)
            case _:
                assert_never(event)
        return self._run(self.clock.now(), act)

    def _run(self, now: datetime, act: _Act) -> Step:
        run = _FundRun(self, now)
        try:
            act(run)
            state = FundState(run.tx.cases.commit(), run.registered.commit(), run.refused.commit())
        except BaseException:
            self._refile(run.taken)  # nothing changed: what was due still is
            raise
        self._state = state
        self._refile(chain(run.tx.cases.changes, run.taken))
        return run.tx.step()

    def _refile(self, case_ids: Iterable[str]) -> None:
        cases = self._state.cases
        for case_id in case_ids:
            cf = cases.get(case_id)
            self._due.file(case_id, None if cf is None else case_due(cf))


class _FundRun:
    def __init__(self, desk: FundDesk, now: datetime) -> None:
        self.desk = desk
        state = desk.snapshot()
        self.policy = desk.policy
        self.tx = Tx(desk.institution_id, desk.ids, now, state.cases, self.policy.deadlines)
        self.registered: Overlay[str, date] = Overlay(PersistentMap.of(state.registered))
        self.refused: Overlay[str, str] = Overlay(PersistentMap.of(state.refused))
        self.today = now.date()
        #: Cases taken from the desk's due index (filed again whatever happens).
        self.taken: list[str] = []

    def tick(self, now: datetime) -> None:
        self.taken = self.desk._due.take(now)
        self.tx.tick(now, self.taken)

    # ---- the fund's commands

    def request_entitlement(self, cmd: RequestEntitlement) -> None:
        """Open an S_BUC_01 case with ``cmd.to`` (the CNS) asking for the S072 of a record."""
        if cmd.to is None:
            raise DomainError(
                f"fund {self.desk.institution_id}: RequestEntitlement names no CNS (to)",
                hint="name the CNS's IR ID in 'to' (a node fills in its directory's CNS)",
                code="domain.no-receiver",
            )
        rec = self.record(cmd.person)
        case_id = self.desk.ids.case_id(self.desk.country)
        self.tx.open("S_BUC_01", Role.CASE_OWNER, case_id, cmd.to, person=cmd.person)
        period = OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=cmd.start or self.today)
        s071 = S071(person=rec.person, address=rec.address, status=rec.status, period=period)
        self.tx.send(case_id, s071)

    def ask_again(self, case_id: str) -> None:
        """Send a new S071 in ``case_id`` after the CNS rejected it or we withdrew it."""
        cf = self.tx.case(case_id)
        rec = self.record(cf.person or "")
        period = OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=self.today)
        s071 = S071(person=rec.person, address=rec.address, status=rec.status, period=period)
        self.tx.send(case_id, s071)

    def invalidate(self, case_id: str, code: str) -> None:
        """Invalidate (X008) our document of type ``code`` in effect in ``case_id``."""
        doc_id = self.in_effect_id(case_id, code, Direction.SEND)
        self.tx.invalidate(case_id, doc_id, InvalidationReason.CONTENT_INCORRECT)
        if case_id in self.registered and self.tx.case(case_id).in_effect("S073") is None:
            del self.registered[case_id]
            why = f"we invalidated our {code} (X008)"
            self.tx.emit(EntitlementUnrecorded(case_id, self.tx.case(case_id).person or "?", why))

    def reject(self, case_id: str, code: str, reason: RejectionReason) -> None:
        """Reject (X011) the peer's document of type ``code`` in effect in ``case_id``."""
        doc_id = self.in_effect_id(case_id, code, Direction.RECEIVE)
        self.tx.reject(case_id, doc_id, reason)

    def clarify(self, case_id: str, code: str, question: str) -> None:
        """Ask (X012) about the peer's document of type ``code`` in ``case_id``."""
        doc_id = self.in_effect_id(case_id, code, Direction.RECEIVE)
        x012 = X012(
            concerned=self.tx.reference(case_id, doc_id),
            questions=(Question(number=1, text=question),),
        )
        self.tx.send(case_id, x012, answers=doc_id)

    def close(self, case_id: str) -> None:
        """Close the case (X001)."""
        self.tx.close(case_id)

    def record(self, key: str) -> FundRecord:
        try:
            return self.desk.records[key]
        except KeyError:
            raise DomainError(
                f"fund {self.desk.institution_id} has no record {key!r}",
                hint=f"use one of {', '.join(sorted(self.desk.records)) or '(none)'}",
                code="domain.unknown-person",
            ) from None

    def in_effect_id(self, case_id: str, code: str, direction: Direction) -> str:
        found = self.tx.case(case_id).in_effect(code)
        if found is None or found[0].direction is not direction:
            who = "we sent" if direction is Direction.SEND else "we received"
            raise ProtocolError(
                f"no {code} that {who} is in effect in case {case_id}",
                where=f"case {case_id}",
                hint="act on a document in effect in the case",
                code="protocol.no-such-document",
            )
        return found[0].document.document_id

    def register(self, case_id: str) -> None:
        s072_id = self.in_effect_id(case_id, "S072", Direction.RECEIVE)
        cf = self.tx.case(case_id)
        s072 = cf.documents[s072_id]
        assert isinstance(s072, S072)
        if not s072.confirmed or s072.period is None:
            raise ProtocolError(
                f"the S072 in case {case_id} does not confirm the entitlement",
                where=f"case {case_id}",
                hint="only a confirmed S072 can be registered",
                code="protocol.not-confirmed",
            )
        start = s072.period.start
        s073 = S073(
            version=s072.version,
            person=s072.person,
            reference=self.tx.reference(case_id, s072_id),
            registered=True,
            registration_date=start,
        )
        self.tx.send(case_id, s073, answers=s072_id)
        self.registered[case_id] = start
        self.tx.emit(EntitlementRecorded(case_id, cf.person or "?", start))

    def received(self, msg: DocumentReceived) -> None:
        tx = self.tx
        if msg.case_id not in tx.cases:
            if msg.buc == "S_BUC_24" and isinstance(msg.sed, S040):
                tx.open(msg.buc, Role.COUNTERPARTY, msg.case_id, msg.sender)
            elif msg.buc == "S_BUC_01A" and isinstance(msg.sed, S072):
                rec = self._find(msg.sed.person)
                key = None if rec is None else rec.key
                tx.open(msg.buc, Role.COUNTERPARTY, msg.case_id, msg.sender, person=key)
            else:
                raise ProtocolError(
                    f"{msg.sed.code} {msg.document_id} for unknown case {msg.case_id}",
                    where=f"case {msg.case_id}",
                    hint="this fund accepts new cases only as S_BUC_24 started by an S040 "
                    "or S_BUC_01A started by an S072",
                    code="protocol.unknown-case",
                )
        answers = msg.answers if msg.answers is not None else reference_of(msg.sed)
        events = tx.receive(msg, answers)
        cf = tx.cases[msg.case_id]
        sed = msg.sed
        if any(isinstance(e, cm.DocumentInvalidated | cm.Rejected) for e in events):
            # What the registration or refusal rested on may be gone: follow what is in effect.
            if cf.case_id in self.registered and (
                cf.in_effect("S073") is None or cf.in_effect("S072") is None
            ):
                del self.registered[cf.case_id]
                gone = "S072" if cf.in_effect("S072") is None else "S073"
                tx.emit(
                    EntitlementUnrecorded(
                        cf.case_id,
                        cf.person or "?",
                        f"the {gone} the registration rested on is no longer in effect",
                    )
                )
            if cf.in_effect("S072") is None:
                self.refused.pop(cf.case_id, None)
        if isinstance(sed, S072):
            if sed.confirmed:
                self.refused.pop(cf.case_id, None)
                if self.policy.auto_register:
                    self.register(cf.case_id)
            else:
                assert sed.not_confirmed is not None
                self.refused[cf.case_id] = sed.not_confirmed.reason.value
                tx.emit(
                    EntitlementRefused(
                        cf.case_id,
                        cf.person or "?",
                        sed.not_confirmed.reason.value,
                        sed.not_confirmed.details,
                    )
                )
                if self.policy.close_after_refusal:
                    tx.close(cf.case_id, ClosureReason.BUSINESS_COMPLETED)
        elif isinstance(sed, S040) and self.policy.answer_s040:
            tx.send(cf.case_id, self._s041(sed), answers=msg.document_id)
        elif isinstance(sed, X009) and self.policy.answer_reminders:
            owed = cf.owes(cf.snapshot.role)
            reply = ReminderReply.WILL_BE_SENT if owed else ReminderReply.SENT
            tx.answer_reminder(cf.case_id, msg.document_id, reply)
        elif isinstance(sed, X012) and self.policy.answer_clarifications:
            tx.answer_clarification(
                cf.case_id, msg.document_id, f"{self.desk.institution_id} confirms the document."
            )

    def _s041(self, s040: S040) -> S041:
        rec = self._find(s040.person)
        if rec is None:
            return S041(
                version=s040.version,
                person=s040.person,
                reply=S041Reply.CANNOT_CONFIRM,
                additional_information="person not found in our records",
            )
        if not rec.insurance_periods:
            return S041(version=s040.version, person=s040.person, reply=S041Reply.NO_PERIODS)
        return S041(
            version=s040.version,
            person=s040.person,
            reply=S041Reply.PERIODS_CONFIRMED,
            insurance_periods=rec.insurance_periods,
        )

    def _find(self, person: Person) -> FundRecord | None:
        """Our record of ``person``: by our country's PIN, else by date of birth and name."""
        desk = self.desk
        pin = person.pin_for(desk.country)
        # Only records that can match: same PIN, or same date of birth; first in order wins.
        positions = set(desk._by_birth.get(person.birth_date, ()))
        if pin is not None:
            positions.update(desk._by_pin.get(pin.number, ()))
        for pos in sorted(positions):
            rec = desk._in_order[pos]
            ours = rec.person.pin_for(self.desk.country)
            if pin is not None and ours is not None:
                if pin.number == ours.number:
                    return rec
                continue
            full = f"{rec.person.forename} {rec.person.family_name}"
            if rec.person.birth_date == person.birth_date and names_match(person, full):
                return rec
        return None


_Act: TypeAlias = Callable[[_FundRun], object]
