from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from scenarios import CNS, DE, PT, busy_r17, r5_student, r17_demo

from eessi.as4.wire import is_entity
from eessi.trace.format import Trace, TraceError, read_trace, write_trace
from eessi.trace.pseudonymise import pseudonymise_trace
from eessi.trace.replay import replay_trace, timeline


def _save(trace, path: Path) -> Path:  # type: ignore[no-untyped-def]
    write_trace(path, trace.header, trace.messages, inputs=trace.inputs)
    return path


def _without_wire(trace: Trace) -> Trace:
    """``trace`` without what is the wire's: every envelope emptied (the AS4 packages differ
    from one replay to the next by what security draws afresh: a new test PKI, encryption keys
    and nonces), and the ebMS Service and Action (an inbound AS4 record keeps the BUC and SED
    type there, the twin its own constants)."""
    messages = tuple(
        replace(m, record=replace(m.record, envelope=b"", service="", action=""))
        for m in trace.messages
    )
    return replace(trace, messages=messages)


async def test_recorded_demo_replays_without_divergence_and_twice_identical_but_the_wire(
    tmp_path: Path,
) -> None:
    recorded = read_trace(_save(await r17_demo(tmp_path / "rec"), tmp_path / "demo.jsonl"))
    assert [m.record.sed_type for m in recorded.messages].count("S073") == 4
    first = await replay_trace(recorded)
    assert first.ok, [d.describe() for d in first.comparison.divergences]
    assert set(first.sides) == {CNS, PT}
    assert (first.comparison.recorded, first.comparison.paired) == (6, 6)
    assert (first.fed, first.submitted) == (6, 2)
    second = await replay_trace(recorded)
    # every message went over eDelivery AS4 (the journal keeps the MIME package, D90)
    assert all(is_entity(m.record.envelope) for m in first.output.messages)
    a = _save(_without_wire(first.output), tmp_path / "r1.jsonl").read_bytes()
    b = _save(_without_wire(second.output), tmp_path / "r2.jsonl").read_bytes()
    assert a == b
    # Seeded IDs and the virtual clock reproduce even the volatile fields.
    sent = {m.record.message_id: m.record.payload for m in recorded.messages}
    assert {m.record.message_id: m.record.payload for m in first.output.messages} == sent


async def test_R9_lower_resources_threshold_diverges_at_the_S040_the_CNS_no_longer_sends(
    tmp_path: Path,
) -> None:
    recorded = await r5_student(tmp_path / "rec")
    seds = [(m.record.sed_type, m.record.direction.value) for m in recorded.messages]
    assert seds[0] == ("S040", "out")
    assert (await replay_trace(recorded)).ok
    config = dict(recorded.header.config)
    config["rules"] = {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900.00"}]}
    result = await replay_trace(recorded, config=config)
    assert not result.ok
    d, parked = result.comparison.divergences
    assert (d.kind, d.index, d.sed_type, d.sender, d.receiver) == ("missing", 1, "S040", CNS, DE)
    # The recorded S041 now answers nothing the CNS sent: it stays parked, unprocessed.
    assert (parked.sed_type, parked.recorded, parked.now) == ("S041", "processed", "received")
    assert parked.field == f"journal:status (received by {CNS})"
    assert result.output.header.config["rules"] == config["rules"]


async def test_changed_household_data_is_reported_at_the_message_and_field(
    tmp_path: Path,
) -> None:
    recorded = await r17_demo(tmp_path / "rec")
    config = dict(recorded.header.config)
    households = [dict(h) for h in config["households"]]
    silva = next(h for h in households if h["id"] == "silva-luxembourg")
    silva["main_insured"] = [{**silva["main_insured"][0], "name": "João Santos"}]
    config["households"] = households
    result = await replay_trace(recorded, config=config, sides=[CNS])
    fields = {(d.sed_type, d.field, d.recorded, d.now) for d in result.comparison.divergences}
    path = "/S072/StatusFamilyMember/PleaseFillInDetailsMainInsuredPerson/PersonIdentification"
    assert ("S072", path + "/familyName", "Silva", "Santos") in fields
    first = min(d.index or 0 for d in result.comparison.divergences)
    assert recorded.messages[first - 1].record.sed_type == "S072"


async def test_pseudonymised_trace_still_replays_without_divergence(tmp_path: Path) -> None:
    recorded = pseudonymise_trace(await r17_demo(tmp_path / "rec"))
    text = "".join(m.record.payload.decode() for m in recorded.messages)
    assert "Silva" not in text
    result = await replay_trace(recorded)
    assert result.ok, [d.describe() for d in result.comparison.divergences]


async def test_one_side_only_and_unknown_side(tmp_path: Path) -> None:
    recorded = await r17_demo(tmp_path / "rec")
    result = await replay_trace(recorded, sides=[CNS])
    assert result.sides == (CNS,)
    assert result.ok
    assert {m.observer for m in result.output.messages} == {CNS}
    with pytest.raises(TraceError, match="not in the trace's directory"):
        await replay_trace(recorded, sides=["XX:NOPE0001"])


async def test_timeline_follows_the_input_log_order(tmp_path: Path) -> None:
    recorded = await r17_demo(tmp_path / "rec")
    pt = timeline(recorded, PT)
    log = sorted((i for i in recorded.inputs if i.observer == PT), key=lambda i: i.seq)
    assert [f.entry.seq if f.entry else f.record.message_id for f in pt] == [  # type: ignore[union-attr]
        i.seq if i.data["kind"] == "input" else i.message_id for i in log
    ]
    assert sorted(f.entry is None for f in pt) == [False, False, True, True]


async def test_busy_recording_replays_with_the_recorded_ids_whatever_the_timing(
    tmp_path: Path,
) -> None:
    recorded = await busy_r17(tmp_path / "rec", n=6)
    assert len(recorded.messages) == 72
    result = await replay_trace(recorded)
    assert result.ok, [d.describe() for d in result.comparison.divergences]
    assert {m.record.message_id for m in result.output.messages} == {
        m.record.message_id for m in recorded.messages
    }


def test_recorded_ids_serve_desk_steps_in_order_and_transport_ids_apart() -> None:
    from eessi.trace.replay import RecordedIds

    class Desk:
        drawn: list[str] | None = None

    desk = Desk()
    ids = RecordedIds([["a", "b"], [], ["c"]], seed=1)
    ids.attach(desk)
    transport = ids.uuid()
    assert transport not in ("a", "b", "c")
    desk.drawn = []
    assert (ids.case_id("PT"), ids.uuid()) == ("a", "b")
    extra = ids.uuid()  # more than recorded: a fresh ID
    assert extra not in ("a", "b", "c", transport)
    desk.drawn = []
    assert ids.uuid() == "c"


async def test_replay_on_the_in_memory_twin_matches_the_AS4_replay_but_the_wire(
    tmp_path: Path,
) -> None:
    recorded = read_trace(_save(await r17_demo(tmp_path / "rec"), tmp_path / "demo.jsonl"))
    twin = await replay_trace(recorded, transport="twin")
    assert twin.ok, [d.describe() for d in twin.comparison.divergences]
    assert (twin.comparison.recorded, twin.comparison.paired) == (6, 6)
    assert (twin.fed, twin.submitted) == (6, 2)
    as4 = await replay_trace(recorded)
    a = _save(_without_wire(twin.output), tmp_path / "twin.jsonl").read_bytes()
    b = _save(_without_wire(as4.output), tmp_path / "as4.jsonl").read_bytes()
    assert a == b
    # A recording that diverges does so the same way on the twin (R9, at the S040).
    student = await r5_student(tmp_path / "student")
    config = dict(student.header.config)
    config["rules"] = {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900.00"}]}
    found = await replay_trace(student, config=config, transport="twin")
    assert [(d.kind, d.sed_type) for d in found.comparison.divergences] == [
        ("missing", "S040"),
        ("field", "S041"),
    ]
