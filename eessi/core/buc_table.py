"""BUC transition tables: which document may be exchanged in which state, as data.

Everything that decides whether a step of a BUC is legal *in a given state* lives in this file,
in the style of h11's ``_state.py``. :mod:`eessi.core.case` runs the machine; it never decides
legality by itself except for the few history checks listed at the end of this docstring.

Theory of operation
-------------------
A *case* is one BUC instance seen from one institution, which plays one :class:`Role` in it
(case owner or counterparty). Its state is a :class:`CaseState`. A *step* is a :class:`Step`: a
:class:`Direction` (we send, or we receive), a SED code, and, for the horizontal SEDs that act on
another document (X008, X009, X010, X011, X012, X013), the code of that document (``about``).

The complete table is::

    TRANSITIONS[buc][role][state][step] -> next state

A step that is not a key is illegal in that state. The table is built once, at import, from two
smaller tables:

1. :data:`MAIN_FLOW`, written by hand per BUC and role: the BUC's own documents in order
   (S071 → S072 → S073, S072 → S073, S040 → S041), plus sending the starter again after it was
   rejected or withdrawn. Both roles are written out; the counterparty's column is the owner's
   mirrored (what one sends, the other receives) and a test checks it.
2. :data:`HORIZONTAL_RULES`, one generic table for every BUC: what each horizontal SED may refer
   to and what it does, gated by the catalogue flags of the document it refers to
   (``has_reject``, ``has_clarify``, ``can_invalidate``; ``can_new_version`` gates re-sending a
   main document as a new version). :func:`_expand` applies it to every state of every BUC.

States are **shared by both roles**: the owner and the counterparty of one case are always in
the same state once the same documents have been exchanged. So ``AWAITING_REPLY`` means "the
request is out, its reply is awaited" whether we are the one waiting or the one who owes it.

The table depends on the state only. A few conditions depend on the case's history and are
checked by :class:`eessi.core.case.Case`: the document named in ``answers`` must be the one the
table refers to (the current S071, the open X009, ...); a reminder X009 is sent only after the
reply deadline; a new version keeps the document ID of the version it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

from eessi.quick_init import quick_init
from eessi.sed.catalogue import BUCS, SEDS, Role

__all__ = [
    "HORIZONTAL_RULES",
    "MAIN_FLOW",
    "NEW_VERSION_FLAG",
    "TRANSITIONS",
    "CaseState",
    "Direction",
    "Effect",
    "HorizontalRule",
    "Refers",
    "Step",
    "allowed_steps",
    "awaited_step",
    "flow_path",
    "in_effect_steps",
    "other_role",
    "rule_for",
]


class Direction(Enum):
    """Which way a document travels, seen from the institution that runs the case."""

    #: We send the document to the other side.
    SEND = "send"
    #: The document arrives from the other side.
    RECEIVE = "receive"

    def mirror(self) -> Direction:
        """The same document seen from the other side."""
        return Direction.RECEIVE if self is Direction.SEND else Direction.SEND


def other_role(role: Role) -> Role:
    """The other side of a bilateral case."""
    return Role.COUNTERPARTY if role is Role.CASE_OWNER else Role.CASE_OWNER


class CaseState(Enum):
    """Where a case stands. The same value on both sides of a case (see the module docstring)."""

    #: Opened, nothing exchanged yet: only the BUC's starter may be exchanged.
    NEW = "new"
    #: The request (S071, S040) is exchanged; the counterparty's reply (S072, S041) is awaited.
    AWAITING_REPLY = "awaiting-reply"
    #: The entitlement document S072 is exchanged; the residence institution's S073 is awaited.
    AWAITING_CONFIRMATION = "awaiting-confirmation"
    #: The main flow is complete (S073 registration notice, S041 periods) and in effect.
    COMPLETED = "completed"
    #: The counterparty rejected the starter (X011); the owner may send a corrected one or close.
    REJECTED = "rejected"
    #: The owner invalidated its starter (X008); it may send a new one or close.
    WITHDRAWN = "withdrawn"
    #: Closed with X001 by either side. Terminal: nothing more may be exchanged.
    CLOSED = "closed"


@quick_init
@dataclass(frozen=True, slots=True)
class Step:
    """One document exchange as the tables see it: a direction, a SED code, and what it is about.

    ``about`` is the SED code of the document a horizontal SED refers to (its ``answers``):
    ``Step(SEND, "X011", "S072")`` is "we reject the S072 we received". It is ``None`` for the
    BUC's own documents and for X001 and X050, which refer to no document.
    """

    direction: Direction
    sed: str
    about: str | None = None

    def mirror(self) -> Step:
        """The same exchange seen from the other side."""
        return Step(self.direction.mirror(), self.sed, self.about)

    def __str__(self) -> str:
        text = f"{self.direction.value} {self.sed}"
        return f"{text} ({self.about})" if self.about else text


class Refers(Enum):
    """What a horizontal SED refers to, seen from the institution that *sends* it."""

    #: No document (X001 close, X050 business exception).
    NOTHING = "nothing"
    #: A BUC document in effect that the sender sent itself (X008 invalidates it).
    OWN_DOCUMENT = "own-document"
    #: The latest BUC document in effect, which the sender received (X011 rejects it).
    LATEST_PEER_DOCUMENT = "latest-peer-document"
    #: Any BUC document in effect that the sender received (X012 asks to clarify it).
    PEER_DOCUMENT = "peer-document"
    #: The sender's latest document, whose reply the sender awaits (X009 reminds about it).
    AWAITING_DOCUMENT = "awaiting-document"
    #: An unanswered reminder X009 the sender received (X010 answers it, X011 rejects it).
    PEER_REMINDER = "peer-reminder"
    #: An unanswered clarification request X012 the sender received (X013 answers it).
    PEER_CLARIFICATION = "peer-clarification"


class Effect(Enum):
    """What a horizontal SED does to the case."""

    #: The case goes to ``CLOSED``.
    CLOSE = "close"
    #: The referred document and every later BUC document stop being in effect; the case goes
    #: back to the state before the referred document.
    UNDO = "undo"
    #: Recorded (open reminders, clarifications); the state does not change.
    RECORD = "record"


@quick_init
@dataclass(frozen=True, slots=True)
class HorizontalRule:
    """One row of the generic table of horizontal SEDs (valid in every BUC)."""

    #: The horizontal SED: ``"X011"``.
    sed: str
    #: What it refers to (its ``answers``), seen from its sender.
    refers_to: Refers
    effect: Effect
    #: The catalogue flag (a :class:`~eessi.sed.catalogue.SedType` attribute) that the referred
    #: document's type must have; ``None`` if any document of the kind will do.
    flag: str | None = None
    #: For ``UNDO``: the state reached when the referred document is the BUC's starter.
    starter_undone: CaseState | None = None


#: The horizontal SEDs and what they may do, in every BUC. Which documents they may act on is
#: decided by the catalogue flags of those documents (``flag``).
HORIZONTAL_RULES: Final[tuple[HorizontalRule, ...]] = (
    # X001: either side closes the case, in any state once something was exchanged.
    HorizontalRule("X001", Refers.NOTHING, Effect.CLOSE),
    # X050: a business exception is recorded; it changes no state.
    HorizontalRule("X050", Refers.NOTHING, Effect.RECORD),
    # X008: the sender withdraws one of its own documents; everything after it goes too.
    HorizontalRule(
        "X008",
        Refers.OWN_DOCUMENT,
        Effect.UNDO,
        flag="can_invalidate",
        starter_undone=CaseState.WITHDRAWN,
    ),
    # X011: the receiver refuses the latest document instead of answering it.
    HorizontalRule(
        "X011",
        Refers.LATEST_PEER_DOCUMENT,
        Effect.UNDO,
        flag="has_reject",
        starter_undone=CaseState.REJECTED,
    ),
    # X011 on a reminder (X009 has_reject): the reminder is refused; nothing else changes.
    HorizontalRule("X011", Refers.PEER_REMINDER, Effect.RECORD, flag="has_reject"),
    # X009: the side waiting for a reply reminds the other (after the deadline, see Case).
    HorizontalRule("X009", Refers.AWAITING_DOCUMENT, Effect.RECORD),
    # X010: the side that owes the reply answers the reminder.
    HorizontalRule("X010", Refers.PEER_REMINDER, Effect.RECORD),
    # X012 / X013: ask about a received document / answer the question.
    HorizontalRule("X012", Refers.PEER_DOCUMENT, Effect.RECORD, flag="has_clarify"),
    HorizontalRule("X013", Refers.PEER_CLARIFICATION, Effect.RECORD),
)

#: The catalogue flag that lets the latest BUC document be re-sent as a new version (same
#: document ID) while nothing has answered it yet.
NEW_VERSION_FLAG: Final = "can_new_version"

_S = CaseState
_OWNER, _CP = Role.CASE_OWNER, Role.COUNTERPARTY


def _send(sed: str) -> Step:
    return Step(Direction.SEND, sed)


def _recv(sed: str) -> Step:
    return Step(Direction.RECEIVE, sed)


_Table = Mapping[CaseState, Mapping[Step, CaseState]]

#: The BUCs' own documents, per BUC and role: ``MAIN_FLOW[buc][role][state][step] -> state``.
#: States with no BUC document to exchange (``COMPLETED``, ``CLOSED``) are left out.
MAIN_FLOW: Final[Mapping[str, Mapping[Role, _Table]]] = {
    # R17: the residence fund asks (S071), the competent fund answers with the S1 (S072), the
    # residence fund confirms the registration (S073) in the same case.
    "S_BUC_01": {
        _OWNER: {
            _S.NEW: {_send("S071"): _S.AWAITING_REPLY},
            _S.AWAITING_REPLY: {_recv("S072"): _S.AWAITING_CONFIRMATION},
            _S.AWAITING_CONFIRMATION: {_send("S073"): _S.COMPLETED},
            _S.REJECTED: {_send("S071"): _S.AWAITING_REPLY},
            _S.WITHDRAWN: {_send("S071"): _S.AWAITING_REPLY},
        },
        _CP: {
            _S.NEW: {_recv("S071"): _S.AWAITING_REPLY},
            _S.AWAITING_REPLY: {_send("S072"): _S.AWAITING_CONFIRMATION},
            _S.AWAITING_CONFIRMATION: {_recv("S073"): _S.COMPLETED},
            _S.REJECTED: {_recv("S071"): _S.AWAITING_REPLY},
            _S.WITHDRAWN: {_recv("S071"): _S.AWAITING_REPLY},
        },
    },
    # R14: the competent fund (the CNS) sends the S072 unasked; the residence fund confirms.
    "S_BUC_01A": {
        _OWNER: {
            _S.NEW: {_send("S072"): _S.AWAITING_CONFIRMATION},
            _S.AWAITING_CONFIRMATION: {_recv("S073"): _S.COMPLETED},
            _S.REJECTED: {_send("S072"): _S.AWAITING_CONFIRMATION},
            _S.WITHDRAWN: {_send("S072"): _S.AWAITING_CONFIRMATION},
        },
        _CP: {
            _S.NEW: {_recv("S072"): _S.AWAITING_CONFIRMATION},
            _S.AWAITING_CONFIRMATION: {_send("S073"): _S.COMPLETED},
            _S.REJECTED: {_recv("S072"): _S.AWAITING_CONFIRMATION},
            _S.WITHDRAWN: {_recv("S072"): _S.AWAITING_CONFIRMATION},
        },
    },
    # R5: the CNS asks the former fund for insurance periods (S040) and gets the S041.
    "S_BUC_24": {
        _OWNER: {
            _S.NEW: {_send("S040"): _S.AWAITING_REPLY},
            _S.AWAITING_REPLY: {_recv("S041"): _S.COMPLETED},
            _S.REJECTED: {_send("S040"): _S.AWAITING_REPLY},
            _S.WITHDRAWN: {_send("S040"): _S.AWAITING_REPLY},
        },
        _CP: {
            _S.NEW: {_recv("S040"): _S.AWAITING_REPLY},
            _S.AWAITING_REPLY: {_send("S041"): _S.COMPLETED},
            _S.REJECTED: {_recv("S040"): _S.AWAITING_REPLY},
            _S.WITHDRAWN: {_recv("S040"): _S.AWAITING_REPLY},
        },
    },
}


def _path(buc: str, role: Role) -> tuple[tuple[CaseState, Step, CaseState], ...]:
    """Follow the catalogue's flow of ``buc`` through :data:`MAIN_FLOW` from ``NEW``."""
    table = MAIN_FLOW[buc][role]
    state = CaseState.NEW
    out: list[tuple[CaseState, Step, CaseState]] = []
    for sed in BUCS[buc].flow:
        matches = [(step, nxt) for step, nxt in table.get(state, {}).items() if step.sed == sed]
        if len(matches) != 1:
            raise RuntimeError(f"MAIN_FLOW[{buc}][{role}] has no single {sed} step from {state}")
        step, nxt = matches[0]
        out.append((state, step, nxt))
        state = nxt
    return tuple(out)


_PATHS: Final = {(b, r): _path(b, r) for b in MAIN_FLOW for r in Role}


def flow_path(buc: str, role: Role) -> tuple[tuple[CaseState, Step, CaseState], ...]:
    """The main flow of ``buc`` as ``(state before, step, state after)`` triples, for ``role``."""
    return _PATHS[(buc, role)]


def in_effect_steps(buc: str, role: Role, state: CaseState) -> tuple[Step, ...]:
    """The BUC documents in effect in ``state`` (a prefix of the flow), oldest first.

    Only states on the main flow have documents in effect; ``NEW``, ``REJECTED`` and
    ``WITHDRAWN`` have none. ``CLOSED`` keeps what was in effect when the case closed, which the
    table cannot know: it returns ``()`` (nothing may be exchanged there anyway).
    """
    found = _IN_EFFECT.get((buc, role, state))
    return found if found is not None else _in_effect_steps(buc, role, state)


def _in_effect_steps(buc: str, role: Role, state: CaseState) -> tuple[Step, ...]:
    path = flow_path(buc, role)
    for i, (_, _, after) in enumerate(path):
        if after is state:
            return tuple(step for _, step, _ in path[: i + 1])
    return ()


def awaited_step(buc: str, role: Role, state: CaseState) -> Step | None:
    """The BUC document that answers the latest one in ``state``, or ``None`` if none is due.

    Its direction says who owes it: ``RECEIVE`` means we wait for it, ``SEND`` that we owe it.
    """
    key = (buc, role, state)
    if key in _AWAITED:
        return _AWAITED[key]
    return _awaited_step(buc, role, state)


def _awaited_step(buc: str, role: Role, state: CaseState) -> Step | None:
    if not _in_effect_steps(buc, role, state):
        return None
    for before, step, _ in flow_path(buc, role):
        if before is state:
            return step
    return None


# Both answers depend on the table only: worked out once per (BUC, role, state), since a case
# step asks for them several times (a case step's walk over the path was ~2 % of an offline
# replay, D342). A BUC without a main flow is not in them (the walk raises as before).
_IN_EFFECT: Final = {(b, r, s): _in_effect_steps(b, r, s) for b, r in _PATHS for s in CaseState}
_AWAITED: Final = {(b, r, s): _awaited_step(b, r, s) for b, r in _PATHS for s in CaseState}


def _flag(sed: str, flag: str | None) -> bool:
    return flag is None or bool(getattr(SEDS[sed], flag))


def _expand(buc: str, role: Role) -> dict[CaseState, dict[Step, CaseState]]:
    """Apply :data:`HORIZONTAL_RULES` and new versions to the main flow of ``buc`` for ``role``."""
    main = MAIN_FLOW[buc][role]
    path = flow_path(buc, role)
    before = {step.sed: state for state, step, _ in path}
    starter = BUCS[buc].starter

    # Reachable states, in a stable order (the order of the enum).
    reachable = {CaseState.NEW}
    frontier = [CaseState.NEW]
    out: dict[CaseState, dict[Step, CaseState]] = {}

    def add(table: dict[Step, CaseState], step: Step, target: CaseState) -> None:
        if table.get(step, target) is not target:
            raise RuntimeError(f"{buc}/{role}: {step} has two targets")
        table[step] = target

    while frontier:
        state = frontier.pop()
        table: dict[Step, CaseState] = dict(main.get(state, {}))
        if state not in (CaseState.NEW, CaseState.CLOSED):
            effect = in_effect_steps(buc, role, state)
            latest = effect[-1] if effect else None
            nxt = awaited_step(buc, role, state)
            if latest is not None and _flag(latest.sed, NEW_VERSION_FLAG):
                add(table, latest, state)
            for d in Direction:
                for rule in HORIZONTAL_RULES:
                    for about, target in _targets(rule, d, state, effect, latest, nxt):
                        if rule.effect is Effect.CLOSE:
                            target = CaseState.CLOSED
                        elif rule.effect is Effect.UNDO and about is not None:
                            if about == starter:
                                assert rule.starter_undone is not None
                                target = rule.starter_undone
                            else:
                                target = before[about]
                        add(table, Step(d, rule.sed, about), target)
        out[state] = table
        for target in table.values():
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    return {s: out[s] for s in CaseState if s in out}


def _targets(
    rule: HorizontalRule,
    d: Direction,
    state: CaseState,
    effect: tuple[Step, ...],
    latest: Step | None,
    nxt: Step | None,
) -> list[tuple[str | None, CaseState]]:
    """``(about, target)`` pairs a horizontal rule allows for an X-SED travelling in ``d``.

    ``d`` is the X-SED's direction from our side: its *sender* is us when ``d`` is ``SEND``. A
    document "of the sender" is one whose direction equals ``d``.
    """
    r = rule.refers_to
    if r is Refers.NOTHING:
        return [(None, state)]
    if r is Refers.OWN_DOCUMENT:
        return [(s.sed, state) for s in effect if s.direction is d and _flag(s.sed, rule.flag)]
    if r is Refers.PEER_DOCUMENT:
        return [(s.sed, state) for s in effect if s.direction is not d and _flag(s.sed, rule.flag)]
    if r is Refers.LATEST_PEER_DOCUMENT:
        if latest is None or latest.direction is d or not _flag(latest.sed, rule.flag):
            return []
        return [(latest.sed, state)]
    if r is Refers.AWAITING_DOCUMENT:
        # The sender waits: the next BUC document comes from its peer.
        if latest is None or nxt is None:
            return []
        return [(latest.sed, state)] if latest.direction is d and nxt.direction is not d else []
    if r is Refers.PEER_REMINDER:
        # The sender owes the next BUC document, so its peer may have reminded it.
        ok = nxt is not None and nxt.direction is d and _flag("X009", rule.flag)
        return [("X009", state)] if ok else []
    # PEER_CLARIFICATION: the peer may have asked about one of the sender's documents.
    ok = any(s.direction is d and _flag(s.sed, "has_clarify") for s in effect)
    return [("X012", state)] if ok else []


#: The complete table: ``TRANSITIONS[buc][role][state][step] -> next state``. Every state
#: reachable in a BUC is a key (``CLOSED`` maps to an empty table).
TRANSITIONS: Final[Mapping[str, Mapping[Role, Mapping[CaseState, Mapping[Step, CaseState]]]]] = {
    b: {r: _expand(b, r) for r in Role} for b in MAIN_FLOW
}


def allowed_steps(buc: str, role: Role, state: CaseState) -> tuple[Step, ...]:
    """The steps the table allows in ``state`` (history checks aside), in table order."""
    return tuple(TRANSITIONS[buc][role].get(state, {}))


def rule_for(step: Step) -> HorizontalRule | None:
    """The horizontal rule a step of a horizontal SED falls under (``None`` for BUC documents)."""
    kinds = {
        None: (Refers.NOTHING,),
        "X009": (Refers.PEER_REMINDER,),
        "X012": (Refers.PEER_CLARIFICATION,),
    }
    wanted = kinds.get(
        step.about,
        (
            Refers.OWN_DOCUMENT,
            Refers.LATEST_PEER_DOCUMENT,
            Refers.PEER_DOCUMENT,
            Refers.AWAITING_DOCUMENT,
        ),
    )
    for rule in HORIZONTAL_RULES:
        if rule.sed == step.sed and rule.refers_to in wanted:
            return rule
    return None
