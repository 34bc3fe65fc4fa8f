"""``eessi supplementary``: products with ISO 8601 waiting periods, claims citing S1-S4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eessi.cli import main

ROOT = Path(__file__).resolve().parents[2]
FAMILY = ROOT / "examples" / "households" / "resident-family.json"
OPTIMUM = ["--product", "optimum", "--enrolled-on", "2026-03-01", "--category", "soft_medicine"]


def _claim(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["supplementary", "claim", *args, "--json"]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def _rules(reasons: list[dict[str, Any]]) -> list[str]:
    return [r["rule"] for r in reasons]


def test_S1_S3_after_the_six_month_wait_the_share_of_the_difference_is_paid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--status", "co_insured", "--on", "2026-10-01", "--cost", "150", "--cns-reimbursed"]
    out = _claim(capsys, *OPTIMUM, *args, "30")
    assert out["enrolment"]["reimbursable_from"] == "2026-09-01"  # P6M on the calendar
    assert out["enrolment"]["product"] == "optimum"
    assert (out["claim"]["amount"], out["claim"]["left_to_pay"]) == ("96.00", "24.00")
    assert _rules(out["enrolment"]["reasons"]) == ["S4", "S2"]
    assert _rules(out["claim"]["reasons"]) == ["S3", "S1"]


def test_S2_a_claim_inside_the_waiting_period_pays_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--status", "co_insured", "--on", "2026-08-31", "--cost", "150", "--cns-reimbursed"]
    out = _claim(capsys, *OPTIMUM, *args, "0")
    assert out["claim"]["amount"] == "0.00"
    (why,) = out["claim"]["reasons"]
    assert why == {
        "rule": "S2",
        "explanation": "waiting period not over: reimbursable from 2026-09-01",
    }


def test_S2_a_member_the_co_insurance_rules_leave_pending_cannot_enrol(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = json.loads(FAMILY.read_text(encoding="utf-8"))
    julia = next(m for m in doc["members"] if m["id"] == "julia")
    julia.pop("documents")  # R15: not in the RNPP, no civil-status documents yet
    household = tmp_path / "h.json"
    household.write_text(json.dumps(doc), encoding="utf-8")
    out = _claim(
        capsys,
        *("--household", str(household), "--member", "julia", "--category", "hospital"),
        *("--enrolled-on", "2026-03-02", "--on", "2026-12-01"),
        *("--cost", "900", "--cns-reimbursed", "300"),
    )
    assert out["ccss_status"] == "not_enrolled"
    assert "pending" in out["ccss_status_why"]
    assert "R15" in out["ccss_status_why"]
    assert out["enrolment"]["accepted"] is False
    assert _rules(out["enrolment"]["reasons"]) == ["S4", "S2"]
    assert out["claim"]["amount"] == "0.00"


def test_S2_the_main_insured_is_enrolled_while_affiliated_and_the_text_cites_each_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--household", str(FAMILY), "--member", "marc", "--product", "dentaplus"]
    more = ["--enrolled-on", "2026-03-02", "--on", "2027-03-02", "--category", "dental"]
    assert (
        main(["supplementary", "claim", *args, *more, "--cost", "400", "--cns-reimbursed", "150"])
        == 0
    )
    out = capsys.readouterr().out
    assert "CCSS status: main insured (affiliated since 2009-09-01)" in out
    assert "S2  validly enrolled with the CCSS as main insured; waiting period P1Y" in out
    assert "claim on 2027-03-02 for dental: pays 250.00 EUR" in out
    assert "S3  dental covered by dentaplus at rate 1" in out


def test_S4_products_are_listed_with_their_waiting_periods_and_covers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["supplementary", "products", "--json"]) == 0
    (cmcm,) = json.loads(capsys.readouterr().out)
    periods = {p["product"]: p["waiting_period"] for p in cmcm["products"]}
    assert periods == {"base": "P90D", "optimum": "P6M", "dentaplus": "P1Y"}
    assert main(["supplementary", "products"]) == 0
    assert "optimum: CMCM Optimum" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "gold", "--status", "co_insured"], "has no product 'gold'"),
        (["--status", "co_insured", "--member", "julia"], "--member goes with --household"),
        (["--household", str(FAMILY)], "--household needs --member"),
        (["--household", str(FAMILY), "--member", "zoe"], "no person 'zoe'"),
        (["--status", "co_insured", "--category", "jewels"], "unknown category 'jewels'"),
    ],
    ids=["product", "member-alone", "no-member", "unknown-member", "category"],
)
def test_a_wrong_claim_says_what_to_change_and_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    base = ["--enrolled-on", "2026-03-01", "--on", "2026-10-01", "--cost", "1"]
    if "--category" not in args:
        base += ["--category", "hospital"]
    assert main(["supplementary", "claim", *args, *base, "--cns-reimbursed", "0"]) == 2
    assert message in capsys.readouterr().err


def test_a_negative_amount_is_refused_by_the_command_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "eessi", "supplementary", "claim", "--status", "co_insured",
         "--enrolled-on", "2026-03-01", "--on", "2026-10-01", "--category", "hospital",
         "--cost", "-5", "--cns-reimbursed", "0"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "'-5' is not an amount of euros >= 0" in run.stderr
