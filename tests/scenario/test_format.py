"""The scenario format: shipped files load; mistakes are refused naming the file and key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eessi.errors import ConfigError
from eessi.scenario.format import (
    find_scenario,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
    shipped_scenarios_dir,
)

HOUSEHOLD = """
[household]
id = "silva-luxembourg"
on = 2026-04-15

[[household.main_insured]]
id = "joao"
pin = "1978072712345"
name = "Joao Silva"
date_of_birth = 1978-07-27
affiliated_since = 2025-09-01

[[household.members]]
id = "ana"
name = "Ana Silva"
relation = "spouse"
date_of_birth = 1980-03-09
relation_since = 2003-10-11
country_of_residence = "PT"
rnpp_registered = true
"""


def write(tmp_path: Path, text: str, household: str = HOUSEHOLD) -> Path:
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "t"\n' + text + household, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str, household: str = HOUSEHOLD) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_scenario(write(tmp_path, text, household))
    return info.value


def test_every_shipped_scenario_loads_and_is_findable_by_name() -> None:
    assert len(shipped_scenarios()) >= 11
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        assert find_scenario(scenario.name) == path
        assert scenario.steps
        assert "LU:CNS00001" in scenario.institutions


def test_shipped_scenarios_are_package_data() -> None:
    assert shipped_scenarios_dir() == Path(__file__).resolve().parents[2] / "eessi/scenario/data"


def test_inline_household_with_toml_dates_and_defaults(tmp_path: Path) -> None:
    s = load_scenario(
        write(
            tmp_path, '[[step]]\ndo = "request-entitlement"\nby = "PT:ISS00001"\nmember = "ana"\n'
        )
    )
    assert s.household.id == "silva-luxembourg"
    assert s.start == datetime(2026, 4, 15, 9, 0, tzinfo=UTC)
    assert s.institutions == ("LU:CNS00001", "PT:ISS00001")
    assert s.steps[0].title == "PT:ISS00001 asks the CNS for the S072 of ana (S071)"


def test_household_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "hh").mkdir()
    src = Path(__file__).resolve().parents[2] / "examples/households/cross-border-france.json"
    (tmp_path / "hh" / "fr.json").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    s = load_scenario(write(tmp_path, 'household = "hh/fr.json"\n', household=""))
    assert s.household.id == "martin-thionville"


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[[step]]\ndo = "dance"\n', "step[1].do", "unknown action 'dance'"),
        (
            '[[step]]\ndo = "request-entitlement"\nby = "FR:CPAM5701"\n',
            "step[1].member",
            "needs member",
        ),
        (
            '[[step]]\ndo = "co-insurance-request"\nmember = "bob"\n',
            "step[1].member",
            "'bob' is not a member",
        ),
        ('[[step]]\ndo = "tick"\nsoon = 1\n', "step[1].soon", "unknown key 'soon'"),
        ('[[step]]\ndo = "advance-clock"\n', "step[1].days", "needs an amount"),
        (
            '[[step]]\ndo = "advance-clock"\nperiod = "six months"\n',
            "step[1].period",
            "not an ISO 8601 duration",
        ),
        (
            '[[step]]\ndo = "supplementary-claim"\ninsurer = "LU:CMCM0001"\nmember = "ana"\n'
            'category = "jewels"\ncost = "1"\ncns_reimbursed = "0"\n',
            "step[1].category",
            "unknown category 'jewels'",
        ),
        (
            '[[step]]\ndo = "supplementary-claim"\ninsurer = "LU:CMCM0001"\nmember = "ana"\n'
            'category = "dental"\ncost = "-3"\ncns_reimbursed = "0"\n',
            "step[1].cost",
            "amount >= 0",
        ),
        (
            '[[step]]\ndo = "provide-documents"\nmember = "ana"\ndocuments = ["passport"]\n',
            "step[1].documents",
            "document kinds",
        ),
        ('[expect]\nmessages = ["A to B S071"]\n', "expect.messages[1]", "cannot read the message"),
        ('[expect]\nmessages = ["A -> B S999"]\n', "expect.messages[1]", "unknown SED type 'S999'"),
        (
            '[expect.members.ana]\noutcome = "happy"\n',
            "expect.members.ana.outcome",
            "unknown outcome",
        ),
        ('[expect]\norder = "any"\n', "expect.order", "unknown order"),
        (
            '[[expect.case]]\nat = "LU:CNS00001"\nmember = "ana"\n',
            "expect.case[1].state",
            "missing",
        ),
    ],
)
def test_mistakes_name_the_key_and_say_what_to_write(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    err = refused(tmp_path, text)
    assert err.where is not None
    assert key in err.where
    assert str(tmp_path / "s.toml") in err.where
    assert words in err.message
    assert err.hint


def test_a_bad_mock_rule_is_refused_by_the_mock_rule_parser(tmp_path: Path) -> None:
    err = refused(tmp_path, '[[mock]]\nfund = "FR:CPAM5701"\n[[mock.rule]]\neffect = "sing"\n')
    assert err.code == "mock.bad-rule"
    assert "mock[1].rule[1]" in (err.where or "")


def test_issue_entitlement_names_the_main_insured_or_a_member(tmp_path: Path) -> None:
    """S_BUC_01A: the CNS sends the S072 unasked for the insured himself, too."""
    steps = '[[step]]\ndo = "issue-entitlement"\nmember = "joao"\nto = "PT:ISS00001"\n'
    s = load_scenario(write(tmp_path, steps))
    (step,) = s.steps
    assert step.params == {"member": "joao", "to": "PT:ISS00001"}
    assert "unasked" in step.title
    err = refused(tmp_path, '[[step]]\ndo = "issue-entitlement"\nmember = "bob"\n')
    assert err.where is not None
    assert "step[1].member" in err.where
    assert "not a member or main insured" in err.message
    # A case expectation may name the main insured (his S_BUC_01A case).
    case = '[[expect.case]]\nat = "LU:CNS00001"\nmember = "joao"\nstate = "completed"\n'
    assert load_scenario(write(tmp_path, case)).expect.cases[0].member == "joao"


def test_a_scenario_without_household_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path, "", household="")
    assert "no household" in err.message


def test_an_invalid_household_is_refused_with_its_own_pointer(tmp_path: Path) -> None:
    err = refused(
        tmp_path, "", household=HOUSEHOLD.replace('relation = "spouse"', 'relation = "cousin"')
    )
    assert "household" in (err.where or "") + err.message


def test_not_toml_is_refused_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[scenario\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_scenario(path)
    assert info.value.where == str(path)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError) as info:
        find_scenario("no-such")
    assert "r17-family-abroad" in (info.value.hint or "")


def test_parse_scenario_takes_a_decoded_document() -> None:
    import tomllib

    doc: dict[str, Any] = tomllib.loads('[scenario]\nname = "x"\n' + HOUSEHOLD)
    s = parse_scenario(doc)
    assert s.name == "x"
    assert s.expect.messages is None


def test_a_step_expectation_names_its_step_in_errors(tmp_path: Path) -> None:
    err = refused(
        tmp_path,
        '[[step]]\ndo = "tick"\nexpect.members.ana = { outcome = "fine" }\n',
    )
    assert "step[1].expect.members.ana.outcome" in (err.where or "")


def test_an_advance_clock_period_moves_the_calendar_as_post_api_clock_does() -> None:
    from eessi.scenario.format import clock_delta

    end_of_january = datetime(2027, 1, 31, 9, tzinfo=UTC)
    assert end_of_january + clock_delta({"period": "P1M"}, end_of_january) == datetime(
        2027, 2, 28, 9, tzinfo=UTC
    )
    assert clock_delta({"period": "PT12H", "days": 1}, end_of_january).total_seconds() == 129600
