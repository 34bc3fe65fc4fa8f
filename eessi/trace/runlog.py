"""What a node was started with, journaled, so that ``eessi trace export`` can carry it.

A replay needs more than the documents: the people the desks know, the seeds, a mock fund's
rules and where its clock stood. A journal holds the documents and the inputs; this module
adds the rest, as events of the pseudo case :data:`RUN_LOG` (``~run``), like the node's input
log (``~inputs``) and a mock fund's rule changes (``~mock-rules``): no table of its own,
nothing to migrate, and every journal says on its own what its node was started with.

* ``started`` (each start of the node, by :func:`note_run`): ``{"institution": IR ID,
  "households_digest": fingerprint, "seed": N or null, "clock": {"virtual": bool, "at": ISO
  time}}``; the households themselves are an event ``households`` ``{"digest": fingerprint,
  "households": [household file JSON, ...]}`` of the pseudo case :data:`HOUSEHOLDS_LOG`
  (``~households``), journaled only when the fingerprint differs from the last start's (a
  CNS of 100,000 households restarts without writing them again, D150). Notes written before
  that carry ``"households"`` in the ``started`` note itself, and are still read;
* ``mock`` (each start of a mock fund, by :func:`note_mock`): ``{"institution": IR ID,
  "rules": [the rules it starts with, as GET /api/mock/rules lists them], "seed": the seed
  of its behaviours' RNG, "policy": {switch: bool}, "stall_seconds": S}``; the rules changed
  later are its ``~mock-rules`` events.

:func:`config_from_journals` turns the events of several journals into the run configuration
of a trace header (:mod:`eessi.trace.runconfig`). This module imports nothing of the node, so
the node's network builder can call it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

from eessi.clock import Clock, SystemClock
from eessi.core.household import Household
from eessi.core.household_json import HouseholdFile, household_to_dict
from eessi.journal.base import Journal

__all__ = [
    "HOUSEHOLDS_LOG",
    "MOCK_RULES_LOG",
    "RUN_LOG",
    "config_from_journals",
    "households_json",
    "note_mock",
    "note_run",
    "policy_json",
]

#: Pseudo case ID of the start notes.
RUN_LOG: Final = "~run"
#: Pseudo case ID of the households a node was started with (when they changed).
HOUSEHOLDS_LOG: Final = "~households"
#: Pseudo case ID of a mock fund's rule changes (``eessi.mock.rules_log.RULES_LOG``).
MOCK_RULES_LOG: Final = "~mock-rules"


class _Node(Protocol):
    journal: Journal

    @property
    def id(self) -> str: ...

    start_hooks: list[Callable[[], Awaitable[None]]]

    @property
    def clock(self) -> Clock: ...


def households_json(people: Iterable[Household]) -> list[dict[str, Any]]:
    """The households as household files (``docs/household-format.md``)."""
    return [household_to_dict(HouseholdFile(h)) for h in people]


class _Source(Protocol):
    """Households with a fingerprint (an ``eessi.node.household_index.HouseholdSource``)."""

    digest: str

    def households(self) -> list[Household]: ...


def note_run(node: _Node, *, households: Sequence[Household] | _Source, seed: int | None) -> None:
    """Journal what ``node`` is started with at each of its starts (a start hook, run after
    its journal is restored and before anything is processed; a network reset starts it on a
    fresh journal, which gets the note again). The households are journaled when their
    fingerprint differs from the one of the node's last start (see the module docstring)."""
    if isinstance(households, Sequence):
        docs: list[dict[str, Any]] | None = households_json(households)
        text = json.dumps(docs, sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        source: _Source | None = None
    else:
        docs, digest, source = None, households.digest, households

    async def note() -> None:
        clock = node.clock
        data = {
            "institution": node.id,
            "households_digest": digest,
            "seed": seed,
            "clock": {"virtual": not isinstance(clock, SystemClock), "at": clock.now().isoformat()},
        }
        notes = [e for e in await node.journal.case_events(RUN_LOG) if e.kind == "started"]
        known = bool(notes) and notes[-1].data.get("households_digest") == digest
        written = docs
        if not known and written is None and source is not None:
            written = households_json(source.households())
        async with node.journal.transaction() as tx:
            if not known:
                await tx.append_events(
                    HOUSEHOLDS_LOG,
                    [("households", {"digest": digest, "households": written})],
                    at=clock.now(),
                )
            await tx.append_events(RUN_LOG, [("started", data)], at=clock.now())

    node.start_hooks.insert(0, note)


def policy_json(policy: Any) -> dict[str, Any]:
    """A fund policy's switches (its booleans) as JSON."""
    if policy is None or not dataclasses.is_dataclass(policy):
        return {}
    return {
        f.name: getattr(policy, f.name)
        for f in dataclasses.fields(policy)
        if isinstance(getattr(policy, f.name), bool)
    }


async def note_mock(
    journal: Journal,
    fund: str,
    *,
    rules: Iterable[Any],
    seed: int,
    policy: Any,
    stall_seconds: float,
    at: datetime,
) -> None:
    """Journal the rules and settings a mock fund starts with (before its journaled rule
    changes are applied to them)."""
    data = {
        "institution": fund,
        "rules": [r.to_dict() for r in rules],
        "seed": seed,
        "policy": policy_json(policy),
        "stall_seconds": stall_seconds,
    }
    async with journal.transaction() as tx:
        await tx.append_events(RUN_LOG, [("mock", data)], at=at)


async def config_from_journals(
    journals: Sequence[Journal], *, prefer: str | None = None
) -> dict[str, Any]:
    """The run configuration of a trace (``eessi.trace.runconfig``) from the start notes of
    ``journals``: the households of the latest start (those of ``prefer``, the
    CNS, when institutions were started with different ones), the seed (``seeds`` per
    institution when they differ), the clock where the run began (``start``), and each mock
    fund's starting rules, settings and rule changes (``mocks``). Empty when no journal has a
    note (one written before nodes noted their starts)."""
    households: list[Any] | None = None
    seeds: dict[str, int | None] = {}
    start: str | None = None
    mocks: dict[str, dict[str, Any]] = {}
    for journal in journals:
        notes = await journal.case_events(RUN_LOG)
        started = [e for e in notes if e.kind == "started"]
        if started:
            last = started[-1].data
            ir_id = str(last.get("institution", ""))
            if households is None or ir_id == prefer:
                households = await _households_of(journal, last)
            seeds[ir_id] = last.get("seed")
            at = str(started[0].data.get("clock", {}).get("at") or started[0].at.isoformat())
            start = at if start is None or at < start else start
        bases = [e for e in notes if e.kind == "mock"]
        if bases:
            base = dict(bases[0].data)
            fund = str(base.pop("institution", ""))
            base["changes"] = [
                {"at": e.at.isoformat(), "kind": e.kind, "data": dict(e.data)}
                for e in await journal.case_events(MOCK_RULES_LOG)
            ]
            mocks[fund] = base
    out: dict[str, Any] = {}
    if households is not None:
        out["households"] = households
    given = {i: s for i, s in seeds.items() if isinstance(s, int)}
    if given:
        values = set(given.values())
        if len(values) == 1 and len(given) == len(seeds):
            out["seed"] = values.pop()
        else:
            out["seeds"] = given
    if start is not None:
        out["start"] = start
    if mocks:
        out["mocks"] = mocks
    return out


async def _households_of(journal: Journal, note: Mapping[str, Any]) -> list[Any]:
    """The households of a start note: in the note (older journals), else the last
    ``households`` event of :data:`HOUSEHOLDS_LOG` with the note's fingerprint."""
    if "households" in note:
        return list(note.get("households") or [])
    for event in reversed(await journal.case_events(HOUSEHOLDS_LOG)):
        if event.data.get("digest") == note.get("households_digest"):
            return list(event.data.get("households") or [])
    return []


def mock_config(config: Mapping[str, Any], ir_id: str) -> Mapping[str, Any] | None:
    """The ``mocks`` entry of ``ir_id`` in a run configuration, if it was a mock fund."""
    mocks = config.get("mocks")
    if not isinstance(mocks, Mapping):
        return None
    entry = mocks.get(ir_id)
    return entry if isinstance(entry, Mapping) else None
