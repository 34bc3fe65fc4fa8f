"""The terminal's view of a conformance run: a live line per test case, then the verdict.

:class:`LiveProgress` is the ``progress`` callback of :func:`eessi.conformance.runner.run_suite`:
on a terminal the line of the running test case is redrawn as its steps pass; elsewhere (a CI
log) one line per test case is printed when it ends. :func:`render` is the whole report as text:
each test case's verdict, each failed step with its findings (where: message, XPath, line; what
was expected; the rules), and the counts the JUnit file also gives.
"""

from __future__ import annotations

import sys
from typing import TextIO

from eessi.conformance.model import CaseResult, Outcome, StepResult, SuiteResult, TestCase

__all__ = ["LiveProgress", "render", "verdict_line"]

_MARK = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "SKIP"}
_COLOUR = {Outcome.PASSED: "\x1b[32m", Outcome.FAILED: "\x1b[31m", Outcome.SKIPPED: "\x1b[33m"}


def verdict_line(result: CaseResult) -> str:
    line = f"{_MARK[result.outcome]}  {result.case.id:<18} {result.case.title}"
    if result.outcome is Outcome.SKIPPED:
        return f"{line}\n      skipped: {result.reason}"
    return f"{line} ({result.seconds:.2f} s)"


def _failed_steps(result: CaseResult) -> list[str]:
    out = []
    for s in result.steps:
        if s.outcome is not Outcome.FAILED:
            continue
        out.append(f"      step {s.step.index} ({s.step.title}): {s.note}")
        for f in s.findings:
            out.extend("        " + line for line in f.render().splitlines())
    return out


def render(result: SuiteResult) -> str:
    lines = [
        f"Conformance: {result.suite.title}",
        f"SUT {result.suite.sut} at {result.sut_url}"
        f" (offers: {', '.join(result.capabilities) or 'documents only'})",
    ]
    if result.deadline_seconds is not None:
        lines.append(
            f"real time: the SUT's two-month reply deadline lasts {result.deadline_seconds:g} s;"
            " every period of the suite is scaled alike"
        )
    lines.append("")
    for c in result.cases:
        lines.append(verdict_line(c))
        lines.extend(_failed_steps(c))
    lines += ["", f"{result.summary()} in {result.seconds:.1f} s"]
    lines.append("PASSED" if result.passed else "FAILED")
    return "\n".join(lines)


class LiveProgress:
    """Prints the run as it goes (see the module docstring)."""

    def __init__(self, out: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.colour = self.tty if colour is None else colour
        self.case: TestCase | None = None
        self.steps = 0

    def __call__(self, what: str, value: object) -> None:
        if what == "case" and isinstance(value, TestCase):
            self.case, self.steps = value, 0
            self._live()
        elif what == "step" and isinstance(value, StepResult):
            self.steps += 1
            self._live()
        elif what == "done" and isinstance(value, CaseResult):
            if self.tty:
                self.out.write("\r\x1b[2K")
            text = verdict_line(value)
            if self.colour:
                mark = _MARK[value.outcome]
                text = text.replace(mark, f"{_COLOUR[value.outcome]}{mark}\x1b[0m", 1)
            self.out.write(text + "\n")
            for line in _failed_steps(value):
                self.out.write(line + "\n")
            self.out.flush()

    def _live(self) -> None:
        if not self.tty or self.case is None:
            return
        total = len(self.case.steps)
        self.out.write(
            f"\r\x1b[2K ..   {self.case.id:<18} step {self.steps}/{total} {self.case.title}"[:200]
        )
        self.out.flush()
