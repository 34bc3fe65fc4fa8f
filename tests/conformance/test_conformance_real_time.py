"""The real-time path: a SUT without the clock route, its reply deadlines configured short
(seconds), has its deadline cases waited out in real time instead of skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from sut_process import start_sut

from eessi.cli import main
from eessi.conformance import Outcome, RunSettings, load_suite, run_suite, shipped_suite
from eessi.conformance.report_text import render
from eessi.directory import load_directory

pytestmark = pytest.mark.slow

#: The SUT's two-month reply deadline, in real seconds: short enough for the suite, long
#: enough that one month (half of it) is clearly not overdue on a loaded machine.
SECONDS = 6.0
CASES = ("CNS-S071-01", "CNS-X009-01", "CNS-X010-01")


async def test_a_cns_without_a_clock_route_has_its_deadlines_waited_out_in_real_time(
    tmp_path: Path,
) -> None:
    async with start_sut(
        tmp_path, "LU:CNS00001", mutant=f"short-deadlines:{SECONDS:g}", clock=False
    ) as directory:
        result = await run_suite(
            load_suite(shipped_suite("cns")),
            load_directory(directory),
            "LU:CNS00001",
            only=CASES,
            settings=RunSettings(within=8.0, deadline_seconds=SECONDS),
        )
    text = render(result)
    assert "clock" not in result.capabilities
    assert [c.outcome for c in result.cases] == [Outcome.PASSED] * 3, text
    assert result.deadline_seconds == SECONDS
    assert "real time: the SUT's two-month reply deadline lasts 6 s" in text
    (x009,) = [c for c in result.cases if c.case.id == "CNS-X009-01"]
    waits = [s.note for s in x009.steps if s.step.do == "advance-clock"]
    assert all("waited out in real time" in w for w in waits), waits
    # the reminder came after the S072's deadline (six seconds), on the wall clock: both
    # stamped on arrival here (the S072 took a moment to come, our clock follows in steps)
    s072 = next(m for s in x009.steps for m in s.messages if m.sed == "S072")
    reminder = next(m for s in x009.steps for m in s.messages if m.sed == "X009")
    assert (reminder.at - s072.at).total_seconds() >= SECONDS - 0.5
    assert x009.seconds >= SECONDS


async def test_a_cns_that_never_reminds_fails_on_the_real_time_path_too(tmp_path: Path) -> None:
    async with start_sut(
        tmp_path, "LU:CNS00001", mutant=f"no-reminder+short-deadlines:{SECONDS:g}", clock=False
    ) as directory:
        result = await run_suite(
            load_suite(shipped_suite("cns")),
            load_directory(directory),
            "LU:CNS00001",
            only=["CNS-X009-01"],
            settings=RunSettings(within=3.0, deadline_seconds=SECONDS),
        )
    (case,) = result.cases
    assert case.outcome is Outcome.FAILED, render(result)
    (step,) = [s for s in case.steps if s.outcome is Outcome.FAILED]
    assert step.step.index == 6
    (finding,) = step.findings
    assert (finding.check, finding.sed, finding.rules) == ("missing", "X009", ("R14",))


def test_deadline_seconds_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["conformance", "run", "--role", "cns", "--sut", "http://127.0.0.1:9/as4",
         "--deadline-seconds", "0", "--startup", "0.2"]
    )  # fmt: skip
    assert code == 2
    assert "--deadline-seconds must be positive" in capsys.readouterr().err
