"""What the desk sees of one input, and what one input becomes.

* :class:`StepClock`, :class:`StepIds`: the desk's clock and ID generator, fixed to the input
  being handled and recorded in the input log (replayed exactly at a restart, D7);
* :class:`Item`: an input waiting for the worker; :class:`Done`: one handled, waiting for the
  batch's transaction;
* :func:`buc_of`, :func:`version_for`: which BUC a document belongs to, which SED version to
  write for a receiver (also used by the offline replay, :mod:`eessi.trace.offline`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from eessi.clock import Clock
from eessi.core.messages import Step
from eessi.errors import JournalError
from eessi.ids import IdGenerator, RandomIds, SeededIds, institution_seed
from eessi.journal.base import JournalTransaction, MessageRecord
from eessi.node.hooks import OutboundSed
from eessi.node.inputs import SubmitInput
from eessi.sed.catalogue import BUCS, SEDS

if TYPE_CHECKING:
    from eessi.directory import Directory
    from eessi.node.desk_factory import Desk

#: Stores an input's answer in the transaction that commits its step, given the step and the
#: IDs of the outbound messages it journaled (:attr:`Item.answer`).
Answer = Callable[[JournalTransaction, Step, list[str]], Awaitable[None]]

__all__ = [
    "Answer",
    "Done",
    "Item",
    "StepClock",
    "StepIds",
    "buc_of",
    "default_signal_ids",
    "version_for",
    "version_key",
]


def default_signal_ids(ir_id: str, *, seeded: IdGenerator | None) -> IdGenerator:
    """The transport's ID generator (receipts, error signals) when none is given: random for a
    live node (``seeded`` is ``None``), else seeded from the institution ID, so a seeded node's
    signal IDs are reproducible without touching its desk's sequence: the ``"signals"`` stream
    of :func:`eessi.ids.institution_seed` with run seed 0 (the builders that know the run's seed,
    :func:`eessi.node.network.open_institution`, pass its stream instead)."""
    if seeded is None:
        return RandomIds()
    return SeededIds(institution_seed(0, ir_id, "signals"))


class StepClock:
    """The desk's clock: fixed to the time of the input being handled (recorded, replayed)."""

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.fixed: datetime | None = None

    def now(self) -> datetime:
        return self.fixed if self.fixed is not None else self.base.now()


class StepIds:
    """The desk's ID generator: records the IDs drawn for an input, or replays them."""

    def __init__(self, base: IdGenerator) -> None:
        self.base = base
        self.drawn: list[str] | None = None
        self.replay: deque[str] | None = None

    def _next(self, fresh: Callable[[], str]) -> str:
        if self.replay is not None:
            if not self.replay:
                raise JournalError(
                    "replaying the input log: the desk asked for more IDs than were recorded",
                    code="journal.replay-diverged",
                    hint="the households, directory or code changed since the journal was"
                    " written; start with a new journal",
                )
            return self.replay.popleft()
        value = fresh()
        if self.drawn is not None:
            self.drawn.append(value)
        return value

    def uuid(self) -> str:
        return self._next(self.base.uuid)

    def case_id(self, country: str) -> str:
        return self._next(lambda: self.base.case_id(country))


@dataclass(slots=True)
class Item:
    """One input waiting for the desk."""

    #: ``expire``: nothing for the desk; the batch expires the parked documents that are due.
    kind: Literal["inbound", "submit", "expire"]
    record: MessageRecord | None = None
    #: The validated SED tree (``None`` after a restart: parsed again from the journal).
    root: Any = None
    input: SubmitInput | None = None
    future: asyncio.Future[Step] | None = None
    #: Filled with the IDs of the outbound messages the step journaled (``submit(messages=)``).
    messages: list[str] | None = None
    #: Called in the transaction that commits the step (``submit(answer=)``): a request
    #: another process queued stores its answer with its effect (D280).
    answer: Answer | None = None


@dataclass(slots=True)
class Done:
    """One input handled, waiting for its transaction."""

    at: datetime
    step: Step
    #: The input log entry (``None``: nothing to replay, e.g. a rejected document).
    log_entry: dict[str, Any] | None
    events: list[tuple[str, str, dict[str, Any]]]
    outbound: list[tuple[MessageRecord, OutboundSed]]
    cases: set[str]
    inbound_id: str | None = None
    error: str | None = None
    future: asyncio.Future[Step] | None = None
    messages: list[str] | None = None
    #: A parked document given up (``inbound_id``): journaled ``expired``, not ``rejected``.
    expired: bool = False
    #: The input's :attr:`Item.answer`.
    answer: Answer | None = None


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def buc_of(desk: Desk, case_id: str, code: str) -> str:
    """The BUC of a document of type ``code`` in case ``case_id``: the case's when ``desk``
    knows it, else the one the SED starts (for a case not known yet), else its first BUC."""
    cf = desk.snapshot().cases.get(case_id)
    if cf is not None:
        return cf.buc
    for buc in BUCS.values():
        if buc.starter == code:
            return buc.name
    kind = SEDS.get(code)
    return kind.bucs[0] if kind is not None and kind.bucs else "S_BUC_01"


def version_for(
    directory: Directory, accept_versions: Sequence[str], receiver: str, code: str, version: str
) -> str:
    """The SED version to write a ``code`` document for ``receiver``: its own ``version``
    unless the receiver (directory) does not support it, then the newest version both sides
    (and the SED type) support; its own when they share none."""
    peer = directory.find(receiver)
    if peer is None or not peer.versions:
        return version
    kind = SEDS.get(code)
    common = [
        v for v in peer.versions if v in accept_versions and (kind is None or v in kind.versions)
    ]
    if not common or version in common:
        return version
    return max(common, key=version_key)
