from __future__ import annotations

import gc
from pathlib import Path

import pytest
from scenarios import CNS, DE, busy_r17, r5_student, r17_demo

from eessi.errors import EessiError
from eessi.trace.offline import replay_offline
from eessi.trace.pseudonymise import pseudonymise_trace


async def test_offline_replay_of_recorded_scenarios_has_no_divergence(tmp_path: Path) -> None:
    for name, make in (("demo", r17_demo), ("r5", r5_student)):
        result = replay_offline(await make(tmp_path / name))
        assert result.ok, (name, [d.describe() for d in result.comparison.divergences])
    busy = replay_offline(await busy_r17(tmp_path / "busy", n=4))
    assert busy.ok
    assert (busy.fed, busy.submitted, busy.produced) == (24, 8, 24)


async def test_offline_replay_reports_the_R9_threshold_change_at_the_S040(tmp_path: Path) -> None:
    trace = await r5_student(tmp_path / "r5")
    config = dict(trace.header.config)
    config["rules"] = {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900"}]}
    result = replay_offline(trace, config=config)
    (d,) = result.comparison.divergences
    assert (d.kind, d.index, d.sed_type, d.sender, d.receiver) == ("missing", 1, "S040", CNS, DE)


async def test_offline_replay_of_a_pseudonymised_trace(tmp_path: Path) -> None:
    assert replay_offline(pseudonymise_trace(await r17_demo(tmp_path / "d"))).ok


async def test_offline_replay_reports_a_document_refused_now(tmp_path: Path) -> None:
    from dataclasses import replace

    trace = await r17_demo(tmp_path / "d")
    broken = tuple(
        replace(m, record=replace(m.record, payload=b"<not-a-sed/>"))
        if m.record.sed_type == "S073"
        else m
        for m in trace.messages
    )
    result = replay_offline(replace(trace, messages=broken))
    assert not result.ok
    assert any("refused now" in n for n in result.notes)


async def test_offline_replay_in_two_processes_finds_what_one_process_finds(tmp_path: Path) -> None:
    trace = await r5_student(tmp_path / "r5")
    config = dict(trace.header.config)
    config["rules"] = {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900"}]}
    one = replay_offline(trace, config=config)
    two = replay_offline(trace, config=config, processes=2)
    assert len(two.sides) == 2
    assert two.comparison.divergences  # the R9 change: not a vacuous equality
    assert two == one


async def test_offline_replay_names_the_side_whose_worker_process_failed(tmp_path: Path) -> None:
    trace = await r17_demo(tmp_path / "d")
    with pytest.raises(EessiError, match="XX:NOBODY"):
        replay_offline(trace, sides=[CNS, "XX:NOBODY"], processes=2)


async def test_offline_replay_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    trace = await r17_demo(tmp_path / "d")
    before = gc.get_freeze_count()
    thresholds = gc.get_threshold()
    assert replay_offline(trace).ok
    assert gc.get_freeze_count() == before  # what it froze for the run is released
    assert gc.get_threshold() == thresholds  # its raised young threshold too (D341)
    gc.freeze()  # someone else's frozen objects stay frozen
    try:
        frozen = gc.get_freeze_count()
        assert replay_offline(trace, processes=2).ok
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
