"""``eessi scenario run|list``: reports, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eessi.cli import main
from eessi.scenario.format import shipped_scenarios_dir


def test_run_prints_each_step_and_expectation_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenario", "run", "r17-family-abroad"]) == 0
    out = capsys.readouterr().out
    assert "step 1  PASS  PT:ISS00001 asks the CNS for the S072 of ana (S071)" in out
    assert "expect  PASS  message #2 LU:CNS00001 -> PT:ISS00001 S072" in out
    assert "expect  PASS  member rui" in out
    assert out.rstrip().endswith("1 of 1 scenario(s) passed")


def test_a_failed_expectation_exits_1_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (shipped_scenarios_dir() / "r18-main-insured-abroad.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('outcome = "registered"', 'outcome = "not_eligible"'), "utf-8")
    assert main(["scenario", "run", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "expect  FAIL  member renate" in out
    assert "outcome is registered, not not_eligible" in out
    assert "0 of 1 scenario(s) passed" in out


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "run", "r6-bilateral-country", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["result"] == "passed"
    (scenario,) = data["scenarios"]
    assert scenario["name"] == "r6-bilateral-country"
    assert scenario["messages"] == []
    assert scenario["members"]["amina"]["outcome"] == "registered"


def test_an_unreadable_scenario_is_a_usage_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[[step]]\ndo = "fly"\n', "utf-8")
    assert main(["scenario", "run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "step[1].do" in err or "household" in err


def test_list_names_every_shipped_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(p.stem for p in shipped_scenarios_dir().glob("*.toml"))
    assert main(["scenario", "list", "--json"]) == 0
    assert {i["name"] for i in json.loads(capsys.readouterr().out)} == set(names)


def test_journals_can_be_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "run", "r18-main-insured-abroad", "--keep", str(tmp_path)]) == 0
    assert (tmp_path / "r18-main-insured-abroad" / "LU-CNS00001.sqlite").is_file()
