"""The CNS desk: links BUC cases, SED documents and the co-insurance registration.

Theory of operation
-------------------
:class:`CnsDesk` is told what happened (:data:`~eessi.core.messages.CnsInput`) and answers with a
:class:`~eessi.core.messages.Step`. Its whole state is one immutable :class:`CnsState`; each
input runs in a :class:`~eessi.core.desk.Tx` and the new state is stored only if the input was
legal, so a :class:`~eessi.errors.ProtocolError` changes nothing.

**Registration follows the decision.** What the CNS knows about a household is a
:class:`~eessi.core.facts.Facts` built afresh for every decision from two sources:

- facts recorded from inputs outside EESSI: requests (R3/R18), documents provided (R4-R8, R13,
  R15, R16), decisions of the CNS service (R11, R18);
- facts **derived from the cases in effect**: an S071 in effect in an S_BUC_01 case (R13/R17),
  our S072 in effect *and confirming*, an S073 in effect *and confirming the registration*
  answering it (R14/R17), an S041 in effect in an S_BUC_24 case (R5).

So when an X008 or X011 takes a document out of effect, the fact goes with it. After anything
that concerns a member the desk asks :func:`~eessi.core.eligibility.decide` again; the member is
registered exactly while the decision is ``ELIGIBLE`` (:class:`CoInsuranceRegistered` on the
way in, :class:`RegistrationWithdrawn` on the way out, never twice). On the R13/R17 paths the
rules need the S073, which the derived facts only hold when a confirmed S072 is in effect with
it: a member is never registered over EESSI without both.

**Answering an S071** (the CNS is the counterparty of S_BUC_01, :mod:`eessi.core.cns_answers`):
the member is found from the S071, the decision taken, and the S072 confirms, refuses (with a
reason code citing the rules) or waits for the documents the decision asks for.

**A rejected S072** (:mod:`eessi.core.cns_rejections`): the CNS closes the case or asks about
the S071 (X012), as the X011's reason calls for, and the member's decision says so.

**R5** (:mod:`eessi.core.cns_former_fund`): a request for a member arrived from an R5 country
and insured there personally makes the decision wait for an S041: the desk sends an S040 to the
former fund in an S_BUC_24 case; the S041 feeds the next decision.

**Time** (:mod:`eessi.core.cns_timers`): :class:`TimePassed` ticks every case whose deadline
passed; an overdue reply gets an X009 (:class:`ReminderSent`), documents asked for outside EESSI
are reminded once (:class:`DocumentsReminder`). Timers in each step say when to call back.

**Sending the S072 unasked** (S_BUC_01A, :mod:`eessi.core.cns_issuing`): the CNS, as case
owner, sends a confirmed S072 to the fund of residence (:class:`IssueEntitlement`), one per
person; the fund's S073 makes the entitlement registered (:class:`EntitlementRegistered`).

**Incoming reminders and questions**: an X009 is answered X010 (``02`` will be sent while the
CNS owes the reply, ``03`` cannot be sent while the case is on hold, ``01`` sent otherwise); an
X012 is answered X013.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from itertools import chain
from typing import assert_never

from eessi.clock import Clock
from eessi.core import case as cm
from eessi.core.buc_table import Direction
from eessi.core.cns_answers import DETAILS_MAX, answer_eligible, answer_refused, answer_s071
from eessi.core.cns_former_fund import s041_fact, send_s040
from eessi.core.cns_issuing import follow_entitlement, issue
from eessi.core.cns_rejections import clarified, note_rejections, rejected_by_peer
from eessi.core.cns_timers import asked_due, time_passed
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
from eessi.core.eligibility import Action, Decision, Outcome, decide, decide_answering
from eessi.core.facts import DocumentKind, Fact, Facts
from eessi.core.household import FamilyMember
from eessi.core.messages import (
    CnsInput,
    CoInsuranceRegistered,
    CoInsuranceRequested,
    DecisionMade,
    DocumentProvided,
    DocumentReceived,
    DocumentRefused,
    DocumentsRequested,
    IssueEntitlement,
    MemberRef,
    NotRegistered,
    ReferredToService,
    RegistrationWithdrawn,
    ServiceDecision,
    Step,
    TimePassed,
    Timer,
    WithdrawEntitlement,
)
from eessi.core.registry import CnsRegistry, RegistryEntry
from eessi.core.rules import DEFAULT_PARAMETERS, RuleParameters
from eessi.errors import ProtocolError
from eessi.ids import IdGenerator
from eessi.sed.catalogue import Role
from eessi.sed.documents import (
    S071,
    S072,
    S073,
    X009,
    X012,
    X013,
    InvalidationReason,
    ReminderReply,
)
from eessi.sed.model import Institution

__all__ = ["CnsDesk", "CnsParams", "CnsState", "DocumentRequest", "Registration"]

_D = DocumentKind
#: Missing-item actions that mean "ask someone for a document" (R4-R8, R15, R16).
_ASK = {
    Action.ASK_MAIN_INSURED,
    Action.SEND_DECLARATION_ON_HONOUR,
    Action.WAIT_FOR_CCSS,
    Action.SEND_BL1,
    Action.WAIT_FOR_BL6,
}


@dataclass(frozen=True, slots=True)
class CnsParams:
    """What the CNS desk's behaviour depends on, besides the registry."""

    #: The eligibility rules' parameters (thresholds, country lists).
    rules: RuleParameters = DEFAULT_PARAMETERS
    #: Name of the CNS in SEDs (with its IR ID).
    name: str = "Caisse nationale de santé"
    #: Reply deadlines per BUC (default: the case machine's).
    deadlines: Mapping[str, cm.Deadlines] | None = None
    #: An S040 asks for the periods of this long before the arrival (or the end of insurance).
    s040_lookback: timedelta = timedelta(days=5 * 365)
    #: Documents asked for outside EESSI are reminded once after this long (None: never).
    documents_within: timedelta | None = timedelta(days=30)
    #: Names of foreign institutions for PIN blocks, by IR ID (else the ID is used as name).
    institution_names: Mapping[str, str] = field(default_factory=dict)
    #: The fund of residence an S072 sent unasked goes to, by country (``{"FR": "FR:..."}``).
    #: Without an entry, the only institution of that country in ``institution_names``.
    residence_funds: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Registration:
    """A member co-insured with ``main_insured`` (the decision that made it cites ``rules``)."""

    member: MemberRef
    main_insured: str
    start: date
    end: date | None
    rules: tuple[str, ...]
    #: The S_BUC_01 case backing it, when registered over EESSI.
    case_id: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """Something the CNS asked a party for (R4-R8, R11, R15, R16, R18)."""

    kind: DocumentKind
    rule: str
    #: ``eligibility.Party`` value of who must provide it.
    party: str
    asked_at: datetime
    #: A :class:`DocumentsReminder` was emitted for it.
    reminded: bool = False


@dataclass(frozen=True, slots=True)
class CnsState:
    """Everything the CNS desk knows, as one value (compare it, store it, restore it)."""

    cases: Mapping[str, CaseFile] = field(default_factory=dict)
    #: Facts learnt outside EESSI, by household key.
    facts: Mapping[str, Facts] = field(default_factory=dict)
    registrations: Mapping[MemberRef, Registration] = field(default_factory=dict)
    #: Documents requested per member (each (kind, rule) is asked once; a rule asking again
    #: for the same kind, as R4 for a renewed request, asks anew).
    requested: Mapping[MemberRef, tuple[DocumentRequest, ...]] = field(default_factory=dict)
    #: Case IDs about each household, in the order they were linked (an index of ``cases``).
    household_cases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: S_BUC_01A cases whose S072 the fund registered (S073 in effect): the registration date.
    entitlements: Mapping[str, date | None] = field(default_factory=dict)


class CnsDesk:
    """The CNS's co-insurance process (see the module docstring). ``handle(input) -> Step``."""

    def __init__(
        self,
        institution_id: str,
        registry: CnsRegistry,
        clock: Clock,
        ids: IdGenerator,
        params: CnsParams | None = None,
        state: CnsState | None = None,
    ) -> None:
        self.institution_id = institution_id
        self.registry = registry
        self.clock = clock
        self.ids = ids
        self.params = params or CnsParams()
        self.institution = Institution(id=institution_id, name=self.params.name)
        state = state or CnsState()
        self._state = CnsState(
            cases=PersistentMap.of(state.cases),
            facts=PersistentMap.of(state.facts),
            registrations=PersistentMap.of(state.registrations),
            requested=PersistentMap.of(state.requested),
            household_cases=PersistentMap.of(state.household_cases),
            entitlements=PersistentMap.of(state.entitlements),
        )
        #: Cases that may have a reminder due, and members with documents to remind, by when
        #: (hints beside the state, rebuilt from it; see :class:`~eessi.core.desk.DueIndex`).
        self._due_cases: DueIndex[str] = DueIndex()
        self._due_asked: DueIndex[MemberRef] = DueIndex()
        file_cases(self._due_cases, self._state.cases)
        for ref, requests in self._state.requested.items():
            self._due_asked.file(ref, asked_due(self.params.documents_within, requests))

    # ---- read-only view

    def snapshot(self) -> CnsState:
        """The desk's whole state (immutable): equal snapshots, equal desks."""
        return self._state

    @property
    def registrations(self) -> Mapping[MemberRef, Registration]:
        return self._state.registrations

    def case(self, case_id: str) -> CaseFile:
        return self._state.cases[case_id]

    def cases_of(self, member: MemberRef) -> tuple[CaseFile, ...]:
        return tuple(cf for cf in self._state.cases.values() if cf.member == member)

    # ---- the facade

    def handle(self, event: CnsInput) -> Step:
        """Handle one input; the new state is kept only if no error was raised."""
        now = event.now if isinstance(event, TimePassed) else self.clock.now()
        run = CnsRun(self, now)
        try:
            match event:
                case DocumentReceived():
                    run.received(event)
                case CoInsuranceRequested():
                    run.requested(event)
                case DocumentProvided():
                    run.provided(event)
                case ServiceDecision():
                    run.service_decision(event)
                case WithdrawEntitlement():
                    run.withdraw(event)
                case IssueEntitlement():
                    issue(run, event)
                case TimePassed():
                    time_passed(run, event.now)
                case _:
                    assert_never(event)
            state = run.commit()
        except BaseException:
            self._refile(run.taken_cases, run.taken_asked)  # nothing changed
            raise
        self._state = state
        self._refile(
            chain(run.tx.cases.changes, run.taken_cases), chain(run.asked.changes, run.taken_asked)
        )
        return run.tx.step()

    def _refile(self, case_ids: Iterable[str], refs: Iterable[MemberRef]) -> None:
        cases, requested = self._state.cases, self._state.requested
        for case_id in case_ids:
            cf = cases.get(case_id)
            self._due_cases.file(case_id, None if cf is None else case_due(cf))
        for ref in refs:
            self._due_asked.file(
                ref, asked_due(self.params.documents_within, requested.get(ref, ()))
            )


class CnsRun:
    """One input being handled: a transaction over the CNS state."""

    def __init__(self, desk: CnsDesk, now: datetime) -> None:
        self.desk = desk
        self.p = desk.params
        state = desk.snapshot()
        self.tx = Tx(desk.institution_id, desk.ids, now, state.cases, self.p.deadlines)
        self.facts: Overlay[str, Facts] = Overlay(PersistentMap.of(state.facts))
        self.registrations: Overlay[MemberRef, Registration] = Overlay(
            PersistentMap.of(state.registrations)
        )
        self.asked: Overlay[MemberRef, tuple[DocumentRequest, ...]] = Overlay(
            PersistentMap.of(state.requested)
        )
        self.index: Overlay[str, tuple[str, ...]] = Overlay(PersistentMap.of(state.household_cases))
        self.entitlements: Overlay[str, date | None] = Overlay(PersistentMap.of(state.entitlements))
        self.today = now.date()
        #: Keys taken from the desk's due indexes (filed again whatever happens).
        self.taken_cases: list[str] = []
        self.taken_asked: list[MemberRef] = []

    def commit(self) -> CnsState:
        return CnsState(
            cases=self.tx.cases.commit(),
            facts=self.facts.commit(),
            registrations=self.registrations.commit(),
            requested=self.asked.commit(),
            household_cases=self.index.commit(),
            entitlements=self.entitlements.commit(),
        )

    # ---- inputs outside EESSI

    def _member(self, pin: str, member_id: str) -> tuple[RegistryEntry, MemberRef]:
        entry = self.desk.registry.require_main(pin)
        entry.household.member(member_id)  # DomainError if unknown
        return entry, MemberRef(entry.key, member_id)

    def _learn(self, ref: MemberRef, fact: Fact) -> None:
        self.facts[ref.household] = self.facts.get(ref.household, Facts()).with_(fact)

    def requested(self, ev: CoInsuranceRequested) -> None:
        _, ref = self._member(ev.main_insured_pin, ev.member)
        self._learn(ref, Fact(_D.CO_INSURANCE_REQUEST, member=ref.member, on=self.today))
        self.pursue(ref)

    def provided(self, ev: DocumentProvided) -> None:
        _, ref = self._member(ev.main_insured_pin, ev.member)
        self._learn(ref, Fact(ev.kind, member=ref.member, on=self.today))
        if ev.kind is _D.ENTITLEMENT_CERTIFICATE_FROM_INSURED:
            self.tx.emit(
                DocumentRefused(
                    ref,
                    ev.kind,
                    "R13",
                    "a certificate of entitlement handed in by the insured is not accepted: "
                    "the fund of residence must ask over EESSI (S071)",
                )
            )
        self.pursue(ref)

    def service_decision(self, ev: ServiceDecision) -> None:
        _, ref = self._member(ev.main_insured_pin, ev.member)
        if ev.kind is _D.CNS_SERVICE_DECISION:
            fact = Fact(ev.kind, member=ref.member, on=self.today, approved=ev.approved)
            self._learn(ref, fact)
        elif ev.approved:  # R11 authorisation; a refusal leaves it missing
            self._learn(ref, Fact(ev.kind, member=ref.member, on=self.today))
        self.pursue(ref)

    def withdraw(self, ev: WithdrawEntitlement) -> None:
        cf = self.tx.case(ev.case_id)
        found = cf.in_effect("S072")
        if found is None or found[0].direction is not Direction.SEND:
            raise ProtocolError(
                f"case {ev.case_id} has no S072 of the CNS in effect to withdraw",
                where=f"case {ev.case_id}",
                hint="only an S072 the CNS sent, still in effect, can be invalidated (X008)",
                code="protocol.nothing-to-withdraw",
            )
        self.tx.invalidate(
            ev.case_id, found[0].document.document_id, InvalidationReason.OTHER, ev.reason[:500]
        )
        cf = self.tx.update(ev.case_id, suspended=True)
        follow_entitlement(self, cf)
        if cf.member is not None:
            self.pursue(cf.member)

    # ---- documents over EESSI

    def received(self, msg: DocumentReceived) -> None:
        tx = self.tx
        code = msg.sed.code
        if msg.case_id not in tx.cases:
            if msg.buc == "S_BUC_01" and code == "S071":
                tx.open(msg.buc, Role.COUNTERPARTY, msg.case_id, msg.sender)
            else:
                raise ProtocolError(
                    f"{code} {msg.document_id} from {msg.sender} for unknown case "
                    f"{msg.case_id} ({msg.buc})",
                    where=f"case {msg.case_id}",
                    hint="the CNS accepts new cases only as S_BUC_01 started by an S071; "
                    "other documents must belong to a case it takes part in",
                    code="protocol.unknown-case",
                    details={"case_id": msg.case_id, "sed": code, "buc": msg.buc},
                )
        answers = msg.answers if msg.answers is not None else reference_of(msg.sed)
        events = tx.receive(msg, answers)
        cf = tx.cases[msg.case_id]
        if any(
            isinstance(e, cm.Rejected)
            and e.document.code == "S072"
            and e.by is not cf.snapshot.role
            for e in events
        ):
            cf = rejected_by_peer(self, cf, events)  # hold; close or ask (X012) by reason
        if isinstance(msg.sed, S071):
            answer_s071(self, cf, msg.sed)
            return
        if isinstance(msg.sed, X009):
            owed = cf.owes(cf.snapshot.role)
            reply = (
                ReminderReply.CANNOT_BE_SENT
                if cf.suspended
                else ReminderReply.WILL_BE_SENT
                if owed
                else ReminderReply.SENT
            )
            tx.answer_reminder(cf.case_id, msg.document_id, reply)
        elif isinstance(msg.sed, X012):
            tx.answer_clarification(
                cf.case_id,
                msg.document_id,
                "The CNS confirms the document as sent; see the rules cited in it.",
            )
        elif isinstance(msg.sed, X013):
            clarified(self, cf)
        cf = tx.cases[msg.case_id]
        follow_entitlement(self, cf)
        if isinstance(msg.sed, S073) and cf.member is None:
            if cf.person is None:
                why = "the S072 of this case named no known person"
                tx.emit(NotRegistered(None, cf.case_id, why))
            elif cf.case_id not in self.entitlements:
                tx.emit(NotRegistered(None, cf.case_id, f"{cf.person}: {self.why_not(cf)}"))
        if cf.member is not None and self._concerns_member(msg.sed.code, events):
            self.pursue(cf.member)
            if isinstance(msg.sed, S073) and cf.member not in self.registrations:
                tx.emit(NotRegistered(cf.member, cf.case_id, self.why_not(cf)))

    @staticmethod
    def _concerns_member(code: str, events: tuple[cm.Event, ...]) -> bool:
        """Did this document change what is in effect (and so what the rules see)?"""
        if code in ("S041", "S073"):
            return True
        return any(
            isinstance(e, cm.StateChanged | cm.CompletionWithdrawn | cm.NewVersion) for e in events
        )

    def why_not(self, cf: CaseFile) -> str:
        s073 = cf.in_effect("S073")
        if s073 is not None and isinstance(s073[1], S073) and not s073[1].registered:
            return "the fund of residence did not register the person (S073 not confirmed)"
        s072 = cf.in_effect("S072")
        if s072 is not None and isinstance(s072[1], S072) and not s072[1].confirmed:
            return "the S072 of this case did not confirm the entitlement"
        return "the rules do not make the member eligible (see the decision)"

    # ---- deciding and acting on the decision

    def link(self, case_id: str, ref: MemberRef) -> None:
        """Record that ``case_id`` is about ``ref`` (and index it under the household)."""
        old = self.tx.cases[case_id].member
        if old == ref:
            return
        if old is not None:
            self.index[old.household] = tuple(
                c for c in self.index.get(old.household, ()) if c != case_id
            )
        self.tx.update(case_id, member=ref)
        self.index[ref.household] = (*self.index.get(ref.household, ()), case_id)

    def cases_of_household(self, household: str) -> list[CaseFile]:
        return [self.tx.cases[c] for c in self.index.get(household, ())]

    def facts_of(self, household: str) -> Facts:
        """Facts recorded outside EESSI plus those derived from the cases in effect."""
        derived: list[Fact] = []
        for cf in self.cases_of_household(household):
            derived.extend(case_facts(cf))
        return self.facts.get(household, Facts()).with_(*derived)

    def decide(self, ref: MemberRef, facts: Facts | None = None) -> Decision:
        entry = self.desk.registry.entry(ref.household)
        return decide(
            entry.household,
            ref.member,
            on=self.today,
            facts=facts if facts is not None else self.facts_of(ref.household),
            params=self.p.rules,
        )

    def pursue(self, ref: MemberRef) -> None:
        """Decide about ``ref`` and do what the decision asks; keep the registration in line."""
        entry = self.desk.registry.entry(ref.household)
        decision, answer = decide_answering(
            entry.household,
            ref.member,
            on=self.today,
            facts=self.facts_of(ref.household),
            params=self.p.rules,
        )
        decision = note_rejections(self, ref, decision)
        self.tx.emit(DecisionMade(ref, decision))
        answering = [
            cf
            for cf in self.cases_of_household(ref.household)
            if cf.member == ref
            and cf.buc == "S_BUC_01"
            and cf.owes(Role.COUNTERPARTY) == "S072"
            and not cf.suspended
        ]
        self.reconcile(ref, decision)
        if decision.outcome is Outcome.PENDING:
            actions = {m.action for m in decision.missing}
            if answering and actions <= {Action.SEND_S072}:
                # The first case is answered with the decision taken with this one (D410):
                # nothing changed the facts since; an S072 sent changes them for the next.
                for i, cf in enumerate(answering):
                    answer_eligible(self, cf, ref, answer if i == 0 else None)
                return
            if answering and Action.WAIT_FOR_S071 in actions:
                for cf in answering:
                    answer_refused(self, cf, ref, decision)
                return
            self.ask_missing(ref, decision)
            return
        for cf in answering:
            if decision.outcome is Outcome.NOT_ELIGIBLE:
                answer_refused(self, cf, ref, decision)
            else:
                answer_eligible(self, cf, ref)

    def reconcile(self, ref: MemberRef, decision: Decision) -> None:
        current = self.registrations.get(ref)
        if decision.eligible:
            assert decision.attaches_to is not None
            assert decision.start is not None
            backing = self.backing_case(ref)
            if current is None:
                reg = Registration(
                    ref,
                    decision.attaches_to,
                    decision.start,
                    decision.end,
                    decision.rules,
                    backing,
                )
                self.registrations[ref] = reg
                self.tx.emit(
                    CoInsuranceRegistered(
                        ref, reg.main_insured, reg.start, reg.end, reg.rules, backing
                    )
                )
            elif current.case_id != backing:
                self.registrations[ref] = replace(current, case_id=backing)
            return
        if current is not None:
            del self.registrations[ref]
            why = "; ".join(f"{r.rule}: {r.explanation}" for r in decision.reasons[-2:])
            self.tx.emit(RegistrationWithdrawn(ref, current.case_id, why[:DETAILS_MAX]))

    def backing_case(self, ref: MemberRef) -> str | None:
        for cf in self.cases_of_household(ref.household):
            if cf.member == ref and any(f.kind is _D.S073 for f in case_facts(cf)):
                return cf.case_id
        return None

    def ask_missing(self, ref: MemberRef, decision: Decision) -> None:
        asked = list(self.asked.get(ref, ()))
        done = {(r.kind, r.rule) for r in asked}
        groups: dict[tuple[str, str], list[DocumentKind]] = {}
        hints: dict[tuple[str, str], list[str]] = {}
        for item in decision.missing:
            if (item.kind, item.rule) in done:
                continue
            party = item.from_party.value
            if item.action in _ASK:
                groups.setdefault((item.rule, party), []).append(item.kind)
                hints.setdefault((item.rule, party), []).append(item.hint)
            elif item.action is Action.REFER_TO_SERVICE:
                self.tx.emit(ReferredToService(ref, item.kind, item.rule))
            else:
                if item.action is Action.SEND_S040 and item.institution is not None:
                    send_s040(self, ref, item.institution)
                continue
            done.add((item.kind, item.rule))
            asked.append(DocumentRequest(item.kind, item.rule, party, self.tx.now))
        for (rule_id, party), kinds in groups.items():
            hint = "; ".join(hints[(rule_id, party)])
            self.tx.emit(DocumentsRequested(ref, tuple(kinds), rule_id, party, hint))
        if groups and self.p.documents_within is not None:
            due = self.tx.now + self.p.documents_within
            self.tx.timers.append(Timer(due, None, f"documents for {ref} are due"))
        self.asked[ref] = tuple(asked)

    def entry_member(self, ref: MemberRef) -> tuple[RegistryEntry, FamilyMember]:
        entry = self.desk.registry.entry(ref.household)
        return entry, entry.household.member(ref.member)


def case_facts(cf: CaseFile) -> Iterable[Fact]:
    """What a case in effect tells the rules (see the module docstring)."""
    if cf.member is None:
        return ()
    m = cf.member.member
    out: list[Fact] = []
    if cf.buc in ("S_BUC_01", "S_BUC_01A"):
        s071 = cf.in_effect("S071")
        if s071 is not None:
            out.append(Fact(_D.S071, member=m, institution=cf.peer, on=s071[0].at.date()))
        s072 = cf.in_effect("S072")
        if s072 is not None and isinstance(s072[1], S072) and s072[1].confirmed:
            out.append(Fact(_D.S072, member=m, on=s072[0].at.date()))
            s073 = cf.in_effect("S073")
            if s073 is not None and isinstance(s073[1], S073) and s073[1].registered:
                out.append(Fact(_D.S073, member=m, institution=cf.peer, on=s073[0].at.date()))
    elif cf.buc == "S_BUC_24":
        fact = s041_fact(cf, m)
        if fact is not None:
            out.append(fact)
    return tuple(out)
