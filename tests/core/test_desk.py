"""The desks' shared machinery: persistent tables, transaction overlays, the due index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from process_world import CNS_ID, FR_FUND, PT_FUND, World

from eessi.core.desk import DueIndex, Overlay, PersistentMap, Tx
from eessi.core.fund import FundPolicy
from eessi.core.messages import (
    CaseEvent,
    CaseStateChanged,
    Event,
    ReminderSent,
    RequestEntitlement,
    TimePassed,
)
from eessi.ids import SeededIds

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_new_version_leaves_the_old_one_as_it_was() -> None:
    v1 = PersistentMap({"a": 1, "b": 2})
    v2 = v1.updated({"b": 3, "c": 4})
    assert dict(v2) == {"a": 1, "b": 3, "c": 4}
    assert dict(v1) == {"a": 1, "b": 2}
    assert dict(v2) == {"a": 1, "b": 3, "c": 4}  # and back again
    assert v1 != v2
    assert v1 == {"a": 1, "b": 2}


def test_overlay_writes_nothing_until_committed() -> None:
    base = PersistentMap({"a": 1, "b": 2})
    tx = Overlay(base)
    tx["a"] = 10
    del tx["b"]
    tx["c"] = 3
    assert dict(tx) == {"a": 10, "c": 3}
    assert "b" not in tx
    assert tx.get("b", 0) == 0
    with pytest.raises(KeyError):
        tx["b"]
    assert dict(base) == {"a": 1, "b": 2}  # an aborted transaction is just dropped
    committed = tx.commit()
    assert dict(committed) == {"a": 10, "c": 3}
    assert dict(base) == {"a": 1, "b": 2}


def test_deleting_an_absent_key_is_a_key_error() -> None:
    tx = Overlay(PersistentMap({"a": 1}))
    with pytest.raises(KeyError):
        del tx["zz"]


_ops = st.lists(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.one_of(st.none(), st.integers(0, 9))),
        max_size=4,
    ),
    max_size=12,
)


@given(_ops, st.data())
def test_every_version_reads_as_the_dict_it_was_made_as(ops: list, data: st.DataObject) -> None:
    """Versions read in any order (as a rollback or a test comparing snapshots does) each
    show exactly their own content; None in a step deletes the key."""
    plain: list[dict[str, int]] = [{}]
    versions = [PersistentMap[str, int]()]
    for step in ops:
        tx = Overlay(versions[-1])
        want = dict(plain[-1])
        for key, value in step:
            if value is None:
                if key in tx:
                    del tx[key]
                    del want[key]
            else:
                tx[key] = value
                want[key] = value
        versions.append(tx.commit())
        plain.append(want)
    order = data.draw(st.permutations(range(len(versions))))
    for i in order:
        assert dict(versions[i]) == plain[i]
        assert len(versions[i]) == len(plain[i])


@given(_ops, st.data())
def test_changed_since_names_every_key_that_differs_between_two_versions(
    ops: list, data: st.DataObject
) -> None:
    """What a node's checkpoint asks (D441): between any two versions of a family, read in any
    order before (a rollback reads an older one), the keys changed include every key whose
    value differs, and no key that never changed on the way; another family's version is
    ``None`` (not known)."""
    versions = [PersistentMap[str, int]({"a": 0})]
    touched: list[set[str]] = [set()]
    for step in ops:
        tx = Overlay(versions[data.draw(st.integers(0, len(versions) - 1))])  # any base
        for key, value in step:
            if value is None:
                if key in tx:
                    del tx[key]
            else:
                tx[key] = value
        versions.append(tx.commit())
        touched.append({key for key, _ in step})
    for i in data.draw(st.permutations(range(len(versions)))):  # move the dict around
        len(versions[i])
    old = data.draw(st.integers(0, len(versions) - 1))
    new = data.draw(st.integers(0, len(versions) - 1))
    keys = versions[new].changed_since(versions[old])
    assert keys is not None
    a, b = dict(versions[old]), dict(versions[new])
    assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} <= keys.keys()
    assert keys.keys() <= set().union(*touched)
    assert versions[new].changed_since(PersistentMap(a)) is None


def test_due_index_gives_what_is_due_once_and_forgets_stale_dates() -> None:
    due: DueIndex[str] = DueIndex()
    due.file("a", T0 + timedelta(days=1))
    due.file("b", T0 + timedelta(days=3))
    due.file("a", T0 + timedelta(days=5))  # moved: the day-1 entry is stale
    due.file("c", None)
    assert due.take(T0 + timedelta(days=2)) == []
    assert due.take(T0 + timedelta(days=5)) == ["b", "a"]
    assert due.take(T0 + timedelta(days=9)) == []


def test_time_passing_reminds_exactly_the_cases_a_full_scan_would() -> None:
    """The desks look only at the cases their due index names; a tick over every case (the
    reference) finds the same cases due, at every step, on both sides."""
    quiet = FundPolicy(auto_register=False, answer_reminders=False)
    w = World(policies={PT_FUND: quiet, FR_FUND: quiet})
    for key, fund in (("ana", PT_FUND), ("marie", FR_FUND), ("rui", PT_FUND)):
        w.run(w.funds[fund].handle(RequestEntitlement(key, CNS_ID)), fund)
        w.clock.advance(timedelta(days=9))
    seen = 0
    for days in (20, 15, 10, 30, 90, 400):
        w.clock.advance(timedelta(days=days))
        now = w.clock.now()
        for name, desk in (("cns", w.cns), ("pt", w.funds[PT_FUND]), ("fr", w.funds[FR_FUND])):
            full = Tx(name, SeededIds(7), now, desk.snapshot().cases, None)
            full.tick(now)
            step = desk.handle(TimePassed(now))
            assert _ticked(step.events) == _ticked(full.events), (name, days)
            seen += sum(isinstance(e, ReminderSent) for e in step.events)
    assert seen >= 3  # every CNS case reminded its fund at least once


def _ticked(events: Sequence[Event]) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, e.case_id)
        for e in events
        if isinstance(e, ReminderSent | CaseEvent | CaseStateChanged)
    ]
