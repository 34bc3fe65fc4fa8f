from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))
from scenarios import CNS, PT, r5_student, r17_demo

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import load_as4
from eessi.as4.wire import is_entity
from eessi.cli import main
from eessi.clock import SystemClock
from eessi.journal import open_journal
from eessi.node.network import loopback_directory
from eessi.trace.format import Trace, read_trace, write_trace
from eessi.trace.runconfig import build_institution


def _save(trace: Trace, path: Path) -> Path:
    write_trace(path, trace.header, trace.messages, inputs=trace.inputs)
    return path


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    return _save(asyncio.run(r17_demo(tmp_path / "rec")), tmp_path / "demo.jsonl")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_of_a_recorded_demo_reports_no_divergence(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run([str(demo)], capsys)
    assert code == 0
    assert out.splitlines()[-1] == (
        f"replay of {PT}, {CNS} (6 message(s) fed, 2 input(s) submitted):"
        " 6 recorded message(s), 6 now, 6 paired: no divergence"
    )


def _without_wire(path: Path) -> bytes:
    """The trace at ``path`` as bytes, its envelopes emptied (two AS4 replays differ there by
    what security draws afresh: a new test PKI, encryption keys and nonces)."""
    trace = read_trace(path)
    messages = [replace(m, record=replace(m.record, envelope=b"")) for m in trace.messages]
    out = path.with_suffix(".bare.jsonl")
    write_trace(out, trace.header, messages, inputs=trace.inputs)
    return out.read_bytes()


def test_two_replays_write_the_same_traces_but_the_AS4_security(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run([str(demo), "-o", str(a)], capsys)[0] == 0
    assert run([str(demo), "-o", str(b), "--json"], capsys)[0] == 0
    assert _without_wire(a) == _without_wire(b)
    assert len(read_trace(a).messages) == 12
    assert all(is_entity(m.record.envelope) for m in read_trace(a).messages)


def test_replay_on_the_twin_and_without_security_report_the_same(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    default = run([str(demo), "--json"], capsys)
    twin = run([str(demo), "--json", "--transport", "twin"], capsys)
    bare = run([str(demo), "--json", "--no-security"], capsys)
    assert default[0] == twin[0] == bare[0] == 0
    assert json.loads(default[1]) == json.loads(twin[1]) == json.loads(bare[1])


def test_transport_and_pki_options_that_do_not_go_together_are_refused(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run([str(demo), "--pki", "somewhere"], capsys)
    assert code == 2
    assert "--pki is for --target" in err
    code, _, err = run([str(demo), "--offline", "--transport", "twin"], capsys)
    assert code == 2
    assert "--offline feeds the desks directly" in err
    target = ["--target", "http://127.0.0.1:9/as4", "--side", CNS, "--directory", "x.toml"]
    code, _, err = run([str(demo), *target, "--transport", "twin"], capsys)
    assert code == 2
    assert "--transport twin is in memory only" in err
    # a secured target's PKI must be given (a PKI made now would not be the target's)
    directory = tmp_path / "live.toml"
    directory.write_text(_toml(read_trace(demo).header.load_directory()), encoding="utf-8")
    target = ["--target", "http://127.0.0.1:9/as4", "--side", CNS, "--directory", str(directory)]
    code, _, err = run([str(demo), *target, "--pki", str(tmp_path / "nothing")], capsys)
    assert code == 2
    assert "its PKI was not found in" in err
    assert not (tmp_path / "nothing").exists()


def test_R9_threshold_from_config_diverges_with_exit_1_and_json_details(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = _save(asyncio.run(r5_student(tmp_path / "rec")), tmp_path / "r5.jsonl")
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {"rules": {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900"}]}}
        )
    )
    code, out, err = run([str(trace), "--config", str(rules)], capsys)
    assert code == 1
    assert out.splitlines()[0] == (
        "message 1: S040 LU:CNS00001 -> DE:TKK00001 (case 1): recorded but not sent now"
    )
    assert "divergences found" in err
    code, out, _ = run([str(trace), "--config", str(rules), "--show"], capsys)
    drawn = [line for line in out.splitlines() if "S040" in line and "│" in line]
    assert drawn
    assert "<< MISSING NOW" in drawn[0]
    code, out, _ = run([str(trace), "--config", str(rules), "--json"], capsys)
    doc = json.loads(out)
    assert doc["ok"] is False
    assert doc["divergences"][0]["message"] == 1
    assert doc["divergences"][0]["kind"] == "missing"


def test_corrupted_trace_is_refused_with_its_line_and_nothing_written(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = demo.read_bytes().splitlines(keepends=True)
    n = next(i for i, line in enumerate(lines) if b'"type":"message"' in line) + 2
    assert b"<sed:S07" in lines[n]
    lines[n] = lines[n].replace(b"<sed:S07", b"<sed:S08", 1)
    demo.write_bytes(b"".join(lines))
    out_file = tmp_path / "out.jsonl"
    code, out, err = run([str(demo), "-o", str(out_file)], capsys)
    assert code == 2
    assert out == ""
    assert f"{demo}:{n + 1}" in err
    assert not out_file.exists()


def test_target_replays_one_side_against_a_live_institution(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = read_trace(demo)
    recorded = trace.header.load_directory()
    live = loopback_directory(recorded, recorded.ids)
    toml = tmp_path / "live.toml"
    toml.write_text(_toml(live), encoding="utf-8")

    # the target speaks secured AS4 with a PKI of its own, which the replay is given
    as4 = load_as4(live, pki_dir=tmp_path / "pki", default_pki_dir=tmp_path / "pki")

    async def serve_and_replay() -> int:
        journal = await open_journal(tmp_path / "cns.sqlite", synchronous="NORMAL")
        cns = build_institution(
            live.get(CNS), live, trace.header.config, journal, SystemClock(),
            transport=as4_transport(as4),
        )  # fmt: skip
        await cns.start()
        try:
            assert cns.endpoint_url is not None
            argv = [str(demo), "--target", cns.endpoint_url, "--side", CNS]
            argv += ["--directory", str(toml), "--wait", "5", "--pki", str(tmp_path / "pki")]
            return await asyncio.to_thread(main, ["replay", *argv])
        finally:
            await cns.stop()
            await journal.close()

    code = asyncio.run(serve_and_replay())
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1].endswith("2 recorded message(s), 2 now, 2 paired: no divergence")


def _toml(directory) -> str:  # type: ignore[no-untyped-def]
    parts = ["format = 1"]
    for e in directory:
        parts.append("[[institution]]")
        table = e.to_dict(include_credential=True)
        table.pop("admin", None)
        if not e.eessi:
            table.pop("bucs")
            table.pop("versions")
        for key, value in table.items():
            parts.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(parts) + "\n"


def test_offline_replay_flag(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([str(demo), "--offline"], capsys)
    assert code == 0
    assert out.startswith(f"offline replay of {PT}, {CNS} (6 message(s) fed, 2 input(s)")
    assert out.rstrip().endswith("no divergence")
    code, out, err = run([str(demo), "--offline", "-o", "x.jsonl"], capsys)
    assert code == 2
    assert "--offline cannot be combined" in err


def test_offline_replay_in_one_or_two_processes_reports_the_same(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = run([str(demo), "--offline", "--processes", "1", "--json"], capsys)
    two = run([str(demo), "--offline", "--processes", "2", "--json"], capsys)
    assert one[0] == two[0] == 0
    assert one[1] == two[1]
    code, _, err = run([str(demo), "--offline", "--processes", "0"], capsys)
    assert code == 2
    assert "--processes must be at least 1" in err
