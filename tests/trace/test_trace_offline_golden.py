"""The offline replay's report on a committed sample trace, byte for byte (D270).

``data/sample_r17.jsonl.gz`` and its reports were written by ``data/make_sample.py`` with the
code from before the offline replay's speed work: whatever makes the replay cheaper must leave
what it reports unchanged, in one process and in two, as text and as JSON. The sample diverges
in two ways on purpose (a field of a recorded S072, an S073 missing from the journal), so equal
reports are not two empty ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eessi.cli import main

DATA = Path(__file__).resolve().parent / "data"
TRACE = DATA / "sample_r17.jsonl.gz"


@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize("report", ["sample_r17.report.txt", "sample_r17.report.json"])
def test_offline_replay_report_of_the_sample_trace_is_unchanged(
    report: str, processes: str, capsys: pytest.CaptureFixture[str]
) -> None:
    as_json = ["--json"] if report.endswith(".json") else []
    code = main(["replay", str(TRACE), "--offline", "--processes", processes, *as_json])
    out, _ = capsys.readouterr()
    expected = (DATA / report).read_text("utf-8")
    assert "S072" in expected  # the two divergences are reported
    assert "S073" in expected
    assert out == expected
    assert code == 1  # divergences: exit 1
