"""The CNS suite against our own CNS run as ``eessi serve`` in its own process: every test case
passes; the JUnit XML parses with junitparser and counts what the terminal says; the JSON
report holds every document the SUT sent, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped
from sut_process import eessi, start_sut

from eessi.cli import main
from eessi.conformance import load_suite, run_suite, shipped_suite
from eessi.conformance.report_text import render
from eessi.conformance.reports import write_reports
from eessi.directory import load_directory

pytestmark = pytest.mark.slow


async def test_our_own_cns_passes_the_cns_suite_and_the_junit_counts_match(tmp_path: Path) -> None:
    suite = load_suite(shipped_suite("cns"))
    async with start_sut(tmp_path, "LU:CNS00001") as directory:
        result = await run_suite(suite, load_directory(directory), "LU:CNS00001")
    text = render(result)
    assert result.passed, text
    assert "clock" in result.capabilities  # every deadline case ran, none skipped
    assert [c.case.id for c in result.cases] == [c.id for c in suite.cases]
    paths = write_reports(result, tmp_path / "reports")

    xml = JUnitXml.fromfile(str(paths["junit"]))
    cases = [case for junit_suite in xml for case in junit_suite]
    failed = [c for c in cases if any(isinstance(r, Failure) for r in c.result)]
    skipped = [c for c in cases if any(isinstance(r, Skipped) for r in c.result)]
    summary = f"{len(cases)} test cases: {len(cases) - len(failed) - len(skipped)} passed,"
    summary += f" {len(failed)} failed, {len(skipped)} skipped"
    assert summary in text  # the terminal's line, counted from the JUnit file
    assert len(cases) == len(suite.cases)

    report = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert report["passed"] is True
    (maria,) = [c for c in report["cases"] if c["id"] == "CNS-S071-01"]
    sent = [m for r in maria["results"] for m in r["messages"] if m["from_sut"]]
    assert [m["sed"] for m in sent] == ["S072"]
    assert "<forename>Maria</forename>" in sent[0]["payload"]


async def test_the_cli_runs_chosen_cases_lists_them_and_exits_0(tmp_path: Path) -> None:
    async with start_sut(tmp_path, "LU:CNS00001") as directory:
        code, out, err = await eessi(
            "conformance", "run", "--role", "cns", "--sut", "LU:CNS00001",
            "--directory", str(directory), "--only", "CNS-S071-02", "CNS-T-VERSION-01",
            "--report-dir", str(tmp_path / "out"),
        )  # fmt: skip
    assert code == 0, out + err
    assert "PASS  CNS-S071-02" in out
    assert "2 test cases: 2 passed, 0 failed, 0 skipped" in out
    assert (tmp_path / "out" / "junit.xml").is_file()
    code, out, err = await eessi("conformance", "list", "--role", "cns")
    assert code == 0, err
    assert "CNS-X009-01" in out
    assert "[needs: clock]" in out


def test_an_unknown_test_case_is_a_usage_error_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["conformance", "run", "--role", "cns", "--sut", "http://127.0.0.1:9/as4",
         "--only", "CNS-NOPE", "--startup", "0.2"]
    )  # fmt: skip
    assert code == 2
    assert "no test case CNS-NOPE in the cns suite" in capsys.readouterr().err
