"""Property test: random sequences of legal documents never make a case inconsistent.

Hypothesis walks both sides of one case at once. At each step it lets time pass, picks a step
the table allows to either side, builds a document that names what it should, and exchanges it
(one side sends, the other receives). Steps the history forbids (an X009 before its deadline)
must raise on the sender and change nothing. After every step both sides are checked against
each other and against a small independent model of the registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from eessi.core.buc_table import (
    TRANSITIONS,
    CaseState,
    Direction,
    Step,
    awaited_step,
    flow_path,
    other_role,
)
from eessi.core.case import (
    Case,
    CaseClosed,
    CompletionWithdrawn,
    DocumentInvalidated,
    DocumentRef,
    Event,
    FlowCompleted,
    NewVersion,
    Rejected,
    StateChanged,
)
from eessi.errors import ProtocolError
from eessi.sed.catalogue import BUCS, SEDS, Role

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Model:
    """What an observer of the events alone believes about the case."""

    completed: bool = False
    closed_completed: bool | None = None
    #: IDs of BUC documents invalidated or rejected and not exchanged again since.
    undone: set[str] = field(default_factory=set)

    def see(self, events: tuple[Event, ...]) -> None:
        for e in events:
            if isinstance(e, StateChanged | NewVersion) and not SEDS[e.document.code].horizontal:
                self.undone.discard(e.document.document_id)  # exchanged again: in effect
            if isinstance(e, FlowCompleted):
                assert not self.completed, "completed twice without a withdrawal"
                self.completed = True
            elif isinstance(e, CompletionWithdrawn):
                assert self.completed, "withdrew a completion that never happened"
                self.completed = False
            elif isinstance(e, DocumentInvalidated):
                self.undone.add(e.document.document_id)
                self.undone.update(d.document_id for d in e.voided)
            elif isinstance(e, Rejected) and not SEDS[e.document.code].horizontal:
                self.undone.add(e.document.document_id)
            elif isinstance(e, CaseClosed):
                self.closed_completed = e.completed


def candidates(cases: dict[Role, Case]) -> list[tuple[Role, Step]]:
    """Every (actor, step) the table allows, from the sending side, in a stable order."""
    owner = cases[Role.CASE_OWNER]
    out = []
    for step in owner.allowed_steps():
        if step.direction is Direction.SEND:
            out.append((Role.CASE_OWNER, step))
        else:
            out.append((Role.COUNTERPARTY, step.mirror()))
    return out


def build(case: Case, step: Step, n: int, reuse_id: bool) -> DocumentRef | None:
    """A document for ``step`` sent by ``case``'s side; ``None`` if the history offers none."""
    snap = case.snapshot()
    fresh = f"d{n}"
    if step.about is None:
        if not SEDS[step.sed].horizontal:
            current = case.document(step.sed)
            if current is not None:
                return DocumentRef(step.sed, current.document_id)
            # A resend after a rejection may reuse the old ID (same type, same sender).
            old = [
                e.document.document_id
                for e in snap.history
                if e.document.code == step.sed and e.direction is Direction.SEND
            ]
            if reuse_id and old:
                return DocumentRef(step.sed, old[-1])
        return DocumentRef(step.sed, fresh)
    if step.about in ("X009", "X012"):
        pool = snap.open_reminders if step.about == "X009" else snap.open_clarifications
        theirs = [e for e in pool if e.direction is Direction.RECEIVE]
        if not theirs:
            return None
        return DocumentRef(step.sed, fresh, answers=theirs[0].document.document_id)
    target = case.document(step.about)
    assert target is not None, f"the table allows {step} but no {step.about} is in effect"
    return DocumentRef(step.sed, fresh, answers=target.document_id)


def check(cases: dict[Role, Case], model: Model) -> None:
    owner, cp = cases[Role.CASE_OWNER], cases[Role.COUNTERPARTY]
    assert owner.state is cp.state
    state = owner.state
    flow = BUCS[owner.buc].flow
    for role, case in cases.items():
        snap = case.snapshot()
        # The documents in effect are a prefix of the flow, travelling as the table says.
        steps = [s for _, s, _ in flow_path(case.buc, role)]
        assert [e.document.code for e in snap.in_effect] == list(flow[: len(snap.in_effect)])
        for e, s in zip(snap.in_effect, steps, strict=False):
            assert e.direction is s.direction
        # Each document in effect answers the one before it.
        for prev, nxt in zip(snap.in_effect, snap.in_effect[1:], strict=False):
            assert nxt.document.answers == prev.document.document_id
        # Completion is what the events said, and consistent with the state.
        assert case.completed is model.completed
        if state is CaseState.CLOSED:
            assert case.completed is model.closed_completed
            assert snap.wait is None
        else:
            assert case.completed is (state is CaseState.COMPLETED)
        # Never "registration confirmed" on an undone S072 or S073.
        if case.registration_confirmed:
            assert not {e.document.document_id for e in snap.in_effect} & model.undone
        # The wait matches the table.
        awaited = awaited_step(case.buc, role, state)
        if state is CaseState.CLOSED or awaited is None:
            assert snap.wait is None
            assert snap.open_reminders == ()
        else:
            assert snap.wait is not None
            assert snap.wait.sed == awaited.sed
            assert snap.wait.answers == snap.in_effect[-1].document.document_id
    assert owner.snapshot().in_effect == tuple(
        type(e)(e.direction.mirror(), e.document, e.at, e.revision) for e in cp.snapshot().in_effect
    )


@pytest.mark.parametrize("buc", sorted(TRANSITIONS))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_legal_sequences_keep_both_sides_consistent(buc: str, data: st.DataObject) -> None:
    cases = {r: Case.open(buc, r, "FR-PROP", at=T0) for r in Role}
    model = Model()
    now = T0
    for n in range(data.draw(st.integers(1, 40), label="length")):
        now += timedelta(days=data.draw(st.integers(0, 90), label="days"))
        for c in cases.values():
            c.tick(now)
        options = candidates(cases)
        if not options:
            break
        # Closing ends the walk, so it is drawn rarely; BUC documents are favoured so that most
        # walks get deep into the flow. Every allowed step keeps a chance.
        kind = data.draw(st.integers(0, 19), label="kind")
        main = [o for o in options if not SEDS[o[1].sed].horizontal]
        closing = [o for o in options if o[1].sed == "X001"]
        others = [o for o in options if SEDS[o[1].sed].horizontal and o[1].sed != "X001"]
        if kind == 0 and closing:
            options = closing
        elif kind <= 9 and main:
            options = main
        elif others:
            options = others
        actor, step = data.draw(st.sampled_from(options), label="step")
        doc = build(cases[actor], step, n, data.draw(st.booleans(), label="reuse id"))
        if doc is None:
            continue
        peer = other_role(actor)
        before = cases[actor].snapshot()
        try:
            sent = cases[actor].send(doc, at=now)
        except ProtocolError:
            # Only history checks may refuse a step the table allows: here, an early X009.
            assert step.sed == "X009"
            assert cases[actor].snapshot() == before
            continue
        received = cases[peer].receive(doc, at=now)
        event(f"{step.sed} {step.about or ''}".strip())
        # Both sides report the same events (only "who owes" is seen from each side).
        assert [type(e) for e in sent] == [type(e) for e in received]
        model.see(sent)
        check(cases, model)
        if cases[actor].state is CaseState.CLOSED:
            break

    # After closing, nothing at all is accepted, from either side.
    if cases[Role.CASE_OWNER].state is CaseState.CLOSED:
        for c in cases.values():
            before = c.snapshot()
            with pytest.raises(ProtocolError):
                c.send(DocumentRef("X050", "after-close"), at=now)
            with pytest.raises(ProtocolError):
                c.receive(DocumentRef(BUCS[buc].starter, "after-close-2"), at=now)
            assert c.snapshot() == before
