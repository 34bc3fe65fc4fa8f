"""Running scenarios: every shipped one passes; failures say why; runs are deterministic."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from eessi.scenario.format import (
    load_scenario,
    parse_scenario,
    shipped_scenarios,
    shipped_scenarios_dir,
)
from eessi.scenario.runner import run_scenario

SHIPPED = shipped_scenarios()


def _doc(path: Path) -> dict[str, object]:
    import tomllib

    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
async def test_every_shipped_scenario_passes(path: Path) -> None:
    report = await run_scenario(load_scenario(path))
    assert report.passed, report.render()
    assert report.checks, "a shipped scenario must check something"


def test_one_scenario_ships_per_seed_situation() -> None:
    rules = {r for p in SHIPPED for r in load_scenario(p).rules}
    for rule in ("R4", "R5", "R6", "R7", "R9", "R10", "R11", "R13", "R14", "R15", "R16"):
        assert rule in rules
    assert {"R17", "R18", "S2"} <= rules


async def test_R17_flow_documents_in_order_and_members_registered_with_rules() -> None:
    report = await run_scenario(load_scenario(shipped_scenarios_dir() / "r17-family-abroad.toml"))
    flows = [x.flow() for x in report.exchanges]
    assert (
        flows
        == [
            "PT:ISS00001 -> LU:CNS00001 S071",
            "LU:CNS00001 -> PT:ISS00001 S072",
            "PT:ISS00001 -> LU:CNS00001 S073",
        ]
        * 2
    )
    assert report.members["ana"]["outcome"] == "registered"
    assert "R17" in report.members["ana"]["rules"]
    assert "R10" in report.members["rui"]["rules"]


async def test_a_wrong_expectation_fails_with_what_was_found_instead() -> None:
    path = shipped_scenarios_dir() / "r17-family-abroad.toml"
    doc = _doc(path)
    expect = doc["expect"]
    assert isinstance(expect, dict)
    expect["messages"] = ["PT:ISS00001 -> LU:CNS00001 S071", "LU:CNS00001 -> PT:ISS00001 S073"]
    expect["members"] = {"rui": {"outcome": "pending", "rules": ["R11"]}}
    scenario = parse_scenario(doc, source="edited.toml", base=path.parent)
    report = await run_scenario(scenario)
    assert not report.passed
    text = report.render()
    assert "FAIL  message #2 LU:CNS00001 -> PT:ISS00001 S073" in text
    assert "document #2 is LU:CNS00001 -> PT:ISS00001 S072" in text
    assert "also travelled" in text
    assert "outcome is registered, not pending; rules not cited: R11" in text
    assert text.rstrip().endswith("failure(s)")
    assert "FAILED" in text


async def test_a_failing_xpath_assertion_names_the_xpath() -> None:
    path = shipped_scenarios_dir() / "r17-family-abroad.toml"
    doc = _doc(path)
    expect = doc["expect"]
    assert isinstance(expect, dict)
    expect["messages"][1] = {  # type: ignore[index]
        "flow": "LU:CNS00001 -> PT:ISS00001 S072",
        "xpath": "/sed:S072/Person/PersonIdentification/forename = 'Rui'",
    }
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    (failed,) = [c for c in report.checks if not c.passed]
    assert (
        failed.why == "XPath does not hold: /sed:S072/Person/PersonIdentification/forename = 'Rui'"
    )


async def test_a_step_the_core_refuses_fails_and_later_steps_are_skipped() -> None:
    path = shipped_scenarios_dir() / "r13-r14-cross-border-in-rnpp.toml"
    doc = _doc(path)
    doc["step"] = [
        {"do": "register", "by": "FR:CPAM5701", "member": "marie"},
        {"do": "request-entitlement", "by": "FR:CPAM5701", "member": "marie"},
    ]
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    assert [s.status for s in report.steps] == ["failed", "skipped"]
    assert "FR:CPAM5701 has no case about marie yet" in report.steps[0].why
    assert not report.passed


async def test_S_BUC_01A_issue_entitlement_for_a_member_r13_is_refused_by_the_core() -> None:
    path = shipped_scenarios_dir() / "s-buc-01a-cpam-s072-unasked.toml"
    doc = _doc(path)
    doc["step"] = [{"do": "issue-entitlement", "member": "marie", "to": "FR:CPAM5701"}]
    doc.pop("expect")
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    (step,) = report.steps
    assert step.status == "failed"
    assert "the CNS's decision is pending" in step.why
    assert "R13" in step.why


async def test_S_BUC_01A_withdrawn_then_sent_again_in_the_same_case_then_closed_by_the_fund() -> (
    None
):
    path = shipped_scenarios_dir() / "s-buc-01a-cpam-s072-unasked.toml"
    doc = _doc(path)
    issue = {"do": "issue-entitlement", "member": "luc", "to": "FR:CPAM5701"}
    doc["step"] = [
        issue,
        {"do": "withdraw-entitlement", "member": "luc"},
        issue,
        # The fund may hold no record of Luc: it acts in his S_BUC_01A case all the same.
        {"do": "close", "by": "FR:CPAM5701", "member": "luc"},
    ]
    doc["expect"] = {
        "messages": [
            "LU:CNS00001 -> FR:CPAM5701 S072",
            "FR:CPAM5701 -> LU:CNS00001 S073",
            "LU:CNS00001 -> FR:CPAM5701 X008",
            "LU:CNS00001 -> FR:CPAM5701 S072",
            "FR:CPAM5701 -> LU:CNS00001 S073",
            "FR:CPAM5701 -> LU:CNS00001 X001",
        ],
        "case": [{"at": "LU:CNS00001", "member": "luc", "buc": "S_BUC_01A", "state": "closed"}],
    }
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    assert report.passed, report.render()


async def test_S_BUC_01A_a_mock_fund_rejecting_the_S072_leaves_the_cns_case_rejected() -> None:
    path = shipped_scenarios_dir() / "s-buc-01a-cpam-s072-unasked.toml"
    doc = _doc(path)
    rule = {
        "match": {"buc": "S_BUC_01A", "sed": "S072"},
        "effect": {"kind": "refuse", "x011": "04"},
    }
    doc["mock"] = [{"fund": "FR:CPAM5701", "rule": [rule]}]
    doc["step"] = [{"do": "issue-entitlement", "member": "luc", "to": "FR:CPAM5701"}]
    doc["expect"] = {
        "messages": ["LU:CNS00001 -> FR:CPAM5701 S072", "FR:CPAM5701 -> LU:CNS00001 X011"],
        "case": [{"at": "LU:CNS00001", "member": "luc", "buc": "S_BUC_01A", "state": "rejected"}],
    }
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    assert report.passed, report.render()


async def test_the_same_scenario_gives_the_same_report_and_documents_twice(tmp_path: Path) -> None:
    scenario = load_scenario(shipped_scenarios_dir() / "r15-member-not-in-rnpp.toml")
    first = await run_scenario(scenario, workdir=tmp_path / "a")
    second = await run_scenario(scenario, workdir=tmp_path / "b")
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())
    assert [x.payload for x in first.exchanges] == [x.payload for x in second.exchanges]
    assert first.render() == second.render()


async def test_the_same_scenario_leaves_the_same_journals_twice(tmp_path: Path) -> None:
    """Every message (envelope and payload bytes, statuses, times) and every input log entry,
    as ``eessi trace export`` reads them, are equal between two runs."""
    from eessi.journal import open_journal
    from eessi.trace.export import collect, collect_inputs

    scenario = load_scenario(shipped_scenarios_dir() / "r15-member-not-in-rnpp.toml")
    seen = []
    for name in ("a", "b"):
        await run_scenario(scenario, workdir=tmp_path / name)
        paths = sorted((tmp_path / name).glob("*.sqlite"))
        journals = [await open_journal(p, synchronous="NORMAL") for p in paths]
        try:
            seen.append((await collect(journals), await collect_inputs(journals)))
        finally:
            for j in journals:
                await j.close()
    assert [p.name for p in paths] == ["FR-CPAM5701.sqlite", "LU-CNS00001.sqlite"]
    assert len(seen[0][0]) == 10
    assert seen[0] == seen[1]


async def test_two_months_pass_instantly_on_the_virtual_clock() -> None:
    scenario = load_scenario(shipped_scenarios_dir() / "r14-silent-fund-reminder.toml")
    report = await run_scenario(scenario)
    assert report.passed, report.render()
    x009 = [x for x in report.exchanges if x.sed == "X009"]
    assert [x.created_at.date().isoformat() for x in x009] == ["2026-05-20"]
    # Not after one month: the tick of step 3 sent nothing.
    assert report.steps[2].happened == ()


async def test_the_json_report_has_steps_checks_messages_and_members() -> None:
    scenario = load_scenario(shipped_scenarios_dir() / "r5-former-fund-s040-s041.toml")
    data = (await run_scenario(scenario)).to_dict()
    assert data["result"] == "passed"
    assert [m["sed"] for m in data["messages"]] == ["S040", "S041"]
    assert data["members"]["julia"]["outcome"] == "registered"
    assert {c["status"] for c in data["checks"]} == {"passed"}
    assert data["steps"][0]["status"] == "passed"
    json.dumps(data)


def test_scenario_steps_are_frozen_values() -> None:
    scenario = load_scenario(SHIPPED[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.steps[0].do = "tick"  # type: ignore[misc]


async def test_R4_a_step_expectation_is_checked_right_after_its_step() -> None:
    path = shipped_scenarios_dir() / "r4-premature-request.toml"
    doc = _doc(path)
    steps = doc["step"]
    assert isinstance(steps, list)
    steps[0]["expect"] = {"members": {"sofia": {"outcome": "registered"}}}
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    (failed,) = [c for c in report.checks if not c.passed]
    assert failed.kind == "after step 1: member"
    assert failed.why == "outcome is pending, not registered"
    assert report.members["sofia"]["outcome"] == "registered"  # at the end it is


async def test_R6_no_document_over_eessi_is_a_check_that_can_fail() -> None:
    path = shipped_scenarios_dir() / "r17-family-abroad.toml"
    doc = _doc(path)
    expect = doc["expect"]
    assert isinstance(expect, dict)
    expect["messages"] = []
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    (failed,) = [c for c in report.checks if not c.passed]
    assert failed.subject == "none over EESSI"
    assert failed.why.startswith("travelled: PT:ISS00001 -> LU:CNS00001 S071")


async def test_retries_and_duplicates_are_counted_and_checked() -> None:
    path = shipped_scenarios_dir() / "r17-unreliable-fund.toml"
    doc = _doc(path)
    expect = doc["expect"]
    assert isinstance(expect, dict)
    expect["messages"][1]["attempts"] = 1  # type: ignore[index]
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    (failed,) = [c for c in report.checks if not c.passed]
    assert failed.why == "3 attempt(s), not 1"
    s073 = report.exchanges[2]
    assert (s073.sed, s073.duplicates, s073.status) == ("S073", 1, "processed")


async def test_R6_the_bilateral_mock_provides_the_104_and_the_certificate_the_cns_asks_for() -> (
    None
):
    report = await run_scenario(
        load_scenario(shipped_scenarios_dir() / "r6-bilateral-country.toml")
    )
    assert report.passed, report.render()
    lines = [line for step in report.steps for line in step.happened]
    assert "RS:RFZO0001 (outside EESSI): provides bilateral_104 for amina [R6]" in lines
    assert "RS:RFZO0001 (outside EESSI): provides co_insurance_certificate for salma [R6]" in lines
    assert report.exchanges == ()  # Serbia is outside EESSI: no SED moved
    assert report.members["amina"]["outcome"] == "registered"
    assert "R6" in report.members["salma"]["rules"]


async def test_R6_without_the_bilateral_fund_the_documents_stay_missing() -> None:
    path = shipped_scenarios_dir() / "r6-bilateral-country.toml"
    doc = _doc(path)
    head = doc["scenario"]
    assert isinstance(head, dict)
    head["institutions"] = ["LU:CNS00001"]
    doc["expect"] = {"messages": []}
    report = await run_scenario(parse_scenario(doc, source="x.toml", base=path.parent))
    assert report.passed, report.render()
    assert not any("RS:RFZO0001" in line for step in report.steps for line in step.happened)
    assert report.members["amina"]["missing"] == ["bilateral_104"]
    assert report.members["salma"]["missing"] == ["co_insurance_certificate"]
