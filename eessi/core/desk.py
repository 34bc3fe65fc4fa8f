"""Machinery both desks share: their cases, and one transaction per input.

A desk (the CNS's :class:`~eessi.core.cns.CnsDesk`, a foreign fund's
:class:`~eessi.core.fund.FundDesk`) keeps its whole state as one immutable value. Each input is
handled inside a :class:`Tx`: the transaction drives the :class:`~eessi.core.case.Case` machines,
collects events, outgoing documents and timers, and only when the handler finished without an
error does the desk store the new state. A :class:`~eessi.errors.ProtocolError` (or any error)
half-way leaves the desk exactly as it was.

Cost per input. The state's tables are :class:`PersistentMap`\\ s and a transaction writes to an
:class:`Overlay` (reads fall through to the committed table, writes stay in a small dict):
committing merges the overlay into a new version of the table, aborting drops it. Neither copies
the table, so an input costs what it touches, not what the desk holds. Which cases may have a
reminder due is kept in a :class:`DueIndex` (a hint beside the state, rebuilt from it), so
:class:`~eessi.core.messages.TimePassed` looks only at cases whose deadline passed.

The case machine decides what is legal; this module turns its events into process events
(:class:`~eessi.core.messages.CaseStateChanged`, :class:`~eessi.core.messages.CaseEvent`),
its reply deadlines into :class:`~eessi.core.messages.Timer`\\ s, and builds the horizontal
SEDs both sides send the same way (X009 reminders, X010 answers, X013 answers, X001, X008, X011).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, TypeVar, cast, overload

from eessi.core import case as cm
from eessi.core.buc_table import CaseState
from eessi.core.compact import CompactDocuments
from eessi.core.messages import (
    CaseEvent,
    CaseOpened,
    CaseStateChanged,
    DocumentReceived,
    Event,
    MemberRef,
    Outgoing,
    ReminderSent,
    Step,
    Timer,
)
from eessi.errors import ProtocolError
from eessi.ids import IdGenerator
from eessi.quick_init import quick_init
from eessi.sed.catalogue import BUCS, Role
from eessi.sed.documents import (
    S073,
    X001,
    X008,
    X009,
    X010,
    X011,
    X012,
    X013,
    Answer,
    AwaitedSed,
    ClosureReason,
    Document,
    InvalidationReason,
    RejectionReason,
    ReminderReply,
    SedReference,
)

__all__ = [
    "CaseFile",
    "Deferred",
    "DueIndex",
    "Overlay",
    "PersistentMap",
    "Tx",
    "case_due",
    "copy_of",
    "file_cases",
    "reference_of",
]

_K = TypeVar("_K")
_V = TypeVar("_V")
_T = TypeVar("_T")


def copy_of(mapping: Mapping[_K, _V]) -> dict[_K, _V]:
    """A new dict with the items of ``mapping``; a dict (or a read-only view of one) is copied
    table and all, without hashing its keys again (the desks copy their state per input)."""
    if isinstance(mapping, dict | MappingProxyType):
        return cast("dict[_K, _V]", mapping.copy())
    return dict(mapping)


class _Missing:
    """The marker of a key absent from one version of a table (a deletion in a diff)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _Version:
    """One version of a :class:`PersistentMap`'s table: either the live dict (``data``), or
    "version ``next`` with the keys of ``diff`` set to these values" (``_MISSING``: absent)."""

    __slots__ = ("data", "diff", "next")

    def __init__(
        self,
        data: dict[Any, Any] | None,
        diff: dict[Any, Any] | None = None,
        next: _Version | None = None,
    ) -> None:
        self.data = data
        self.diff = diff
        self.next = next


def _reroot(version: _Version) -> dict[Any, Any]:
    """Make ``version`` the one holding the live dict (Baker's trick): undo the diffs between
    it and the live version, turning each into the diff back. Costs the keys changed since."""
    path: list[_Version] = []
    node = version
    while node.data is None:
        path.append(node)
        assert node.next is not None
        node = node.next
    data = node.data
    for older in reversed(path):
        assert older.diff is not None
        back: dict[Any, Any] = {}
        for key, value in older.diff.items():
            back[key] = data.get(key, _MISSING)
            if value is _MISSING:
                data.pop(key, None)
            else:
                data[key] = value
        node.data, node.diff, node.next = None, back, older
        older.data, older.diff, older.next = data, None, None
        node = older
    return data


class Deferred(Generic[_V]):
    """A table value not made yet: :meth:`value` makes it on first use (``load(data)``) and
    keeps it. A node restoring its desk from a checkpoint fills the tables with these, so that a
    restart decodes only what inputs read (D101). A :class:`PersistentMap` hands out the value,
    never the ``Deferred``; a desk filing its :class:`DueIndex` skips deferred cases, which
    the node defers only when nothing is due for them (:func:`case_due` is ``None``)."""

    __slots__ = ("_load", "_value", "summary")

    def __init__(self, load: Callable[[Any], _V], data: Any, summary: Any = None) -> None:
        self._load: Callable[[Any], _V] | None = load
        #: ``data`` until the value is made, then the value.
        self._value: Any = data
        #: What can be read of the value without making it, if its maker said: for a case,
        #: ``(buc, state value)`` (what ``/metrics`` counts, D152); else ``None``.
        self.summary = summary

    def value(self) -> _V:
        load = self._load
        if load is not None:
            self._value = load(self._value)
            self._load = None
        return cast("_V", self._value)

    @property
    def loaded(self) -> bool:
        """The value was made already."""
        return self._load is None

    def __repr__(self) -> str:
        return f"Deferred({'loaded' if self._load is None else 'not loaded'})"


class PersistentMap(Mapping[_K, _V]):
    """An immutable mapping whose new versions cost only the keys that change.

    All versions made from one another share one dict; the version read last holds it and the
    others are chains of small diffs towards it. Reading the newest version (what a desk does)
    is a dict lookup; reading an older one (a snapshot kept for a rollback, a test comparing
    states) first moves the dict to it, at the cost of the changes in between. Each version
    behaves as an ordinary frozen mapping (equality with any mapping, ``len``, iteration); do
    not interleave iterating one version with reading another of the same family. Not thread
    safe (the desks are single-threaded).
    """

    __slots__ = ("_v",)

    def __init__(self, items: Mapping[_K, _V] | Iterable[tuple[_K, _V]] = ()) -> None:
        self._v = _Version(dict(items))

    @classmethod
    def of(cls, mapping: Mapping[_K, _V]) -> PersistentMap[_K, _V]:
        """``mapping`` itself if it already is one, else a new map with its items."""
        if isinstance(mapping, PersistentMap):
            return mapping
        return cls(mapping)

    def _data(self) -> dict[_K, _V]:
        data = self._v.data
        return data if data is not None else _reroot(self._v)

    def updated(self, changes: Mapping[_K, _V]) -> PersistentMap[_K, _V]:
        """A new version: this one with ``changes`` applied (a value ``_MISSING`` deletes)."""
        if not changes:
            return self
        data = self._data()
        back: dict[Any, Any] = {}
        for key, value in changes.items():
            back[key] = data.get(key, _MISSING)
            if value is _MISSING:
                data.pop(key, None)
            else:
                data[key] = value
        new: PersistentMap[_K, _V] = PersistentMap.__new__(PersistentMap)
        new._v = _Version(data)
        old = self._v
        old.data, old.diff, old.next = None, back, new._v
        return new

    def __getitem__(self, key: _K) -> _V:
        data = self._v.data
        if data is None:
            data = _reroot(self._v)
        value = data[key]
        if type(value) is Deferred:
            value = data[key] = value.value()
        return cast("_V", value)

    @overload
    def get(self, key: _K, /) -> _V | None: ...
    @overload
    def get(self, key: _K, /, default: _V | _T) -> _V | _T: ...
    def get(self, key: _K, /, default: object = None) -> object:
        data = self._v.data
        if data is None:
            data = _reroot(self._v)
        value = data.get(key, default)
        if type(value) is Deferred:
            value = data[key] = value.value()
        return value

    def raw_items(self) -> Iterator[tuple[_K, _V | Deferred[_V]]]:
        """The items as stored: a value not made yet is its :class:`Deferred` (D101)."""
        return iter(self._data().items())

    def raw_get(self, key: _K, default: Any = None) -> Any:
        """A value as stored (a :class:`Deferred` left as it is), or ``default``."""
        return self._data().get(key, default)

    def changed_since(self, older: PersistentMap[_K, _V]) -> dict[_K, None] | None:
        """The keys whose value may differ between ``older`` and this version (added, removed
        or replaced since), in the order they first changed, costing the changes in between
        and not the map's size; ``None`` if ``older`` is not a version of this map's family
        (a node's checkpoint then compares every key, D441). A value made from its
        :class:`Deferred` is not a change."""
        self._data()  # this version holds the dict: every other one leads to it
        keys: dict[_K, None] = {}
        node = older._v
        while node.data is None:
            assert node.diff is not None
            assert node.next is not None
            keys.update(dict.fromkeys(node.diff))
            node = node.next
        return keys if node is self._v else None

    def __contains__(self, key: object) -> bool:
        data = self._v.data
        return key in (data if data is not None else _reroot(self._v))

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PersistentMap) and other._v is self._v:
            return True
        if not isinstance(other, Mapping):
            return NotImplemented
        mine = dict(self.items())  # a copy: reading ``other`` may move the shared dict
        return mine == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PersistentMap({self._data()!r})"


#: What :class:`Overlay` reads for a key it has no change for.
_ABSENT: Any = _Missing()


class Overlay(MutableMapping[_K, _V]):
    """One transaction's view of a :class:`PersistentMap`: reads fall through to the committed
    table, writes and deletions stay in :attr:`changes` until :meth:`commit`."""

    __slots__ = ("base", "changes")

    def __init__(self, base: PersistentMap[_K, _V]) -> None:
        self.base = base
        #: What this transaction wrote (``_MISSING``: deleted), in the order written.
        self.changes: dict[_K, _V] = {}

    def commit(self) -> PersistentMap[_K, _V]:
        """The committed table with this transaction's writes."""
        return self.base.updated(self.changes)

    def __getitem__(self, key: _K) -> _V:
        value = self.changes.get(key, _ABSENT)
        if value is _ABSENT:
            return self.base[key]
        if value is _MISSING:
            raise KeyError(key)
        return cast("_V", value)

    @overload
    def get(self, key: _K, /) -> _V | None: ...
    @overload
    def get(self, key: _K, /, default: _V | _T) -> _V | _T: ...
    def get(self, key: _K, /, default: object = None) -> object:
        value = self.changes.get(key, _ABSENT)
        if value is _ABSENT:
            return self.base.get(key, default)
        return default if value is _MISSING else value

    def __contains__(self, key: object) -> bool:
        value = self.changes.get(key, _ABSENT)  # type: ignore[arg-type]
        if value is _ABSENT:
            return key in self.base
        return value is not _MISSING

    def __setitem__(self, key: _K, value: _V) -> None:
        self.changes[key] = value

    def __delitem__(self, key: _K) -> None:
        if key not in self:
            raise KeyError(key)
        self.changes[key] = _MISSING

    @overload
    def pop(self, key: _K, /) -> _V: ...
    @overload
    def pop(self, key: _K, /, default: _V | _T) -> _V | _T: ...
    def pop(self, key: _K, /, default: object = _ABSENT) -> object:
        """``MutableMapping.pop`` without its ``KeyError`` for an absent key (the fund's desk
        pops a refusal that is usually not there, on every S072)."""
        if key in self:
            value = self[key]
            self.changes[key] = _MISSING
            return value
        if default is _ABSENT:
            raise KeyError(key)
        return default

    def __iter__(self) -> Iterator[_K]:
        changes = self.changes
        for key in self.base:
            if changes.get(key, _ABSENT) is not _MISSING:
                yield key
        for key, value in changes.items():
            if value is not _MISSING and key not in self.base:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DueIndex(Generic[_K]):
    """When each key (a case ID, a member) next needs looking at, so that time passing visits
    only what is due. A hint kept beside a desk's state, never part of it: the desk rebuilds it
    from its state and re-files every key an input touched (or took), whatever the outcome.
    Keys must be orderable (keys due at the same time are ordered by key: the desks sort what
    they take anyway); the heap holds ``(due, key)`` pairs, nothing more (memory, D192)."""

    __slots__ = ("_at", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, _K]] = []
        self._at: dict[_K, datetime] = {}

    def file(self, key: _K, due: datetime | None) -> None:
        """``key`` needs looking at from ``due`` on (None: never)."""
        if due is None:
            self._at.pop(key, None)
            return
        if self._at.get(key) == due:
            return
        self._at[key] = due
        heapq.heappush(self._heap, (due, key))

    def take(self, now: datetime) -> list[_K]:
        """The keys due at ``now``, removed (file them again once looked at)."""
        heap, at = self._heap, self._at
        out: list[_K] = []
        while heap and heap[0][0] <= now:
            due, key = heapq.heappop(heap)
            if at.get(key) == due:
                del at[key]
                out.append(key)
        return out


@quick_init
@dataclass(frozen=True, slots=True)
class CaseFile:
    """One case as a desk keeps it: the machine's snapshot, the peer, who it is about, and the
    content of every document exchanged (by document ID)."""

    snapshot: cm.CaseSnapshot
    #: IR ID of the other side.
    peer: str
    #: CNS side: the family member the case is about, once known.
    member: MemberRef | None = None
    #: Fund side: the key of the fund's record the case is about.
    person: str | None = None
    documents: Mapping[str, Document] = field(default_factory=dict)
    #: CNS side: answering is on hold (our S072 was withdrawn or rejected).
    suspended: bool = False

    @property
    def case_id(self) -> str:
        return self.snapshot.case_id

    @property
    def buc(self) -> str:
        return self.snapshot.buc

    @property
    def state(self) -> CaseState:
        return self.snapshot.state

    def in_effect(self, code: str) -> tuple[cm.Exchange, Document] | None:
        """The BUC document ``code`` in effect (latest version) and its content, if any."""
        for ex in self.snapshot.in_effect:
            if ex.document.code == code:
                return ex, self.documents[ex.document.document_id]
        return None

    def owes(self, role: Role) -> str | None:
        """The SED ``role`` must send next in this case, if any."""
        wait = self.snapshot.wait
        if wait is None or wait.sender is not role or self.state is CaseState.CLOSED:
            return None
        return wait.sed


#: :class:`CaseFile`'s fields in order (what :meth:`Tx.update` builds one from).
_CASE_FILE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(CaseFile))


def reference_of(sed: Document) -> str | None:
    """The document ID a SED names in its own reference block, if it has one."""
    if isinstance(sed, X008):
        return sed.invalidated.sed_id
    if isinstance(sed, X009):
        ref = sed.awaited[0].reference
        return ref.sed_id if ref else None
    if isinstance(sed, X010):
        return sed.reminder.sed_id
    if isinstance(sed, X011):
        return sed.rejected.sed_id
    if isinstance(sed, X012):
        return sed.concerned.sed_id
    if isinstance(sed, X013):
        return sed.request.sed_id
    if isinstance(sed, S073) and sed.reference is not None:
        return sed.reference.sed_id
    return None


def case_due(cf: CaseFile) -> datetime | None:
    """When :meth:`eessi.core.case.Case.tick` would first have something to say for this case
    (the reminder or escalation of a wait for the other side), if ever."""
    snap = cf.snapshot
    wait = snap.wait
    if wait is None or wait.sender is snap.role or snap.state is CaseState.CLOSED:
        return None
    due: datetime | None = None if wait.reminder_due_emitted else wait.deadline
    escalate = snap.deadlines.escalate_after
    if escalate is not None and not wait.escalation_emitted:
        at = wait.deadline + escalate
        due = at if due is None else min(due, at)
    return due


def file_cases(due: DueIndex[str], cases: Mapping[str, CaseFile]) -> None:
    """File in ``due`` every case of ``cases`` that may have something due. A case not made
    yet (:class:`Deferred`) is not looked at: a node defers only cases with nothing due."""
    items = cases.raw_items() if isinstance(cases, PersistentMap) else cases.items()
    for case_id, cf in items:
        if not isinstance(cf, Deferred):
            due.file(case_id, case_due(cf))


class Tx:
    """One input's worth of changes to a desk's cases (see the module docstring)."""

    def __init__(
        self,
        institution_id: str,
        ids: IdGenerator,
        now: datetime,
        cases: Mapping[str, CaseFile],
        deadlines: Mapping[str, cm.Deadlines] | None,
    ) -> None:
        self.institution_id = institution_id
        self.ids = ids
        self.now = now
        #: The cases as this input sees them; its writes stay here until the desk commits.
        self.cases: Overlay[str, CaseFile] = Overlay(PersistentMap.of(cases))
        self.deadlines = deadlines
        self.events: list[Event] = []
        self.outgoing: list[Outgoing] = []
        self.timers: list[Timer] = []

    # ---- results

    def step(self) -> Step:
        return Step(tuple(self.events), tuple(self.outgoing), tuple(self.timers))

    def emit(self, *events: Event) -> None:
        self.events.extend(events)

    # ---- cases

    def case(self, case_id: str) -> CaseFile:
        try:
            return self.cases[case_id]
        except KeyError:
            raise ProtocolError(
                f"no case {case_id} at {self.institution_id}",
                where=f"case {case_id}",
                hint="use the ID of a case this institution takes part in",
                code="protocol.unknown-case",
                details={"case_id": case_id, "institution": self.institution_id},
            ) from None

    def update(self, case_id: str, **changes: object) -> CaseFile:
        """The case with ``changes`` to its fields (the same case if they change nothing)."""
        cf = self.cases[case_id]
        if all(getattr(cf, name) == value for name, value in changes.items()):
            return cf
        # By position, not dataclasses.replace (its generic field walk, on most inputs: D216).
        values = [changes.pop(name, getattr(cf, name)) for name in _CASE_FILE_FIELDS]
        if changes:
            raise TypeError(f"CaseFile has no field {', '.join(changes)}")
        cf = CaseFile(*values)  # type: ignore[arg-type]
        self.cases[case_id] = cf
        return cf

    def open(
        self,
        buc: str,
        role: Role,
        case_id: str,
        peer: str,
        *,
        member: MemberRef | None = None,
        person: str | None = None,
    ) -> CaseFile:
        if case_id in self.cases:
            raise ProtocolError(
                f"case {case_id} already exists at {self.institution_id}",
                where=f"case {case_id}",
                hint=f"a new {BUCS[buc].starter} starts a new case with a fresh case ID",
                code="protocol.case-exists",
            )
        dl = self.deadlines.get(buc) if self.deadlines else None
        machine = cm.Case.open(buc, role, case_id, at=self.now, deadlines=dl)
        cf = CaseFile(machine.snapshot(), peer, member=member, person=person)
        self.cases[case_id] = cf
        self.emit(CaseOpened(case_id, buc, role, peer, member))
        return cf

    def send(
        self,
        case_id: str,
        sed: Document,
        *,
        answers: str | None = None,
        document_id: str | None = None,
    ) -> tuple[str, tuple[cm.Event, ...]]:
        """We send ``sed`` in ``case_id``: step the machine, record it, queue the outgoing."""
        cf = self.case(case_id)
        doc_id = document_id or self.ids.uuid()
        machine = cm.Case(cf.snapshot)
        events = machine.send(cm.DocumentRef(sed.code, doc_id, answers, sed.version), at=self.now)
        snap = machine.snapshot()
        answered = _answered(snap, doc_id, answers)
        self.cases[case_id] = CaseFile(
            snap,
            cf.peer,
            cf.member,
            cf.person,
            _with_document(cf.documents, doc_id, sed),
            cf.suspended,
        )
        self.outgoing.append(Outgoing(cf.peer, case_id, cf.buc, sed, doc_id, answered))
        self._translate(cf, events, cf.snapshot.role)
        return doc_id, events

    def receive(self, msg: DocumentReceived, answers: str | None) -> tuple[cm.Event, ...]:
        """``msg`` arrived in its (existing) case: check the peer, step the machine, record."""
        cf = self.case(msg.case_id)
        if cf.peer != msg.sender:
            raise ProtocolError(
                f"{msg.sed.code} {msg.document_id} from {msg.sender} in case {msg.case_id}, "
                f"whose other side is {cf.peer}",
                where=f"case {msg.case_id}",
                hint="a reply must come from the institution the case is with",
                code="protocol.wrong-sender",
                details={"case_id": msg.case_id, "sender": msg.sender, "peer": cf.peer},
            )
        if cf.buc != msg.buc:
            raise ProtocolError(
                f"{msg.sed.code} {msg.document_id} says case {msg.case_id} is a {msg.buc}, "
                f"but it is a {cf.buc}",
                where=f"case {msg.case_id}",
                hint="the business scope of the header must name the case's BUC",
                code="protocol.wrong-buc",
            )
        machine = cm.Case(cf.snapshot)
        ref = cm.DocumentRef(msg.sed.code, msg.document_id, answers, msg.sed.version)
        events = machine.receive(ref, at=self.now)
        self.cases[msg.case_id] = CaseFile(  # not dataclasses.replace: on every input (D216)
            machine.snapshot(),
            cf.peer,
            cf.member,
            cf.person,
            _with_document(cf.documents, msg.document_id, msg.sed),
            cf.suspended,
        )
        self._translate(cf, events, cf.snapshot.role)
        return events

    def _translate(self, cf: CaseFile, events: tuple[cm.Event, ...], role: Role) -> None:
        for ev in events:
            if isinstance(ev, cm.StateChanged):
                self.emit(
                    CaseStateChanged(
                        cf.case_id,
                        cf.buc,
                        ev.old,
                        ev.new,
                        ev.document.code,
                        ev.document.document_id,
                        ev.by,
                    )
                )
                continue
            self.emit(CaseEvent(cf.case_id, cf.buc, ev))
            if isinstance(ev, cm.ReplyExpected) and ev.sender is not role:
                self.timers.append(
                    Timer(ev.deadline, cf.case_id, f"remind the peer: {ev.sed} is due")
                )
                escalate = cf.snapshot.deadlines.escalate_after
                if escalate is not None:
                    self.timers.append(
                        Timer(ev.deadline + escalate, cf.case_id, f"escalate: still no {ev.sed}")
                    )

    # ---- references and horizontal SEDs

    def reference(self, case_id: str, document_id: str) -> SedReference:
        """A ``SedReference`` to a document of the case (type, ID, revision)."""
        cf = self.case(case_id)
        for ex in reversed(cf.snapshot.history):
            if ex.document.document_id == document_id:
                return SedReference(
                    sed_type=ex.document.code, sed_id=document_id, sed_version=ex.revision
                )
        raise ProtocolError(
            f"no document {document_id} in case {case_id}",
            where=f"case {case_id}",
            hint="refer to a document exchanged in this case",
            code="protocol.unknown-document",
        )

    def tick(self, now: datetime, due: Iterable[str] | None = None) -> None:
        """Time is ``now``: every open case checks its deadline; a due reminder is sent.

        ``due``: the cases that may have something due (from a :class:`DueIndex`); the others
        are not looked at. None: every case."""
        for case_id in sorted(self.cases if due is None else due):
            cf = self.cases.get(case_id)
            if cf is None:
                continue
            machine = cm.Case(cf.snapshot)
            events = machine.tick(now)
            if not events:
                continue
            self.cases[case_id] = CaseFile(
                machine.snapshot(), cf.peer, cf.member, cf.person, cf.documents, cf.suspended
            )
            self._translate(cf, events, cf.snapshot.role)
            for ev in events:
                if isinstance(ev, cm.ReminderDue):
                    self.remind(case_id, ev.document_id, ev.awaited_sed)

    def remind(self, case_id: str, awaited_id: str, awaited_sed: str) -> str:
        """Send an X009: we still wait for ``awaited_sed`` answering ``awaited_id``."""
        x009 = X009(
            awaited=(
                AwaitedSed(sed_type=awaited_sed, reference=self.reference(case_id, awaited_id)),
            )
        )
        doc_id, _ = self.send(case_id, x009, answers=awaited_id)
        self.emit(ReminderSent(case_id, doc_id, awaited_sed))
        return doc_id

    def answer_reminder(self, case_id: str, x009_id: str, reply: ReminderReply) -> str:
        x010 = X010(reminder=self.reference(case_id, x009_id), reply=reply)
        return self.send(case_id, x010, answers=x009_id)[0]

    def answer_clarification(self, case_id: str, x012_id: str, text: str) -> str:
        x012 = self.case(case_id).documents[x012_id]
        assert isinstance(x012, X012)
        answers = tuple(Answer(number=q.number, text=text) for q in x012.questions)
        x013 = X013(request=self.reference(case_id, x012_id), answers=answers)
        return self.send(case_id, x013, answers=x012_id)[0]

    def invalidate(
        self,
        case_id: str,
        document_id: str,
        reason: InvalidationReason = InvalidationReason.SENT_BY_MISTAKE,
        text: str | None = None,
    ) -> str:
        x008 = X008(
            invalidated=self.reference(case_id, document_id),
            reason=reason,
            additional_information=text,
        )
        return self.send(case_id, x008, answers=document_id)[0]

    def reject(
        self,
        case_id: str,
        document_id: str,
        reason: RejectionReason = RejectionReason.CONTENT_INCORRECT,
        text: str | None = None,
    ) -> str:
        x011 = X011(
            rejected=self.reference(case_id, document_id),
            reason=reason,
            additional_information=text,
        )
        return self.send(case_id, x011, answers=document_id)[0]

    def close(self, case_id: str, reason: ClosureReason = ClosureReason.BUSINESS_COMPLETED) -> str:
        return self.send(case_id, X001(reason=reason))[0]


def _with_document(
    documents: Mapping[str, Document], document_id: str, sed: Document
) -> CompactDocuments:
    """A case's ``documents`` with ``sed`` recorded under ``document_id``, kept compact."""
    if isinstance(documents, CompactDocuments):
        return documents.with_document(document_id, sed)
    return CompactDocuments({**documents, document_id: sed})


def _answered(snap: cm.CaseSnapshot, doc_id: str, given: str | None) -> str | None:
    """The ``answers`` the machine recorded for ``doc_id`` (it fills in the BUC's chain)."""
    for ex in reversed(snap.history):
        if ex.document.document_id == doc_id:
            return ex.document.answers
    return given
