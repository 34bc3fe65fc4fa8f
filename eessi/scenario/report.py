"""What a scenario run reports: each step and each expectation, passed or failed, and why.

Shaped after the ITB (the EU's Interoperability Test Bed) test-session report: a line per step
(``PASS``/``FAIL``/``SKIP`` with what happened, the documents that moved during it), then a line
per expectation with what was expected and what was found, then the verdict. The same report
is available as JSON (:meth:`ScenarioReport.to_dict`), and it holds no wall-clock time or random
value: the same scenario gives the same report, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from eessi.scenario.world import Exchange

__all__ = ["Check", "ScenarioReport", "StepResult", "render_reports"]

Verdict = Literal["passed", "failed", "skipped"]
_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int
    title: str
    status: Verdict
    #: Why it failed (the error's message and hint), empty when it passed.
    why: str = ""
    #: What happened: documents that moved and decisions, one line each.
    happened: tuple[str, ...] = ()
    #: The virtual time after the step.
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "title": self.title,
            "status": self.status,
            "why": self.why,
            "happened": list(self.happened),
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation, checked."""

    #: ``message``, ``messages``, ``member``, ``case``, ``supplementary``.
    kind: str
    subject: str
    passed: bool
    expected: str
    actual: str
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "status": "passed" if self.passed else "failed",
            "expected": self.expected,
            "actual": self.actual,
            "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class ScenarioReport:
    name: str
    title: str
    source: str
    rules: tuple[str, ...]
    steps: tuple[StepResult, ...]
    checks: tuple[Check, ...]
    exchanges: tuple[Exchange, ...]
    #: Each member's outcome as found (``member -> {"outcome", "rules", ...}``).
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: An error that stopped the run before the steps (network could not start...).
    error: str = ""

    @property
    def passed(self) -> bool:
        return (
            not self.error
            and all(s.status == "passed" for s in self.steps)
            and all(c.passed for c in self.checks)
        )

    @property
    def failures(self) -> int:
        return (
            sum(s.status == "failed" for s in self.steps)
            + sum(not c.passed for c in self.checks)
            + (1 if self.error else 0)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "rules": list(self.rules),
            "result": "passed" if self.passed else "failed",
            "error": self.error,
            "steps": [s.to_dict() for s in self.steps],
            "checks": [c.to_dict() for c in self.checks],
            "messages": [x.to_dict() for x in self.exchanges],
            "members": self.members,
        }

    def render(self) -> str:
        """The ITB-style text report (no colour), ending with a newline."""
        rules = f" [{', '.join(self.rules)}]" if self.rules else ""
        lines = [f"Scenario {self.name}{rules}: {self.title}", f"  file: {self.source}"]
        if self.error:
            lines.append(f"  ERROR {self.error}")
        for s in self.steps:
            lines.append(f"  step {s.index:<2} {_MARK[s.status]}  {s.title}")
            if s.why:
                lines.append(f"             why: {s.why}")
            lines.extend(f"             {h}" for h in s.happened)
        for ck in self.checks:
            lines.append(f"  expect  {'PASS' if ck.passed else 'FAIL'}  {ck.kind} {ck.subject}")
            if not ck.passed:
                lines.append(f"             expected: {ck.expected}")
                lines.append(f"             found:    {ck.actual}")
                if ck.why:
                    lines.append(f"             why:      {ck.why}")
        n_steps = len(self.steps)
        n_checks = len(self.checks)
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(
            f"  {verdict}: {n_steps} step(s), {n_checks} expectation(s), {self.failures} failure(s)"
        )
        return "\n".join(lines) + "\n"


def render_reports(reports: Sequence[ScenarioReport]) -> str:
    """Several reports, then one summary line."""
    body = "\n".join(r.render() for r in reports)
    ok = sum(r.passed for r in reports)
    return body + f"\n{ok} of {len(reports)} scenario(s) passed\n"
