"""A checkpoint writes the keys the inputs changed since the previous one, found from the
desk's tables themselves (D441), not by comparing every key: whatever the inputs did (added,
replaced, removed keys; a rolled-back batch, after which the desk goes on from an older
state), each checkpoint restores exactly the state it was given (issue 9, item 11)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from eessi.core.desk import Overlay, PersistentMap
from eessi.journal import open_journal
from eessi.node.checkpoint import DeskCheckpoints
from eessi.node.records import INPUT_LOG

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
OWNER = "LU:TEST0001"


@dataclass(frozen=True)
class Desk:
    """A desk state: ``cases`` stored one row each with an index (D221), ``marks`` packed
    (D220), as a CNS's or a fund's tables are."""

    cases: Mapping[str, Any] = field(default_factory=dict)
    marks: Mapping[str, int] = field(default_factory=dict)


def changed(state: Desk, rng: random.Random) -> Desk:
    """``state`` after one input: a few keys of each table added, replaced or removed."""
    tables = []
    for table, make in ((state.cases, _case), (state.marks, _mark)):
        assert isinstance(table, PersistentMap)
        tx = Overlay(table)
        for _ in range(rng.randint(0, 4)):
            key = f"k{rng.randint(0, 40):02d}"
            if rng.random() < 0.25:
                tx.pop(key, None)
            else:
                tx[key] = make(rng)
        tables.append(tx.commit())
    return Desk(*tables)


def _case(rng: random.Random) -> Any:
    return ("case", rng.randint(0, 10**6), T0 + timedelta(seconds=rng.randint(0, 999)))


def _mark(rng: random.Random) -> int:
    return rng.randint(0, 10**6)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_each_checkpoint_restores_the_state_it_was_given(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    journal = await open_journal(tmp_path / "journal.sqlite", synchronous="NORMAL")
    try:
        checkpoints = DeskCheckpoints(journal, OWNER)
        now: list[Desk] = [Desk(PersistentMap(), PersistentMap())]
        checkpoints.follow(lambda: now[0])
        kept = [now[0]]
        saved = 0
        for step in range(300):
            if rng.random() < 0.05:  # a batch rolled back: on from an older state
                now[0] = rng.choice(kept[-6:])
            now[0] = changed(now[0], rng)
            kept.append(now[0])
            async with journal.transaction() as tx:
                event = await tx.append_event(
                    INPUT_LOG, "input", {"n": step}, at=T0 + timedelta(seconds=step)
                )
            checkpoints.logged(event.seq, event.at, 1)
            if rng.random() < 0.15:
                await checkpoints.save(now[0])
                saved += 1
                fresh = DeskCheckpoints(journal, OWNER)
                restored = await fresh.restore(Desk())
                assert restored is not None
                assert fresh.input_seq == event.seq
                assert dict(restored.cases) == dict(now[0].cases)
                assert dict(restored.marks) == dict(now[0].marks)
        assert saved >= 20
    finally:
        await journal.close()


async def test_a_restored_node_goes_on_checkpointing_only_what_changed(tmp_path: Path) -> None:
    """After a restore, the next checkpoint writes the rows of the keys changed since (and
    their index's and table's rows), and restores the state it was given."""
    rng = random.Random(7)
    journal = await open_journal(tmp_path / "journal.sqlite", synchronous="NORMAL")
    try:
        first = DeskCheckpoints(journal, OWNER)
        state = Desk(
            PersistentMap({f"c{i:03d}": _case(rng) for i in range(200)}),
            PersistentMap({f"m{i:03d}": i for i in range(200)}),
        )
        async with journal.transaction() as tx:
            event = await tx.append_event(INPUT_LOG, "input", {"n": 0}, at=T0)
        first.logged(event.seq, event.at, 1)
        assert await first.save(state) == 200 + 1 + 1  # each case, their index, the marks
        second = DeskCheckpoints(journal, OWNER)
        restored = await second.restore(Desk())
        assert restored is not None
        now = [restored]
        second.follow(lambda: now[0])
        for n in (1, 2):
            cases, marks = Overlay(now[0].cases), Overlay(now[0].marks)
            cases[f"c{n:03d}"] = _case(rng)
            del cases[f"c{n + 100:03d}"]
            marks[f"m{n:03d}"] = -n
            now[0] = Desk(cases.commit(), marks.commit())
            async with journal.transaction() as tx:
                event = await tx.append_event(INPUT_LOG, "input", {"n": n}, at=T0)
            second.logged(event.seq, event.at, 1)
        # c001, c002 written; c101, c102 removed; the cases' index row; the marks' row
        assert await second.save(now[0]) == 6
        third = DeskCheckpoints(journal, OWNER)
        again = await third.restore(Desk())
        assert again is not None
        assert dict(again.cases) == dict(now[0].cases)
        assert dict(again.marks) == dict(now[0].marks)
    finally:
        await journal.close()
