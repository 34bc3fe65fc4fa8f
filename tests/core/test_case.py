"""The Case machine, driven from both roles (wsproto style): every table entry, every illegal step.

Most tests run a :class:`Pair`: the owner's and the counterparty's case of one BUC, in
lockstep, so that what one side sends the other receives. Both must accept the same steps and
end in the same state.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta

import pytest

from eessi.core.buc_table import TRANSITIONS, CaseState, Direction, Step, other_role
from eessi.core.case import (
    BusinessException,
    Case,
    CaseClosed,
    ClarificationAnswered,
    ClarificationRequested,
    CompletionWithdrawn,
    Deadlines,
    DocumentInvalidated,
    DocumentRef,
    EscalationDue,
    Event,
    FlowCompleted,
    NewVersion,
    Rejected,
    Reminded,
    ReminderAnswered,
    ReminderDue,
    ReplyExpected,
    StateChanged,
)
from eessi.errors import ProtocolError, UnknownSedError, UnsupportedVersionError
from eessi.sed.catalogue import SEDS, Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER, CP = Role.CASE_OWNER, Role.COUNTERPARTY
S = CaseState


class Pair:
    """Both sides of one case. ``act(actor, step)`` builds a fitting document and exchanges it."""

    def __init__(self, buc: str, deadlines: Deadlines | None = None) -> None:
        self.cases = {
            role: Case.open(buc, role, "FR-0000000000AB", at=T0, deadlines=deadlines)
            for role in Role
        }
        self.now = T0
        self.count = 0
        self.last: dict[Role, tuple[Event, ...]] = {}

    def fresh_id(self) -> str:
        self.count += 1
        return f"doc-{self.count}"

    def doc_for(self, actor: Role, step: Step) -> DocumentRef:
        """A document the ``actor`` can send for ``step`` (given from the actor's side)."""
        case = self.cases[actor]
        snap = case.snapshot()
        if step.about is None:
            current = case.document(step.sed)
            if current is not None and not SEDS[step.sed].horizontal:
                return DocumentRef(step.sed, current.document_id)  # a new version
            return DocumentRef(step.sed, self.fresh_id())
        if step.about == "X009":
            pool = snap.open_reminders
        elif step.about == "X012":
            pool = snap.open_clarifications
        else:
            target = case.document(step.about)
            assert target is not None, (step, snap.state)
            return DocumentRef(step.sed, self.fresh_id(), answers=target.document_id)
        theirs = [e for e in pool if e.direction is Direction.RECEIVE]
        assert theirs, f"nothing to answer with {step}"
        return DocumentRef(step.sed, self.fresh_id(), answers=theirs[0].document.document_id)

    def prepare(self, actor: Role, step: Step) -> None:
        """Make the history fit ``step``: an open X009/X012 to answer, an overdue reply."""
        peer = other_role(actor)
        snap = self.cases[actor].snapshot()
        if step.about == "X009" and not any(
            e.direction is Direction.RECEIVE for e in snap.open_reminders
        ):
            awaited = self.cases[peer].document(snap.in_effect[-1].document.code)
            assert awaited is not None
            self.act(peer, Step(Direction.SEND, "X009", awaited.code))
        if step.about == "X012" and not any(
            e.direction is Direction.RECEIVE for e in snap.open_clarifications
        ):
            mine = [
                e.document.code
                for e in snap.in_effect
                if e.direction is Direction.SEND and SEDS[e.document.code].has_clarify
            ]
            self.act(peer, Step(Direction.SEND, "X012", mine[0]))
        if step.sed == "X009":
            deadline = self.cases[actor].reply_deadline
            assert deadline is not None
            self.now = max(self.now, deadline)

    def act(self, actor: Role, step: Step) -> DocumentRef:
        """``actor`` sends, the other side receives. ``step`` is given from the actor's side."""
        assert step.direction is Direction.SEND
        self.prepare(actor, step)
        doc = self.doc_for(actor, step)
        self.last[actor] = self.cases[actor].send(doc, at=self.now)
        self.last[other_role(actor)] = self.cases[other_role(actor)].receive(doc, at=self.now)
        return doc

    def apply(self, role: Role, step: Step) -> DocumentRef:
        """Apply a table step written from ``role``'s side."""
        if step.direction is Direction.SEND:
            return self.act(role, step)
        return self.act(other_role(role), step.mirror())

    def state(self) -> CaseState:
        states = {c.state for c in self.cases.values()}
        assert len(states) == 1, f"the two sides disagree: {states}"
        return states.pop()


def path_to(buc: str, target: CaseState) -> list[Step]:
    """The shortest list of state-changing owner-side steps from NEW to ``target``."""
    table = TRANSITIONS[buc][OWNER]
    queue: deque[tuple[CaseState, list[Step]]] = deque([(S.NEW, [])])
    seen = {S.NEW}
    while queue:
        state, steps = queue.popleft()
        if state is target:
            return steps
        for step, nxt in table[state].items():
            if nxt not in seen:
                seen.add(nxt)
                queue.append((nxt, [*steps, step]))
    raise AssertionError(f"{target} unreachable in {buc}")


def pair_in(buc: str, state: CaseState) -> Pair:
    pair = Pair(buc)
    for step in path_to(buc, state):
        pair.apply(OWNER, step)
    assert pair.state() is state
    return pair


TABLE_ENTRIES = [
    pytest.param(b, r, s, step, t, id=f"{b}-{r.value}-{s.name}-{step}")
    for b in sorted(TRANSITIONS)
    for r in Role
    for s, steps in TRANSITIONS[b][r].items()
    for step, t in steps.items()
]


@pytest.mark.parametrize(("buc", "role", "state", "step", "target"), TABLE_ENTRIES)
def test_every_table_step_reaches_its_target_on_both_sides(
    buc: str, role: Role, state: CaseState, step: Step, target: CaseState
) -> None:
    pair = pair_in(buc, state)
    pair.apply(role, step)
    assert pair.cases[role].state is target
    assert pair.state() is target  # the other side agrees (the mirrored entry)


def _universe(case: Case) -> list[tuple[Direction, DocumentRef]]:
    """Every kind of document either side could try now, named against this case's history."""
    known = {e.document.code: e.document.document_id for e in case.snapshot().history}
    out: list[tuple[Direction, DocumentRef]] = []
    for d in Direction:
        for code, kind in SEDS.items():
            refs: list[str | None] = [None]
            if kind.horizontal and code not in ("X001", "X050"):
                refs += list(known.values())
            for ref in refs:
                out.append((d, DocumentRef(code, f"try-{len(out)}", answers=ref)))
    return out


STATES = [
    pytest.param(b, r, s, id=f"{b}-{r.value}-{s.name}")
    for b in sorted(TRANSITIONS)
    for r in Role
    for s in TRANSITIONS[b][r]
]


@pytest.mark.parametrize(("buc", "role", "state"), STATES)
def test_every_step_outside_the_table_raises_and_changes_nothing(
    buc: str, role: Role, state: CaseState
) -> None:
    case = pair_in(buc, state).cases[role]
    table = TRANSITIONS[buc][role][state]
    codes = {e.document.document_id: e.document.code for e in case.snapshot().history}
    tried = 0
    for d, doc in _universe(case):
        about = codes.get(doc.answers) if doc.answers else None
        if Step(d, doc.code, about) in table:
            continue
        before = case.snapshot()
        with pytest.raises(ProtocolError) as info:
            (case.send if d is Direction.SEND else case.receive)(doc, at=T0)
        assert case.snapshot() == before
        err = info.value
        assert err.details["case_id"] == case.case_id
        assert err.details["state"] == state.value
        assert err.details["document"]["code"] == doc.code
        assert doc.document_id in err.message
        tried += 1
    assert tried > 10


# ---------------------------------------------------------------------------- named scenarios


def test_R17_cns_as_counterparty_answers_S071_with_S072_and_registers_on_S073() -> None:
    cns = Case.open("S_BUC_01", CP, "FR-1", at=T0)
    ev = cns.receive(DocumentRef("S071", "s071"), at=T0)
    assert ev == (
        StateChanged(S.NEW, S.AWAITING_REPLY, DocumentRef("S071", "s071"), OWNER),
        ReplyExpected("S072", "s071", CP, T0 + timedelta(days=60)),
    )
    cns.send(DocumentRef("S072", "s072", answers="s071"), at=T0)
    assert not cns.registration_confirmed
    ev = cns.receive(DocumentRef("S073", "s073"), at=T0 + timedelta(days=3))
    s073 = DocumentRef("S073", "s073", answers="s072")
    assert ev == (
        StateChanged(S.AWAITING_CONFIRMATION, S.COMPLETED, s073, OWNER),
        FlowCompleted(s073, OWNER),
    )
    assert cns.state is S.COMPLETED
    assert cns.registration_confirmed


def test_R14_S_BUC_01A_cns_sends_S072_unasked_and_completes_on_S073() -> None:
    cns = Case.open("S_BUC_01A", OWNER, "LU-1", at=T0)
    cns.send(DocumentRef("S072", "a"), at=T0)
    assert cns.state is S.AWAITING_CONFIRMATION
    cns.receive(DocumentRef("S073", "b", answers="a"), at=T0)
    assert cns.registration_confirmed


def test_R5_S_BUC_24_periods_complete_the_case_without_a_registration() -> None:
    cns = Case.open("S_BUC_24", OWNER, "LU-2", at=T0)
    cns.send(DocumentRef("S040", "q"), at=T0)
    ev = cns.receive(DocumentRef("S041", "r"), at=T0)
    assert isinstance(ev[-1], FlowCompleted)
    assert cns.completed
    assert not cns.registration_confirmed


def test_an_S073_before_any_S072_is_refused_with_what_is_allowed() -> None:
    cns = Case.open("S_BUC_01", CP, "FR-9", at=T0)
    cns.receive(DocumentRef("S071", "a"), at=T0)
    before = cns.snapshot()
    with pytest.raises(ProtocolError) as info:
        cns.receive(DocumentRef("S073", "b"), at=T0)
    err = info.value
    assert cns.snapshot() == before
    assert "FR-9" in str(err)
    assert "S_BUC_01" in str(err)
    assert "counterparty" in str(err)
    assert "AWAITING_REPLY" in str(err)
    assert "S073 b" in str(err)
    assert "send S072" in (err.hint or "")
    assert err.code == "protocol.illegal-step"
    assert "send S072" in err.details["allowed"]


def test_invalidating_the_S072_withdraws_the_registration_on_both_sides() -> None:
    pair = pair_in("S_BUC_01", S.COMPLETED)
    assert all(c.registration_confirmed for c in pair.cases.values())
    s072 = pair.cases[CP].document("S072")
    s073 = pair.cases[CP].document("S073")
    assert s072 is not None
    assert s073 is not None
    x008 = pair.act(CP, Step(Direction.SEND, "X008", "S072"))
    for role in Role:
        case = pair.cases[role]
        assert case.state is S.AWAITING_REPLY
        assert not case.registration_confirmed
        assert case.document("S072") is None
        ev = pair.last[role]
        assert DocumentInvalidated(s072, x008, CP, (s073,)) in ev
        assert CompletionWithdrawn(s073, x008, CP) in ev
    # The S072 is awaited again, from the moment of the invalidation.
    assert pair.cases[OWNER].snapshot().wait is not None
    # A fresh S072 and S073 confirm the registration again.
    pair.act(CP, Step(Direction.SEND, "S072"))
    pair.act(OWNER, Step(Direction.SEND, "S073"))
    assert pair.cases[CP].registration_confirmed


def test_rejecting_the_S073_undoes_the_registration_and_awaits_a_new_one() -> None:
    pair = pair_in("S_BUC_01", S.COMPLETED)
    x011 = pair.act(CP, Step(Direction.SEND, "X011", "S073"))
    assert pair.state() is S.AWAITING_CONFIRMATION
    assert not pair.cases[CP].registration_confirmed
    assert any(isinstance(e, Rejected) and e.rejection == x011 for e in pair.last[CP])


def test_rejecting_the_starter_leaves_the_owner_free_to_send_a_corrected_one() -> None:
    pair = pair_in("S_BUC_01", S.AWAITING_REPLY)
    pair.act(CP, Step(Direction.SEND, "X011", "S071"))
    assert pair.state() is S.REJECTED
    assert pair.cases[OWNER].snapshot().wait is None
    pair.act(OWNER, Step(Direction.SEND, "S071"))
    assert pair.state() is S.AWAITING_REPLY


def test_a_new_version_of_the_S072_keeps_the_state_and_counts_revisions() -> None:
    pair = pair_in("S_BUC_01", S.AWAITING_CONFIRMATION)
    doc = pair.act(CP, Step(Direction.SEND, "S072"))
    assert pair.state() is S.AWAITING_CONFIRMATION
    assert NewVersion(pair.cases[CP].document("S072") or doc, 2, CP) in pair.last[CP]
    assert pair.cases[OWNER].snapshot().in_effect[-1].revision == 2


def test_a_second_S072_with_another_id_is_not_a_new_version() -> None:
    cns = Case.open("S_BUC_01", CP, "FR-1", at=T0)
    cns.receive(DocumentRef("S071", "a"), at=T0)
    cns.send(DocumentRef("S072", "b"), at=T0)
    before = cns.snapshot()
    with pytest.raises(ProtocolError, match="already in effect") as info:
        cns.send(DocumentRef("S072", "other"), at=T0)
    assert "document_id b" in (info.value.hint or "")
    assert cns.snapshot() == before


def test_a_reply_naming_another_request_is_refused() -> None:
    cns = Case.open("S_BUC_01", CP, "FR-1", at=T0)
    cns.receive(DocumentRef("S071", "a"), at=T0)
    with pytest.raises(ProtocolError, match="answers zzz"):
        cns.send(DocumentRef("S072", "b", answers="zzz"), at=T0)
    assert cns.state is S.AWAITING_REPLY


def test_a_starter_that_answers_something_is_refused() -> None:
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0)
    with pytest.raises(ProtocolError, match="starts the case"):
        case.send(DocumentRef("S040", "a", answers="b"), at=T0)


def test_a_document_id_cannot_be_reused_for_another_document() -> None:
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0)
    case.send(DocumentRef("S040", "a"), at=T0)
    with pytest.raises(ProtocolError, match="already names S040"):
        case.receive(DocumentRef("S041", "a"), at=T0)
    with pytest.raises(ProtocolError, match="already names S040"):
        case.receive(DocumentRef("X050", "a"), at=T0)


def test_a_horizontal_sed_must_name_the_document_it_acts_on() -> None:
    case = Case.open("S_BUC_24", CP, "LU-1", at=T0)
    case.receive(DocumentRef("S040", "a"), at=T0)
    with pytest.raises(ProtocolError, match="without naming the document"):
        case.send(DocumentRef("X011", "b"), at=T0)
    with pytest.raises(ProtocolError, match="not in this case"):
        case.send(DocumentRef("X011", "b", answers="nope"), at=T0)
    ev = case.send(DocumentRef("X011", "b", answers="a"), at=T0)
    assert Rejected(DocumentRef("S040", "a"), DocumentRef("X011", "b", answers="a"), CP) in ev


def test_nothing_is_accepted_after_closing() -> None:
    pair = pair_in("S_BUC_24", S.AWAITING_REPLY)
    x001 = pair.act(CP, Step(Direction.SEND, "X001"))
    assert pair.last[OWNER] == (
        StateChanged(S.AWAITING_REPLY, S.CLOSED, x001, CP),
        CaseClosed(x001, CP, completed=False),
    )
    case = pair.cases[OWNER]
    for d, doc in _universe(case):
        with pytest.raises(ProtocolError) as info:
            (case.send if d is Direction.SEND else case.receive)(doc, at=T0)
        assert info.value.hint == "nothing may be exchanged in state CLOSED"
    assert case.tick(T0 + timedelta(days=400)) == ()


def test_closing_a_completed_case_keeps_its_registration() -> None:
    pair = pair_in("S_BUC_01A", S.COMPLETED)
    x001 = pair.act(OWNER, Step(Direction.SEND, "X001"))
    assert CaseClosed(x001, OWNER, completed=True) in pair.last[CP]
    assert pair.cases[CP].registration_confirmed


def test_clarification_request_and_answer_are_recorded_without_changing_state() -> None:
    pair = pair_in("S_BUC_01", S.AWAITING_REPLY)
    x012 = pair.act(CP, Step(Direction.SEND, "X012", "S071"))
    s071 = pair.cases[CP].document("S071")
    assert s071 is not None
    assert pair.last[OWNER] == (ClarificationRequested(x012, s071, CP),)
    x013 = pair.act(OWNER, Step(Direction.SEND, "X013", "X012"))
    assert pair.last[CP] == (ClarificationAnswered(x013, x012, OWNER),)
    assert pair.state() is S.AWAITING_REPLY
    assert pair.cases[CP].snapshot().open_clarifications == ()
    # Answered once: a second X013 to the same request is refused.
    with pytest.raises(ProtocolError, match="open X012"):
        pair.cases[OWNER].send(DocumentRef("X013", "again", answers=x012.document_id), at=T0)


def test_X050_is_recorded_as_a_business_exception() -> None:
    pair = pair_in("S_BUC_24", S.AWAITING_REPLY)
    x050 = pair.act(CP, Step(Direction.SEND, "X050"))
    assert pair.last[OWNER] == (BusinessException(x050, CP),)
    assert pair.state() is S.AWAITING_REPLY


# ---------------------------------------------------------------------------- deadlines


def test_reminder_due_is_emitted_once_after_the_deadline_then_escalation_once() -> None:
    deadlines = Deadlines(reply_within=timedelta(days=10), escalate_after=timedelta(days=5))
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0, deadlines=deadlines)
    ev = case.send(DocumentRef("S040", "q"), at=T0)
    deadline = T0 + timedelta(days=10)
    assert ReplyExpected("S041", "q", CP, deadline) in ev
    assert case.reply_deadline == deadline
    assert case.tick(deadline - timedelta(seconds=1)) == ()
    assert case.tick(deadline) == (ReminderDue("S041", "q", deadline),)
    assert case.tick(deadline + timedelta(days=1)) == ()
    due = deadline + timedelta(days=5)
    assert case.tick(due) == (EscalationDue("S041", "q", due),)
    assert case.tick(due + timedelta(days=100)) == ()


def test_a_late_tick_emits_both_reminder_and_escalation() -> None:
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0)
    case.send(DocumentRef("S040", "q"), at=T0)
    ev = case.tick(T0 + timedelta(days=365))
    assert [type(e) for e in ev] == [ReminderDue, EscalationDue]


def test_no_escalation_when_it_is_switched_off() -> None:
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0, deadlines=Deadlines(escalate_after=None))
    case.send(DocumentRef("S040", "q"), at=T0)
    assert [type(e) for e in case.tick(T0 + timedelta(days=365))] == [ReminderDue]


def test_the_side_that_owes_the_reply_gets_no_reminder_from_tick() -> None:
    case = Case.open("S_BUC_24", CP, "LU-1", at=T0)
    ev = case.receive(DocumentRef("S040", "q"), at=T0)
    assert ReplyExpected("S041", "q", CP, T0 + timedelta(days=60)) in ev
    assert case.tick(T0 + timedelta(days=365)) == ()


def test_X009_is_refused_before_the_deadline_and_accepted_after() -> None:
    case = Case.open("S_BUC_24", OWNER, "LU-1", at=T0)
    case.send(DocumentRef("S040", "q"), at=T0)
    reminder = DocumentRef("X009", "r", answers="q")
    with pytest.raises(ProtocolError, match="not overdue") as info:
        case.send(reminder, at=T0 + timedelta(days=59))
    assert (T0 + timedelta(days=60)).isoformat() in (info.value.hint or "")
    ev = case.send(reminder, at=T0 + timedelta(days=60))
    assert ev == (Reminded(reminder, "S041", OWNER),)


def test_X010_answers_an_open_reminder_and_the_reply_clears_reminders() -> None:
    pair = pair_in("S_BUC_24", S.AWAITING_REPLY)
    x009 = pair.act(OWNER, Step(Direction.SEND, "X009", "S040"))
    assert pair.last[CP] == (Reminded(x009, "S041", OWNER),)
    x010 = pair.act(CP, Step(Direction.SEND, "X010", "X009"))
    assert pair.last[OWNER] == (ReminderAnswered(x010, x009, CP),)
    with pytest.raises(ProtocolError, match="open reminder"):
        pair.cases[CP].send(DocumentRef("X010", "x", answers=x009.document_id), at=pair.now)
    pair.act(OWNER, Step(Direction.SEND, "X009", "S040"))
    pair.act(CP, Step(Direction.SEND, "S041"))
    assert pair.cases[OWNER].snapshot().open_reminders == ()


def test_a_reminder_may_be_rejected() -> None:
    pair = pair_in("S_BUC_01A", S.AWAITING_CONFIRMATION)
    x009 = pair.act(OWNER, Step(Direction.SEND, "X009", "S072"))
    x011 = pair.act(CP, Step(Direction.SEND, "X011", "X009"))
    assert pair.last[OWNER] == (Rejected(x009, x011, CP),)
    assert pair.state() is S.AWAITING_CONFIRMATION


# ---------------------------------------------------------------------------- construction


def test_snapshot_restores_an_equal_case() -> None:
    pair = pair_in("S_BUC_01", S.AWAITING_CONFIRMATION)
    snap = pair.cases[OWNER].snapshot()
    again = Case(snap)
    assert again.snapshot() == snap
    assert again.state is S.AWAITING_CONFIRMATION


def test_unknown_codes_versions_and_bucs_are_refused_early() -> None:
    with pytest.raises(UnknownSedError):
        DocumentRef("S999", "a")
    with pytest.raises(UnsupportedVersionError):
        DocumentRef("S071", "a", version="3.2")
    with pytest.raises(UnknownSedError):
        Case.open("S_BUC_99", OWNER, "LU-1", at=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        Case.open("S_BUC_24", OWNER, "LU-1", at=datetime(2026, 1, 1))


def test_a_new_version_must_answer_what_the_old_one_answered() -> None:
    case = Case.open("S_BUC_24", CP, "LU-1", at=T0)
    case.receive(DocumentRef("S040", "q"), at=T0)
    case.send(DocumentRef("S041", "r"), at=T0)
    before = case.snapshot()
    with pytest.raises(ProtocolError, match="must answer what the old one answered"):
        case.send(DocumentRef("S041", "r", answers="elsewhere"), at=T0)
    assert case.snapshot() == before
    case.send(DocumentRef("S041", "r"), at=T0)
    assert case.document("S041") == DocumentRef("S041", "r", answers="q")
    assert case.expected is None


def test_expected_names_who_owes_what_and_until_when() -> None:
    case = Case.open("S_BUC_01", OWNER, "FR-1", at=T0)
    case.send(DocumentRef("S071", "a"), at=T0)
    wait = case.expected
    assert wait is not None
    assert (wait.sed, wait.answers, wait.sender) == ("S072", "a", CP)
    assert wait.deadline == T0 + timedelta(days=60)
    assert repr(case) == "<Case FR-1 S_BUC_01 PO AWAITING_REPLY>"


@pytest.mark.parametrize(
    "make",
    [
        lambda: DocumentRef("S071", ""),
        lambda: Deadlines(reply_within=timedelta(0)),
        lambda: Deadlines(escalate_after=timedelta(days=-1)),
        lambda: Case.open("S_BUC_01", OWNER, "", at=T0),
    ],
    ids=["empty-document-id", "zero-deadline", "negative-escalation", "empty-case-id"],
)
def test_meaningless_construction_arguments_are_refused(make: object) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=r"non-empty|must"):
        make()
