"""``eessi up --log-format json``: every line parses, one line per message in and out with its
fields, one per decision citing its rules (issue 15, logs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ops_support import CNS, PT, parse_lines, running, s071_flow

pytestmark = pytest.mark.slow

FIELDS = ("institution", "direction", "sed", "case", "message_id", "status", "duration_ms")


async def test_R17_flow_under_up_json_logs_one_line_per_message_and_per_decision(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, "--log-format", "json", "--log-level", "INFO") as up:
        await s071_flow(up)
    assert up.proc is not None
    assert up.proc.returncode == 0
    lines = parse_lines(up.lines())  # every line the process wrote is one JSON object

    message_lines = [line for line in lines if line.get("event") == "message"]
    for line in message_lines:
        assert set(FIELDS) <= line.keys(), line
        assert line["level"] == "INFO"
        assert line["ts"].endswith("Z")
    seen = [(m["institution"], m["direction"], m["message_id"]) for m in message_lines]
    journaled = []
    for ir_id in (CNS, PT):
        for record in await up.journal(ir_id):
            journaled.append((ir_id, record.direction.value, record.message_id))
            (line,) = [
                m
                for m in message_lines
                if (m["institution"], m["direction"], m["message_id"]) == journaled[-1]
            ]
            assert line["sed"] == record.sed_type
            assert line["case"] == record.conversation_id
            assert line["status"] == record.status.value
            assert line["peer"] == (
                record.sender if record.direction.value == "in" else record.receiver
            )
            assert isinstance(line["duration_ms"], float)
            assert line["duration_ms"] >= 0
    # S071, S072, S073: each once out and once in, and nothing logged that was not journaled
    assert sorted(seen) == sorted(journaled)
    assert len(journaled) == 6

    decisions = [line for line in lines if line.get("event") == "decision"]
    assert {d["kind"] for d in decisions} >= {"decision-made", "entitlement-answered"}
    for d in decisions:
        assert d["institution"] == CNS
        assert d["rules"], d
        assert all(re.fullmatch(r"[RS]\d+", r) for r in d["rules"]), d
        assert d["case"] == message_lines[0]["case"]
    assert any("R17" in d["rules"] for d in decisions)


async def test_up_is_quiet_at_the_default_level(tmp_path: Path) -> None:
    async with running(tmp_path, "--log-format", "json") as up:
        await s071_flow(up)
    events = {line.get("event") for line in parse_lines(up.lines())}
    assert "message" not in events
    assert "decision" not in events
    assert {"listening", "stopping"} <= events
