from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "trace"))
from trace_builders import CNS, CPAM, header, messages, r17_records, two_journals

from eessi.cli import main
from eessi.trace.format import read_trace, write_trace

ROOT = Path(__file__).resolve().parents[2]
HOUSEHOLDS = ROOT / "examples" / "households"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["trace", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def journals(tmp_path: Path) -> tuple[Path, Path]:
    return asyncio.run(two_journals(tmp_path, r17_records()))


def test_export_writes_a_trace_of_both_journals_with_households(
    tmp_path: Path, journals: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.jsonl.gz"
    args = ["export", "--journal", str(journals[0]), "--journal", str(journals[1])]
    code, stdout, _ = run([*args, "--households", str(HOUSEHOLDS), "-o", str(out)], capsys)
    assert code == 0
    assert stdout == f"wrote {out}: 6 messages in 1 case(s)\n"
    trace = read_trace(out)
    assert len(trace.messages) == 6
    assert len(trace.header.config["households"]) == len(list(HOUSEHOLDS.glob("*.json")))


def test_export_json_summary_and_case_filter(
    tmp_path: Path, journals: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.jsonl"
    code, stdout, _ = run(
        ["export", "--journal", str(journals[0]), "--case", "nope", "-o", str(out), "--json"],
        capsys,
    )
    assert code == 0
    assert json.loads(stdout) == {
        "output": str(out),
        "messages": 0,
        "cases": 0,
        "pseudonymised": False,
    }


def test_export_pseudonymised_trace_has_no_original_name(
    tmp_path: Path, journals: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.jsonl"
    code, stdout, _ = run(
        [
            "export",
            "--journal",
            str(journals[0]),
            "--households",
            str(HOUSEHOLDS / "resident-with-family-abroad.json"),
            "--pseudonymise",
            "-o",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    assert "3 pseudonymised" in stdout
    text = out.read_text(encoding="utf-8")
    originals = [r.payload for r in r17_records()]
    assert "Janssens" in originals[2].decode()
    assert "Janssens" not in text
    assert "João Silva" not in text
    assert "1978072712345" not in text


def test_export_refuses_a_missing_journal_and_a_bad_since(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.jsonl"
    code, _, err = run(["export", "--journal", str(tmp_path / "x.sqlite"), "-o", str(out)], capsys)
    assert code == 2
    assert "no journal file here" in err
    assert not out.exists()
    (tmp_path / "j.sqlite").write_bytes(b"")
    code, _, err = run(
        ["export", "--journal", str(tmp_path / "j.sqlite"), "--since", "soon", "-o", str(out)],
        capsys,
    )
    assert code == 2
    assert "--since 'soon'" in err


def _trace_file(tmp_path: Path, name: str = "t.jsonl", records=None) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    write_trace(path, header(), messages(records if records is not None else r17_records()))
    return path


def test_show_draws_lifelines_and_the_three_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["show", str(_trace_file(tmp_path)), "--ascii"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [CNS, CPAM]
    assert sum("S07" in line for line in lines) == 3
    assert "<---" in lines[3]
    assert lines[-1] == "3 messages (6 journal records)"


def test_show_mermaid_plantuml_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(_trace_file(tmp_path))
    code, out, _ = run(["show", path, "--mermaid"], capsys)
    assert code == 0
    assert out.startswith("sequenceDiagram\n")
    assert "P2->>P1: S071" in out
    code, out, _ = run(["show", path, "--plantuml"], capsys)
    assert out.startswith("@startuml")
    code, out, _ = run(["show", path, "--json"], capsys)
    doc = json.loads(out)
    assert doc["format"] == "eessi-trace/1"
    assert [m["sed"] for m in doc["messages"]] == ["S071"] * 2 + ["S072"] * 2 + ["S073"] * 2


def test_show_refuses_a_truncated_trace_with_its_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _trace_file(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:40])
    code, out, err = run(["show", str(path)], capsys)
    assert code == 2
    assert out == ""
    assert f"(at {path}:4)" in err


def test_diff_of_identical_runs_is_clean_and_reports_a_changed_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _trace_file(tmp_path, "a.jsonl")
    b = _trace_file(tmp_path, "b.jsonl", r17_records(case="LU-000000OTHER", prefix="z"))
    code, out, _ = run(["diff", str(a), str(b)], capsys)
    assert code == 0
    assert out.endswith("3 paired: no divergence\n")
    changed = [
        replace(r, payload=r.payload.replace(b"<dateRegistration>", b"<dateRegistration>1"))
        if r.sed_type == "S073"
        else r
        for r in r17_records()
    ]
    c = _trace_file(tmp_path, "c.jsonl", changed)
    code, out, _ = run(["diff", str(a), str(c), "--json"], capsys)
    assert code == 1
    (d,) = json.loads(out)["divergences"]
    assert (d["message"], d["sed"], d["field"]) == (5, "S073", "/S073/dateRegistration")
    code, out, _ = run(["diff", str(a), str(c), "--ignore", "//dateRegistration"], capsys)
    assert code == 0
