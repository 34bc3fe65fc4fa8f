"""Deliberately broken systems under test fail exactly where they are broken: the test case,
the step, the check and the XPath or rule (``mutants.py`` holds the bugs). One run also writes
every report: the TAR is valid against the ITB's own schema, the HTML opens in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml
from lxml import etree
from sut_process import chromium, start_sut

from eessi.conformance import (
    Finding,
    Outcome,
    RunSettings,
    SuiteResult,
    load_suite,
    run_suite,
    shipped_suite,
)
from eessi.conformance.reports import write_reports
from eessi.directory import load_directory

pytestmark = pytest.mark.slow

GITB = Path(__file__).resolve().parents[2].parent / "shared" / "gitb-schemas"
#: A broken SUT gets a few seconds to send what it never will (enough for one under load).
FAST = RunSettings(within=5.0, quiet=0.4)


async def run_mutant(tmp_path: Path, mutant: str, *cases: str) -> SuiteResult:
    async with start_sut(tmp_path, "LU:CNS00001", mutant=mutant) as directory:
        return await run_suite(
            load_suite(shipped_suite("cns")),
            load_directory(directory),
            "LU:CNS00001",
            only=cases,
            settings=FAST,
        )


def the_failure(result: SuiteResult, case: str, step: int) -> list[Finding]:
    """The findings of the one failed step of ``case``, checking nothing else failed."""
    failed = [c for c in result.cases if c.outcome is Outcome.FAILED]
    assert [c.case.id for c in failed] == [case], [c.case.id for c in failed]
    steps = [s for s in failed[0].steps if s.outcome is Outcome.FAILED]
    assert [s.step.index for s in steps] == [step]
    return list(steps[0].findings)


async def test_a_cns_that_never_sends_the_s072_fails_at_the_expected_s072(tmp_path: Path) -> None:
    result = await run_mutant(tmp_path, "no-s072", "CNS-S071-01", "CNS-T-VERSION-01")
    (finding,) = the_failure(result, "CNS-S071-01", 2)
    assert finding.check == "missing"
    assert finding.sed == "S072"
    assert finding.rules == ("R17",)
    assert finding.expected == "LU:CNS00001 -> PT:ISS00001 S072"


async def test_a_cns_confirming_what_r17_refuses_is_caught_by_the_rules_at_the_xpath(
    tmp_path: Path,
) -> None:
    result = await run_mutant(tmp_path, "confirms-refused", "CNS-S071-03")
    findings = the_failure(result, "CNS-S071-03", 2)
    (content,) = [f for f in findings if f.check == "content"]
    assert content.xpath == "/sed:S072/entitlementConfirmed/value"
    assert content.line is not None
    assert "R17" in content.rules
    assert content.found == "entitlementConfirmed 01"
    assert content.expected.startswith("no confirmed S072: not eligible")


async def test_an_s072_invalid_against_the_schema_is_explained_in_every_report(
    tmp_path: Path,
) -> None:
    result = await run_mutant(tmp_path, "invalid-s072", "CNS-S071-02")
    findings = the_failure(result, "CNS-S071-02", 2)
    (schema,) = [f for f in findings if f.check == "schema"]
    assert schema.xpath == "/sed:S072/bogus"
    assert schema.line is not None
    assert schema.explanation is not None
    assert "entitlementConfirmed" in schema.explanation  # xmlschema: what was expected there

    paths = write_reports(result, tmp_path / "reports")
    junit = JUnitXml.fromfile(str(paths["junit"]))
    failed = [c.name for s in junit for c in s if any(isinstance(r, Failure) for r in c.result)]
    assert failed == ["CNS-S071-02: " + result.cases[0].case.title]
    text = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in text
    assert "<link" not in text
    assert not re.search(r'(src|href)="(?!#)', text)  # nothing outside the file
    async with chromium(tmp_path) as browser:
        page = await browser.new_page()
        await page.goto(paths["html"].as_uri())
        assert "FAILED" in (await page.text_content("#verdict") or "")
        marked = await page.locator(".xml .err").all_text_contents()
        assert any("<bogus>1</bogus>" in line for line in marked)
        assert await page.locator("svg line").count() >= 3  # lifelines and arrows
        shot = tmp_path / "report.png"
        await page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")

    if not (GITB / "gitb_tr.xsd").is_file():
        pytest.skip(f"the ITB's schemas are not here ({GITB}): the TAR is not validated")
    schema_doc = etree.parse(str(GITB / "gitb_tr.xsd"), etree.XMLParser(no_network=True))
    tar = etree.parse(str(paths["tar"]))
    etree.XMLSchema(schema_doc).assertValid(tar)
    errors = tar.findall(".//{http://www.gitb.com/tr/v1/}error")
    assert any("/sed:S072/bogus" in (e.findtext("{*}location") or "") for e in errors)


async def test_a_cns_that_never_reminds_a_silent_fund_fails_at_the_expected_x009(
    tmp_path: Path,
) -> None:
    result = await run_mutant(tmp_path, "no-reminder", "CNS-X009-01")
    (finding,) = the_failure(result, "CNS-X009-01", 6)
    assert (finding.check, finding.sed, finding.rules) == ("missing", "X009", ("R14",))


async def test_a_cns_answering_a_duplicate_twice_fails_the_count(tmp_path: Path) -> None:
    result = await run_mutant(tmp_path, "answers-duplicates", "CNS-T-DUP-01")
    findings = the_failure(result, "CNS-T-DUP-01", 2)
    (count,) = [f for f in findings if f.check == "count"]
    assert (count.expected, count.found) == ("exactly 1", "2")


async def test_a_cns_confirming_a_child_aged_30_without_studies_fails_at_the_s040_citing_r11(
    tmp_path: Path,
) -> None:
    """R11 forgotten: Jonas (30, not a student, arrived from Germany) is taken as a child
    under the age limit, so the CNS goes on to R5 and asks his former fund for the S041."""
    result = await run_mutant(tmp_path, "ignores-r11", "CNS-S040-02", "CNS-S040-01")
    (finding,) = the_failure(result, "CNS-S040-02", 2)
    assert (finding.check, finding.sed, finding.rules) == ("unexpected", "S040", ("R11",))
    assert finding.found.startswith("S040 ")
    assert finding.found.endswith(" to DE:TKK00001")
    assert "aged 30 and not in higher education" in finding.expected


async def test_a_fund_that_never_answers_a_clarification_fails_at_the_expected_x013(
    tmp_path: Path,
) -> None:
    async with start_sut(tmp_path, "FR:CPAM5701", mutant="no-x013") as directory:
        result = await run_suite(
            load_suite(shipped_suite("fund")),
            load_directory(directory),
            "FR:CPAM5701",
            only=["FUND-X012-01", "FUND-X050-01"],
            settings=FAST,
        )
    (finding,) = the_failure(result, "FUND-X012-01", 4)
    assert (finding.check, finding.sed) == ("missing", "X013")
    assert finding.expected == "FR:CPAM5701 -> LU:CNS00001 X013"
