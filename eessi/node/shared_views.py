"""The desk views of a shared institution, answered by any of its processes (issue 17, D195).

Several ``eessi serve --shared`` processes split an institution's cases into partitions, each
partition's desk in the process that owns it (:mod:`eessi.node.partitions`). What is in the
journal (cases, messages, events) every process reads from the shared journal; what only the
desks hold (registrations, open cases by state, parked documents) a process gathers by asking
every partition's desk: its own directly, the others' owners through the journal's queue of
admin requests (:class:`AskDesk`, answered without changing the desk). So ``GET
/api/households`` and the desk gauges of ``/metrics`` are the institution's on every process.

A process registers its views with :func:`attach_views`; the admin API and ``/metrics`` find
them with :func:`views_of` (None: a lone process, whose own desk is the institution's).
"""

from __future__ import annotations

import weakref
from collections import Counter as Tally
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from eessi.core.desk import Deferred, PersistentMap

__all__ = [
    "AskDesk",
    "DeskGauges",
    "DeskView",
    "InstitutionViews",
    "attach_views",
    "open_cases",
    "views_of",
]


def open_cases(desk: Any) -> Tally[tuple[str, str]]:
    """A desk's cases not closed, by BUC and state, read without decoding the cases a restart
    left encoded (their :class:`~eessi.core.desk.Deferred` summary, D152)."""
    tally: Tally[tuple[str, str]] = Tally()
    snapshot = getattr(desk, "snapshot", None)
    if snapshot is None:
        return tally
    cases = snapshot().cases
    items = cases.raw_items() if isinstance(cases, PersistentMap) else cases.items()
    for _case_id, item in items:
        if type(item) is Deferred:
            if not item.loaded and item.summary is not None:
                buc, state = item.summary
                if state != "closed":
                    tally[(buc, state)] += 1
                continue
            item = item.value()
        cf: Any = item
        state = cf.snapshot.state.value
        if state != "closed":
            tally[(cf.snapshot.buc, state)] += 1
    return tally


@dataclass(frozen=True, slots=True)
class DeskView:
    """What one partition's desk tells (pickled between the processes of one institution)."""

    #: Cases not closed, by (BUC, state).
    open_cases: dict[tuple[str, str], int]
    #: Inbound documents kept until their case is known.
    parked: int
    #: The desk's registrations (co-insured members), when asked for.
    registrations: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AskDesk:
    """A question to a partition's desk, queued for its owner like an admin request; the
    answer is a :class:`DeskView` and the desk does not change."""

    registrations: bool = False

    def answer(self, node: Any) -> DeskView:
        desk = node.desk
        regs = getattr(desk, "registrations", None) if self.registrations else None
        return DeskView(
            open_cases=dict(open_cases(desk)),
            parked=len(node.parked),
            registrations=dict(regs) if isinstance(regs, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class DeskGauges:
    """The desk gauges of ``/metrics`` for a whole institution."""

    open_cases: dict[tuple[str, str], int]
    parked: int
    #: Outbound messages journaled and not yet acknowledged or failed (from the journal).
    outbox: int
    #: Partitions the answering process owns (the rest were asked of their owners).
    owned: int


class InstitutionViews(Protocol):
    """What a process of a shared institution answers for the whole institution."""

    async def gauges(self) -> DeskGauges: ...

    async def registrations(self) -> Mapping[Any, Any]: ...


_VIEWS: weakref.WeakKeyDictionary[Any, InstitutionViews] = weakref.WeakKeyDictionary()


def attach_views(node: Any, views: InstitutionViews) -> None:
    """``node`` (a shared institution's serving node) answers its desk views with ``views``."""
    _VIEWS[node] = views


def views_of(node: Any) -> InstitutionViews | None:
    """The institution-wide views of ``node``, if it is a process of a shared institution."""
    return _VIEWS.get(node)
