"""The fund suite against our own mock fund run as ``eessi serve`` in its own process, and the
suite as pytest items (one per test case) through the plugin."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from lxml import etree
from sut_process import start_sut

from eessi.conformance import Outcome, load_suite, run_suite, shipped_suite
from eessi.conformance.report_text import render
from eessi.conformance.reports import write_reports
from eessi.directory import load_directory

pytestmark = pytest.mark.slow

GITB = Path(__file__).resolve().parents[2].parent / "shared" / "gitb-schemas"

pytest_plugins = ["pytester"]


async def test_our_own_mock_fund_passes_the_fund_suite(tmp_path: Path) -> None:
    suite = load_suite(shipped_suite("fund"))
    async with start_sut(tmp_path, "FR:CPAM5701") as directory:
        result = await run_suite(suite, load_directory(directory), "FR:CPAM5701")
    assert result.passed, render(result)
    assert {"clock", "requests"} <= set(result.capabilities)
    assert all(c.outcome is Outcome.PASSED for c in result.cases)
    (first,) = [c for c in result.cases if c.case.id == "FUND-S071-01"]
    sent = [m.sed for s in first.steps for m in s.messages if m.from_sut]
    assert sent == ["S071", "S073"]


async def test_without_a_clock_route_the_deadline_cases_are_skipped_with_the_reason(
    tmp_path: Path,
) -> None:
    suite = load_suite(shipped_suite("fund"))
    async with start_sut(tmp_path, "FR:CPAM5701", clock=False) as directory:
        result = await run_suite(
            suite, load_directory(directory), "FR:CPAM5701", only=["FUND-X009-01", "FUND-S072A-01"]
        )
    skipped, ran = result.cases
    assert skipped.outcome is Outcome.SKIPPED
    assert "no virtual clock route" in skipped.reason
    assert ran.outcome is Outcome.PASSED
    assert result.passed
    tar = etree.parse(str(write_reports(result, tmp_path / "reports")["tar"]))
    results = [r.text for r in tar.iterfind("{*}reports/{*}reports/{*}result")]
    assert results == ["UNDEFINED", "SUCCESS"]  # skipped, passed
    if not (GITB / "gitb_tr.xsd").is_file():
        pytest.skip(f"the ITB's schemas are not here ({GITB}): the TAR is not validated")
    xsd = etree.XMLSchema(etree.parse(str(GITB / "gitb_tr.xsd"), etree.XMLParser(no_network=True)))
    xsd.assertValid(tar)


def _plugin_args() -> list[str]:
    if entry_points(group="pytest11", name="eessi-conformance"):
        return []
    return ["-p", "eessi.conformance.pytest_support"]


async def test_the_suite_runs_as_one_pytest_item_per_test_case(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    """A CNS that never reminds: its reminder case fails with the step and the finding, the
    others pass, next to the project's own test."""
    pytester.makepyfile("def test_own():\n    assert True\n")
    async with start_sut(tmp_path, "LU:CNS00001", mutant="no-reminder") as directory:
        result = await asyncio.to_thread(
            pytester.runpytest_subprocess,
            *_plugin_args(),
            "-p", "no:cacheprovider", "-v",
            "--eessi-conformance", "cns", "--eessi-sut", "LU:CNS00001",
            "--eessi-sut-directory", str(directory),
            "-k", "X009-01 or S071-02 or own", "--eessi-conformance-within", "5",
            "--eessi-conformance-report-dir", str(tmp_path / "reports"),
            timeout=120,
        )  # fmt: skip
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*conformance?CNS-S071-02? PASSED*",
            "*conformance?CNS-X009-01? FAILED*",
            "*step 6 (the SUT sends X009): ?missing? the SUT sent no X009 within *",
        ]
    )
    assert (tmp_path / "reports" / "junit.xml").is_file()
