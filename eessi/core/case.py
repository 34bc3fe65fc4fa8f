"""One BUC case seen from one institution: a sans-I/O state machine driven by documents and time.

A :class:`Case` is told what happens and answers with events; it does no I/O, builds no
document and never reads the clock::

    case = Case.open("S_BUC_01", Role.COUNTERPARTY, "FR-00000000AB12", at=t0)
    case.receive(DocumentRef("S071", "d-1"), at=t0)           # -> (StateChanged, ReplyExpected)
    case.send(DocumentRef("S072", "d-2", answers="d-1"), at=t1)
    case.tick(t1 + timedelta(days=61))                         # -> (ReminderDue,) once

Which steps are legal in which state is decided by the tables of :mod:`eessi.core.buc_table`;
this module adds the checks that need the case's history (see :meth:`Case.send`) and keeps the
bookkeeping: which BUC documents are in effect, open reminders and clarifications, the reply
deadline. An illegal step raises :class:`~eessi.errors.ProtocolError` naming the case, its BUC,
role and state, the offending document, and the steps allowed instead; the case is then
**unchanged** (every step computes a new :class:`CaseSnapshot` and only stores it at the end).

Documents are described by :class:`DocumentRef` (code, document ID, the ID it answers, SED
version), never by XML or the SED models, so this module depends on the catalogue only.

Deadlines: when a reply becomes due the case emits :class:`ReplyExpected` with its deadline
(``Deadlines.reply_within`` after the document that asks for it, configurable per BUC). When we
are the side waiting, :meth:`Case.tick` emits :class:`ReminderDue` once when the deadline has
passed (an X009 may be sent from then on) and :class:`EscalationDue` once,
``Deadlines.escalate_after`` later (the caller may remind again, raise an X050 or close with X001).

For the code that drives cases (the co-insurance process):

- The counterparty opens its case when the starter arrives, then receives it.
- Every event that comes from a document carries ``by``, the role of the side that sent it;
  compare with :attr:`Case.role` to tell "we did" from "they did". Both sides of a case get the
  same kinds of events in the same order for the same document.
- The case never makes documents: when an event calls for one (``ReplyExpected`` owed by us,
  ``ReminderDue``, ``ClarificationRequested`` by them), the caller builds it, with an ID from its
  :class:`~eessi.ids.IdGenerator`, and passes it to :meth:`Case.send`.
- What the registration depends on: :class:`FlowCompleted` (S073 exchanged: registration
  confirmed) and :class:`CompletionWithdrawn` (it must be undone);
  :attr:`Case.registration_confirmed` says where it stands at any time.
- :meth:`Case.snapshot` is the whole state as a value, for the journal; ``Case(snapshot)``
  resumes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Final, TypeAlias, TypeVar

from eessi.core.buc_table import (
    HORIZONTAL_RULES,
    TRANSITIONS,
    CaseState,
    Direction,
    Effect,
    Refers,
    Step,
    allowed_steps,
    awaited_step,
    other_role,
    rule_for,
)
from eessi.errors import ProtocolError, UnsupportedVersionError
from eessi.quick_init import quick_init
from eessi.sed.catalogue import BUCS, CURRENT_VERSION, Role, buc, sed_type

__all__ = [
    "DEFAULT_DEADLINES",
    "BusinessException",
    "Case",
    "CaseClosed",
    "CaseSnapshot",
    "ClarificationAnswered",
    "ClarificationRequested",
    "CompletionWithdrawn",
    "Deadlines",
    "DocumentInvalidated",
    "DocumentRef",
    "EscalationDue",
    "Event",
    "Exchange",
    "FlowCompleted",
    "NewVersion",
    "Rejected",
    "Reminded",
    "ReminderAnswered",
    "ReminderDue",
    "ReplyExpected",
    "StateChanged",
    "Wait",
]


# --------------------------------------------------------------------------- documents, time


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentRef:
    """A SED as the case machine sees it: its identity and what it answers, not its content.

    ``answers`` is the ``document_id`` of the document this one refers to: the request a reply
    answers (optional for BUC documents, checked if given), or the document a horizontal SED acts
    on (required for X008, X009, X010, X011, X012, X013). ``version`` is the SED schema version.
    A new version of a document keeps its ``document_id``. When a BUC document leaves
    ``answers`` out, the case fills it in (events and snapshots carry the completed reference).
    """

    code: str
    document_id: str
    answers: str | None = None
    version: str = CURRENT_VERSION

    def __post_init__(self) -> None:
        kind = sed_type(self.code)  # UnknownSedError for a code the catalogue does not know
        if not self.document_id:
            raise ValueError(f"{self.code}: a document needs a non-empty document_id")
        if self.version not in kind.versions:
            raise UnsupportedVersionError(
                f"{self.code} does not exist in version {self.version}",
                hint=f"versions of {self.code}: {', '.join(kind.versions)}",
                details={"sed": self.code, "version": self.version},
            )

    def __str__(self) -> str:
        return f"{self.code} {self.document_id}"


@quick_init
@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long the other side has to reply, and when to escalate. Configured per BUC."""

    #: A reply is due this long after the document that asks for it. After that,
    #: :class:`ReminderDue` is emitted and a reminder X009 may be sent (domain: about 2 months).
    reply_within: timedelta = timedelta(days=60)
    #: This long after the reply deadline, :class:`EscalationDue` is emitted once. ``None``: never.
    escalate_after: timedelta | None = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.reply_within <= timedelta(0):
            raise ValueError("Deadlines.reply_within must be positive")
        if self.escalate_after is not None and self.escalate_after < timedelta(0):
            raise ValueError("Deadlines.escalate_after must not be negative")


#: The deadlines a case gets unless :meth:`Case.open` is given others.
DEFAULT_DEADLINES: Final[Mapping[str, Deadlines]] = {name: Deadlines() for name in BUCS}


@quick_init
@dataclass(frozen=True, slots=True)
class Exchange:
    """One document as the case recorded it."""

    direction: Direction
    document: DocumentRef
    at: datetime
    #: 1 for the first version of a document, then 2, 3... for each new version.
    revision: int = 1


@quick_init
@dataclass(frozen=True, slots=True)
class Wait:
    """A BUC document the case expects next, and its deadline."""

    #: The SED code expected (``"S072"``).
    sed: str
    #: The ``document_id`` it will answer.
    answers: str
    #: Who must send it. If that is not us, we are waiting and :meth:`Case.tick` watches it.
    sender: Role
    since: datetime
    deadline: datetime
    #: :class:`ReminderDue` was emitted for this wait.
    reminder_due_emitted: bool = False
    #: :class:`EscalationDue` was emitted for this wait.
    escalation_emitted: bool = False


# --------------------------------------------------------------------------- events


@quick_init
@dataclass(frozen=True, slots=True)
class StateChanged:
    """The case moved from ``old`` to ``new`` because of ``document`` sent by ``by``."""

    old: CaseState
    new: CaseState
    document: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class ReplyExpected:
    """``sender`` must now send ``sed`` answering document ``answers`` before ``deadline``.

    If ``sender`` is our role we owe the reply; otherwise we wait for it.
    """

    sed: str
    answers: str
    sender: Role
    deadline: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class FlowCompleted:
    """The BUC's last document is exchanged and in effect.

    In S_BUC_01 and S_BUC_01A this is the S073: the registration is confirmed (R14, R17). In
    S_BUC_24 it is the S041 with the insurance periods (R5).
    """

    document: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class CompletionWithdrawn:
    """A completed flow is no longer complete: whatever was derived from it must be undone.

    In S_BUC_01/01A: the registration confirmed by ``document`` (the S073) no longer stands,
    because ``cause`` (an X008 or X011) invalidated or rejected the S073 or the S072 it confirms.
    """

    document: DocumentRef
    cause: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class NewVersion:
    """``document`` replaced its previous version (same ID); this is revision ``revision``."""

    document: DocumentRef
    revision: int
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class Rejected:
    """``by`` rejected ``document`` with ``rejection`` (X011)."""

    document: DocumentRef
    rejection: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class DocumentInvalidated:
    """``by`` invalidated its own ``document`` with ``invalidation`` (X008).

    ``voided`` lists the later BUC documents that fell with it (those that answered it).
    """

    document: DocumentRef
    invalidation: DocumentRef
    by: Role
    voided: tuple[DocumentRef, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class Reminded:
    """``by`` sent reminder ``reminder`` (X009): it waits for ``awaited_sed``."""

    reminder: DocumentRef
    awaited_sed: str
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class ReminderAnswered:
    """``by`` answered ``reminder`` with ``answer`` (X010)."""

    answer: DocumentRef
    reminder: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class ClarificationRequested:
    """``by`` asked (X012 ``request``) for clarification of ``about``; an X013 is expected."""

    request: DocumentRef
    about: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class ClarificationAnswered:
    """``by`` answered clarification ``request`` with ``answer`` (X013)."""

    answer: DocumentRef
    request: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class BusinessException:
    """``by`` raised a business exception (X050). Recorded; the state does not change."""

    document: DocumentRef
    by: Role


@quick_init
@dataclass(frozen=True, slots=True)
class CaseClosed:
    """``by`` closed the case (X001). ``completed``: the flow was complete when it closed."""

    document: DocumentRef
    by: Role
    completed: bool


@quick_init
@dataclass(frozen=True, slots=True)
class ReminderDue:
    """We have waited for ``awaited_sed`` (answering ``document_id``) past ``deadline``.

    Emitted once per wait by :meth:`Case.tick`; the caller may now send an X009.
    """

    awaited_sed: str
    document_id: str
    deadline: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class EscalationDue:
    """Still no ``awaited_sed`` at ``due`` (``Deadlines.escalate_after`` past the deadline).

    Emitted once per wait. The caller decides: remind again (X009), raise X050, or close (X001).
    """

    awaited_sed: str
    document_id: str
    due: datetime


Event: TypeAlias = (
    StateChanged
    | ReplyExpected
    | FlowCompleted
    | CompletionWithdrawn
    | NewVersion
    | Rejected
    | DocumentInvalidated
    | Reminded
    | ReminderAnswered
    | ClarificationRequested
    | ClarificationAnswered
    | BusinessException
    | CaseClosed
    | ReminderDue
    | EscalationDue
)


# --------------------------------------------------------------------------- the case


@quick_init
@dataclass(frozen=True, slots=True)
class CaseSnapshot:
    """Everything a case knows, as one immutable value (compare, store, restore)."""

    buc: str
    role: Role
    case_id: str
    deadlines: Deadlines
    opened_at: datetime
    state: CaseState = CaseState.NEW
    #: The BUC documents in effect, in flow order (a prefix of the BUC's flow).
    in_effect: tuple[Exchange, ...] = ()
    #: Every document accepted in the case, in order (new versions included).
    history: tuple[Exchange, ...] = ()
    #: The BUC document expected next, if any.
    wait: Wait | None = None
    #: Reminders (X009) not yet answered or rejected, either direction.
    open_reminders: tuple[Exchange, ...] = ()
    #: Clarification requests (X012) not yet answered, either direction.
    open_clarifications: tuple[Exchange, ...] = ()

    @property
    def completed(self) -> bool:
        """Every document of the BUC's flow is in effect (also after closing)."""
        return len(self.in_effect) == len(BUCS[self.buc].flow)


#: Horizontal SEDs whose ``answers`` names the document they act on (not X001, X050).
_REFERS_TO_SOMETHING: Final = {
    r.sed: True for r in HORIZONTAL_RULES if r.refers_to is not Refers.NOTHING
}

_ROLE_NAMES: Final = {Role.CASE_OWNER: "case owner", Role.COUNTERPARTY: "counterparty"}


def _aware(at: datetime, what: str) -> None:
    zone = at.tzinfo
    if zone is None or (type(zone) is not timezone and at.utcoffset() is None):
        raise ValueError(f"{what} needs a timezone-aware datetime, got {at!r}")


class Case:
    """One BUC instance seen from one institution (one role). See the module docstring."""

    __slots__ = ("_snap",)

    def __init__(self, snapshot: CaseSnapshot) -> None:
        """Resume a case from a snapshot (see :meth:`open` to start one)."""
        self._snap = snapshot

    @classmethod
    def open(
        cls,
        buc_name: str,
        role: Role,
        case_id: str,
        *,
        at: datetime,
        deadlines: Deadlines | None = None,
    ) -> Case:
        """A new case of ``buc_name`` in ``role``, in state ``NEW``.

        The case owner opens it before sending the starter; the counterparty opens it when the
        starter arrives, then calls :meth:`receive` with it. ``deadlines`` defaults to
        :data:`DEFAULT_DEADLINES` for the BUC.
        """
        buc(buc_name)  # UnknownSedError (sed.unknown-buc) for a BUC the catalogue lacks
        if buc_name not in TRANSITIONS:
            raise ProtocolError(
                f"no state machine for {buc_name}",
                hint=f"machines exist for: {', '.join(TRANSITIONS)}",
                details={"buc": buc_name},
            )
        if not case_id:
            raise ValueError("a case needs a non-empty case_id")
        _aware(at, "Case.open")
        return cls(
            CaseSnapshot(
                buc=buc_name,
                role=role,
                case_id=case_id,
                deadlines=deadlines or DEFAULT_DEADLINES[buc_name],
                opened_at=at,
            )
        )

    # ---- read-only view

    def snapshot(self) -> CaseSnapshot:
        """The case's whole state as an immutable value."""
        return self._snap

    @property
    def buc(self) -> str:
        return self._snap.buc

    @property
    def role(self) -> Role:
        return self._snap.role

    @property
    def case_id(self) -> str:
        return self._snap.case_id

    @property
    def state(self) -> CaseState:
        return self._snap.state

    @property
    def completed(self) -> bool:
        """The BUC's whole flow is exchanged and in effect (stays true after closing)."""
        return self._snap.completed

    @property
    def registration_confirmed(self) -> bool:
        """An S073 confirming the S072 in effect stands (S_BUC_01, S_BUC_01A; R14, R17)."""
        return self.completed and BUCS[self.buc].flow[-1] == "S073"

    @property
    def expected(self) -> Wait | None:
        """The BUC document expected next (who sends it, what it answers, its deadline)."""
        return self._snap.wait

    @property
    def reply_deadline(self) -> datetime | None:
        """When the next BUC document is due, if one is expected."""
        return self._snap.wait.deadline if self._snap.wait else None

    def document(self, code: str) -> DocumentRef | None:
        """The BUC document of type ``code`` in effect (latest version), if any."""
        for ex in self._snap.in_effect:
            if ex.document.code == code:
                return ex.document
        return None

    def allowed_steps(self) -> tuple[Step, ...]:
        """What the transition table allows now (history checks aside)."""
        return allowed_steps(self.buc, self.role, self.state)

    def __repr__(self) -> str:
        return f"<Case {self.case_id} {self.buc} {self.role.value} {self.state.name}>"

    # ---- driving the machine

    def send(self, doc: DocumentRef, *, at: datetime) -> tuple[Event, ...]:
        """We send ``doc`` at ``at``. Returns the events; raises ProtocolError if illegal.

        Besides the table, a step must fit the history: ``doc.answers`` names the document the
        step is about (the current one of that type, an open X009 or X012); an X009 is sent only
        once the reply deadline has passed; a new version keeps the ID of the document it
        replaces; a document ID is never reused for another type or by the other side.
        """
        return self._step(Direction.SEND, doc, at)

    def receive(self, doc: DocumentRef, *, at: datetime) -> tuple[Event, ...]:
        """``doc`` arrived from the other side at ``at``. Same rules as :meth:`send`.

        The reminder deadline is not checked on receipt: the sender's deadline is its own.
        """
        return self._step(Direction.RECEIVE, doc, at)

    def tick(self, now: datetime) -> tuple[Event, ...]:
        """Time is ``now``: emit :class:`ReminderDue` / :class:`EscalationDue` once each if due.

        Only a wait for the *other* side's document is watched; what we owe is for the other
        side to chase.
        """
        _aware(now, "Case.tick")
        snap = self._snap
        wait = snap.wait
        if wait is None or wait.sender is self.role or snap.state is CaseState.CLOSED:
            return ()
        events: list[Event] = []
        if not wait.reminder_due_emitted and now >= wait.deadline:
            events.append(ReminderDue(wait.sed, wait.answers, wait.deadline))
            wait = _replace(wait, reminder_due_emitted=True)
        escalate = snap.deadlines.escalate_after
        if escalate is not None and not wait.escalation_emitted:
            due = wait.deadline + escalate
            if now >= due:
                events.append(EscalationDue(wait.sed, wait.answers, due))
                wait = _replace(wait, escalation_emitted=True)
        if events:
            self._snap = _replace(snap, wait=wait)
        return tuple(events)

    # ---- internals

    def _by(self, direction: Direction) -> Role:
        return self.role if direction is Direction.SEND else other_role(self.role)

    def _fail(
        self, direction: Direction, doc: DocumentRef, problem: str, hint: str
    ) -> ProtocolError:
        snap = self._snap
        verb = "send" if direction is Direction.SEND else "receive"
        return ProtocolError(
            f"cannot {verb} {doc.code} {doc.document_id} in case {snap.case_id} "
            f"({snap.buc}, {_ROLE_NAMES[snap.role]}, state {snap.state.name}): {problem}",
            where=f"case {snap.case_id}",
            hint=hint,
            details={
                "case_id": snap.case_id,
                "buc": snap.buc,
                "role": snap.role.value,
                "state": snap.state.value,
                "direction": direction.value,
                "document": {
                    "code": doc.code,
                    "document_id": doc.document_id,
                    "answers": doc.answers,
                },
                "allowed": [str(s) for s in self.allowed_steps()],
            },
        )

    def _allowed_hint(self) -> str:
        steps = self.allowed_steps()
        if not steps:
            return f"nothing may be exchanged in state {self.state.name}"
        return f"allowed in {self.state.name}: " + ", ".join(str(s) for s in steps)

    def _find(self, document_id: str) -> Exchange | None:
        for ex in reversed(self._snap.history):
            if ex.document.document_id == document_id:
                return ex
        return None

    def _step(self, direction: Direction, doc: DocumentRef, at: datetime) -> tuple[Event, ...]:
        _aware(at, "a case step")
        snap = self._snap
        kind = sed_type(doc.code)

        # Which step is this? Horizontal SEDs are keyed by the type of what they refer to.
        about: str | None = None
        if doc.answers is not None and _REFERS_TO_SOMETHING.get(doc.code, False):
            target = self._find(doc.answers)
            if target is None:
                raise self._fail(
                    direction,
                    doc,
                    f"it refers to document {doc.answers}, which is not in this case",
                    "answers must be the document_id of a document exchanged in this case",
                )
            about = target.document.code
        step = Step(direction, doc.code, about)
        table = TRANSITIONS[snap.buc][snap.role].get(snap.state, {})
        nxt = table.get(step)
        if nxt is None:
            problem = f"{step} is not allowed"
            if kind.horizontal and about is None and any(s.sed == doc.code for s in table):
                problem += " without naming the document it refers to (answers=...)"
            raise self._fail(direction, doc, problem, self._allowed_hint())

        # A document ID names one document: reuse is only for a new version by the same side.
        seen = self._find(doc.document_id)
        if seen is not None and (
            kind.horizontal or seen.document.code != doc.code or seen.direction is not direction
        ):
            raise self._fail(
                direction,
                doc,
                f"document ID {doc.document_id} already names {seen.document.code} "
                f"({seen.direction.value})",
                "give every new document a fresh document_id",
            )

        ex = Exchange(direction, doc, at)
        if kind.horizontal:
            new_snap, events = self._horizontal(step, ex, nxt)
        else:
            new_snap, events = self._main(step, ex, nxt)
        self._snap = new_snap
        return events

    def _require_answers(
        self, ex: Exchange, candidates: tuple[Exchange, ...], what: str
    ) -> Exchange:
        for cand in candidates:
            if cand.document.document_id == ex.document.answers:
                return cand
        ids = ", ".join(c.document.document_id for c in candidates) or "none"
        raise self._fail(
            ex.direction,
            ex.document,
            f"it must answer {what}, but answers {ex.document.answers}",
            f"candidates: {ids}",
        )

    def _main(
        self, step: Step, ex: Exchange, nxt: CaseState
    ) -> tuple[CaseSnapshot, tuple[Event, ...]]:
        snap = self._snap
        by = self._by(ex.direction)
        doc = ex.document
        current = [i for i, e in enumerate(snap.in_effect) if e.document.code == doc.code]
        if current:  # the table allows re-sending the latest document: a new version
            old = snap.in_effect[current[0]]
            if old.document.document_id != doc.document_id:
                raise self._fail(
                    ex.direction,
                    doc,
                    f"{doc.code} {old.document.document_id} is already in effect",
                    f"a new version keeps the document_id {old.document.document_id}",
                )
            if doc.answers is not None and doc.answers != old.document.answers:
                raise self._fail(
                    ex.direction,
                    doc,
                    f"a new version must answer what the old one answered ({old.document.answers})",
                    "keep answers unchanged in a new version",
                )
            if doc.answers is None and old.document.answers is not None:
                doc = _replace(doc, answers=old.document.answers)
            revised = _replace(ex, document=doc, revision=old.revision + 1)
            in_effect = (*snap.in_effect[: current[0]], revised)
            return (
                _replace(snap, in_effect=in_effect, history=(*snap.history, revised)),
                (NewVersion(doc, revised.revision, by),),
            )

        # The next document of the flow: it answers the latest one in effect, if any.
        prev = snap.in_effect[-1].document if snap.in_effect else None
        if prev is None and doc.answers is not None:
            raise self._fail(
                ex.direction,
                doc,
                f"it starts the case but answers {doc.answers}",
                "the first document of a BUC answers nothing (answers=None)",
            )
        if prev is not None:
            if doc.answers is not None and doc.answers != prev.document_id:
                raise self._fail(
                    ex.direction,
                    doc,
                    f"it answers {doc.answers}, but the document it follows is "
                    f"{prev.code} {prev.document_id}",
                    f"use answers={prev.document_id!r} (or leave it out)",
                )
            doc = _replace(doc, answers=prev.document_id)
            ex = _replace(ex, document=doc)
        in_effect = (*snap.in_effect, ex)
        events: list[Event] = [StateChanged(snap.state, nxt, doc, by)]
        if len(in_effect) == len(BUCS[snap.buc].flow):  # CaseSnapshot.completed
            events.append(FlowCompleted(doc, by))
        # One snapshot per step, its wait included (was two, D342).
        new = CaseSnapshot(
            snap.buc,
            snap.role,
            snap.case_id,
            snap.deadlines,
            snap.opened_at,
            nxt,
            in_effect,
            # While nothing but the flow was exchanged, the two are one tuple (memory, D192).
            in_effect if snap.history == snap.in_effect else (*snap.history, ex),
            self._wait(snap, nxt, in_effect, ex.at, events),
            (),
            snap.open_clarifications,
        )
        return new, tuple(events)

    def _with_wait(self, snap: CaseSnapshot, at: datetime, events: list[Event]) -> CaseSnapshot:
        """Set the wait for the new state, announcing it with :class:`ReplyExpected`."""
        return _replace(snap, wait=self._wait(snap, snap.state, snap.in_effect, at, events))

    def _wait(
        self,
        snap: CaseSnapshot,
        state: CaseState,
        in_effect: tuple[Exchange, ...],
        at: datetime,
        events: list[Event],
    ) -> Wait | None:
        """The wait for ``state`` with ``in_effect`` (announced with :class:`ReplyExpected`)."""
        step = awaited_step(snap.buc, snap.role, state)
        if step is None or not in_effect:
            return None
        answers = in_effect[-1].document.document_id
        sender = self.role if step.direction is Direction.SEND else other_role(self.role)
        deadline = at + snap.deadlines.reply_within
        events.append(ReplyExpected(step.sed, answers, sender, deadline))
        return Wait(step.sed, answers, sender, at, deadline)

    def _horizontal(
        self, step: Step, ex: Exchange, nxt: CaseState
    ) -> tuple[CaseSnapshot, tuple[Event, ...]]:
        snap = self._snap
        rule = rule_for(step)
        assert rule is not None, f"the table allows {step} but no rule covers it"
        by = self._by(ex.direction)
        doc = ex.document
        history = (*snap.history, ex)
        events: list[Event] = []

        if rule.effect is Effect.CLOSE:
            events.append(StateChanged(snap.state, nxt, doc, by))
            events.append(CaseClosed(doc, by, snap.completed))
            new = _replace(
                snap,
                state=nxt,
                history=history,
                wait=None,
                open_reminders=(),
                open_clarifications=(),
            )
            return new, tuple(events)

        if rule.refers_to is Refers.NOTHING:  # X050
            return _replace(snap, history=history), (BusinessException(doc, by),)

        if rule.refers_to is Refers.PEER_REMINDER:  # X010 answers / X011 rejects an X009
            theirs = tuple(r for r in snap.open_reminders if r.direction is not ex.direction)
            reminder = self._require_answers(ex, theirs, "an open reminder X009 of the other side")
            left = tuple(r for r in snap.open_reminders if r is not reminder)
            event: Event = (
                Rejected(reminder.document, doc, by)
                if rule.sed == "X011"
                else ReminderAnswered(doc, reminder.document, by)
            )
            return _replace(snap, history=history, open_reminders=left), (event,)

        if rule.refers_to is Refers.PEER_CLARIFICATION:  # X013
            theirs = tuple(c for c in snap.open_clarifications if c.direction is not ex.direction)
            request = self._require_answers(ex, theirs, "an open X012 of the other side")
            left = tuple(c for c in snap.open_clarifications if c is not request)
            return (
                _replace(snap, history=history, open_clarifications=left),
                (ClarificationAnswered(doc, request.document, by),),
            )

        # The rule refers to a BUC document: it must be the one in effect of that type.
        assert step.about is not None
        candidates = tuple(e for e in snap.in_effect if e.document.code == step.about)
        target = self._require_answers(ex, candidates, f"the {step.about} in effect")

        if rule.refers_to is Refers.AWAITING_DOCUMENT:  # X009
            wait = snap.wait
            assert wait is not None, "the table allows X009 only while a reply is awaited"
            if ex.direction is Direction.SEND and ex.at < wait.deadline:
                raise self._fail(
                    ex.direction,
                    doc,
                    f"the {wait.sed} is not overdue yet",
                    f"a reminder may be sent from {wait.deadline.isoformat()}",
                )
            return (
                _replace(snap, history=history, open_reminders=(*snap.open_reminders, ex)),
                (Reminded(doc, wait.sed, by),),
            )

        if rule.refers_to is Refers.PEER_DOCUMENT:  # X012
            return (
                _replace(
                    snap,
                    history=history,
                    open_clarifications=(*snap.open_clarifications, ex),
                ),
                (ClarificationRequested(doc, target.document, by),),
            )

        # UNDO: X008 on our own document, X011 on the latest one received.
        index = snap.in_effect.index(target)
        voided = snap.in_effect[index:]
        voided_ids = {v.document.document_id for v in voided}
        if rule.refers_to is Refers.OWN_DOCUMENT:
            events.append(
                DocumentInvalidated(target.document, doc, by, tuple(v.document for v in voided[1:]))
            )
        else:
            events.append(Rejected(target.document, doc, by))
        if snap.completed:
            events.append(CompletionWithdrawn(snap.in_effect[-1].document, doc, by))
        events.append(StateChanged(snap.state, nxt, doc, by))
        new = _replace(
            snap,
            state=nxt,
            in_effect=snap.in_effect[:index],
            history=history,
            open_reminders=(),
            open_clarifications=tuple(
                c for c in snap.open_clarifications if c.document.answers not in voided_ids
            ),
        )
        new = self._with_wait(new, ex.at, events)
        return new, tuple(events)


_T = TypeVar("_T")
#: Per dataclass: each field's position and a getter of all fields (see :func:`_replace`).
_FIELDS: dict[type, tuple[dict[str, int], attrgetter[Any]]] = {}


def _replace(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for this module's frozen dataclasses, which a case step makes
    several of (a fifth of a step's time went to ``replace``'s generic field walk, D216):
    the same ``__init__`` and ``__post_init__`` run, with the field values given by position."""
    cls = type(obj)
    spec = _FIELDS.get(cls)
    if spec is None:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        assert all(f.init and not f.kw_only for f in fields), f"{cls.__name__}: not positional"
        names = [f.name for f in fields]
        assert len(names) > 1, f"{cls.__name__}: one field, build it directly"
        spec = _FIELDS[cls] = ({n: i for i, n in enumerate(names)}, attrgetter(*names))
    index, values_of = spec
    values = list(values_of(obj))
    for name, value in changes.items():
        values[index[name]] = value
    return cls(*values)
