from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from trace_builders import CNS, CPAM, T0, header, r17_records, two_journals

from eessi.directory import load_default_directory
from eessi.journal import MessageStatus
from eessi.trace.export import export_journals, merge, observer_of
from eessi.trace.format import TraceError, read_trace


@pytest.fixture
async def journals(tmp_path: Path) -> tuple[Path, Path]:
    later = T0 + timedelta(hours=1)
    records = r17_records() + r17_records(case="LU-0000000CA5E2", prefix="n", start=later)
    return await two_journals(tmp_path, records)


async def test_export_merges_both_journals_in_time_order_send_before_receive(
    tmp_path: Path, journals: tuple[Path, Path]
) -> None:
    out = tmp_path / "all.jsonl"
    n = await export_journals(out, list(journals), load_default_directory(), created=T0)
    trace = read_trace(out)
    assert n == len(trace.messages) == 12
    seq = [(m.record.sed_type, m.record.direction.value, m.observer) for m in trace.messages]
    assert seq[:6] == [
        ("S071", "out", CPAM),
        ("S071", "in", CNS),
        ("S072", "out", CNS),
        ("S072", "in", CPAM),
        ("S073", "out", CPAM),
        ("S073", "in", CNS),
    ]
    expected = {r.message_id: r.payload for r in r17_records()}
    for m in trace.messages[:6]:
        assert m.record.payload == expected[m.record.message_id]
    statuses = {m.record.status for m in trace.messages}
    assert statuses == {MessageStatus.ACKNOWLEDGED, MessageStatus.PROCESSED}


async def test_export_filters_by_case_institution_and_since(
    tmp_path: Path, journals: tuple[Path, Path]
) -> None:
    directory = load_default_directory()
    out = tmp_path / "t.jsonl"
    await export_journals(out, list(journals), directory, case="LU-0000000CA5E2", created=T0)
    trace = read_trace(out)
    assert {m.record.conversation_id for m in trace.messages} == {"LU-0000000CA5E2"}
    assert trace.header.source["case"] == "LU-0000000CA5E2"
    await export_journals(
        out, list(journals), directory, since=T0 + timedelta(minutes=30), created=T0
    )
    assert len(read_trace(out).messages) == 6
    await export_journals(out, [journals[0]], directory, institution=CPAM, created=T0)
    assert {m.observer for m in read_trace(out).messages} == {CNS}


async def test_export_refuses_a_missing_journal_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    with pytest.raises(TraceError) as err:
        await export_journals(out, [tmp_path / "nope.sqlite"], load_default_directory(), created=T0)
    assert err.value.code == "trace.no-journal"
    assert not out.exists()
    assert not (tmp_path / "nope.sqlite").exists()


def test_merge_orders_by_time_then_outbound_first() -> None:
    records = r17_records()
    cns = [r for r in records if observer_of(r) == CNS]
    fund = [r for r in records if observer_of(r) == CPAM]
    assert [m.record for m in merge([cns, fund])] == [m.record for m in merge([fund, cns])]
    assert header().config == {"seed": 7}
