"""``eessi eligibility``: readable and JSON output, dates, and clear errors on bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eessi.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "households"
PARENTS = str(EXAMPLES / "two-insured-parents.json")


def test_prints_each_members_outcome_with_its_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eligibility", PARENTS]) == 0
    out = capsys.readouterr().out
    assert "household schmit-hoffmann-bertrange on 2026-06-15" in out
    assert "ella: ELIGIBLE on 2026-06-15" in out
    assert "co-insured with anne from 1996-06-16 until 2026-06-15" in out
    assert "max: PENDING on 2026-06-15" in out
    assert "cns_authorisation from cns_service (R11, refer_to_service)" in out
    assert "R10  both parents qualify; co-insured with anne, the older parent" in out


def test_on_overrides_the_files_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eligibility", PARENTS, "--on", "2026-06-16"]) == 0
    out = capsys.readouterr().out
    assert "ella: NOT ELIGIBLE on 2026-06-16" in out  # turned 30, not a student (R11)


def test_json_output_is_one_machine_readable_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eligibility", PARENTS, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["on"] == "2026-06-15"
    assert data["parameters"] == "default (sim)"
    by_member = {d["member"]: d for d in data["decisions"]}
    assert by_member["ella"]["outcome"] == "eligible"
    assert by_member["ella"]["attaches_to"] == "anne"
    assert by_member["max"]["missing"][0]["kind"] == "cns_authorisation"
    assert "R11" in by_member["max"]["rules"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eligibility", str(path)]) == 0
    assert "rules:" in capsys.readouterr().out


def test_bad_file_exits_2_with_the_json_pointer_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(Path(PARENTS).read_text())
    data["members"][1]["relation"] = "cousin"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main(["eligibility", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}#/members/1/relation" in err
    assert "'cousin' is not one of" in err
    assert "use one of 'spouse'" in err
    assert "Traceback" not in err


def test_bad_file_with_json_prints_the_error_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    assert main(["eligibility", str(bad), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert data["error"]["code"] == "config.household"
    assert data["error"]["where"] == f"{bad}:1:3"


def test_missing_file_exits_2_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eligibility", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot read the household file" in err
    assert "check the path" in err


def test_bad_date_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["eligibility", PARENTS, "--on", "15/06/2026"])
    assert info.value.code == 2
    assert "'15/06/2026' is not a date like 2026-03-01" in capsys.readouterr().err


def test_household_without_members_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(Path(PARENTS).read_text())
    del data["members"]
    del data["on"]
    del data["description"]
    path = tmp_path / "alone.json"
    path.write_text(json.dumps(data))
    assert main(["eligibility", str(path), "--on", "2026-01-01"]) == 0
    assert "(no family members)" in capsys.readouterr().out


def test_eligibility_command_is_listed_in_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "eessi", "--help"], capture_output=True, text=True, check=True
    )
    assert "eligibility" in out.stdout


def test_dash_reads_the_household_from_standard_input() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eessi", "eligibility", "-", "--json"],
        input=Path(PARENTS).read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    data = json.loads(done.stdout)
    assert data["household"] == "schmit-hoffmann-bertrange"
    assert data["file"] == "<stdin>"


def test_bad_json_on_standard_input_names_stdin_and_the_position() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "eessi", "eligibility", "-"],
        input=b"{",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert "not valid JSON" in err
    assert "<stdin>:" in err
