"""The conformance suite as data, and what a run found.

A :class:`Suite` is what the system under test (SUT) is checked against: the role it plays
(``cns`` or ``fund``), the institutions eessi-sim runs facing it, the households both sides know
and its :class:`TestCase` list. Each test case has an ID, a title, the rules or specification
points it covers and its :class:`Step` list (``docs/conformance.md``).

A run gives a :class:`SuiteResult`: per test case a :class:`CaseResult`, per step a
:class:`StepResult` with its :class:`Finding` list (one per assertion that failed: where, by
test case, step, message ID, XPath and line, what was expected and what was found, the rules it
cites) and the :class:`SutMessage` list of what the SUT sent during that step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = [
    "ROLES",
    "CaseResult",
    "Finding",
    "Outcome",
    "Step",
    "StepResult",
    "Suite",
    "SuiteResult",
    "SutMessage",
    "TestCase",
]

#: The roles a system under test can play.
ROLES = ("cns", "fund")


class Outcome(Enum):
    """The verdict of a step or a test case."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a test case: ``do`` (the action) and its arguments as written."""

    index: int
    do: str
    args: Mapping[str, Any]
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "do": self.do, "title": self.title, "args": dict(self.args)}


@dataclass(frozen=True, slots=True)
class TestCase:
    """A conformance test case: what it checks and how."""

    __test__ = False  # not a pytest class

    id: str
    title: str
    #: Rules (R1-R18) and specification points (BUC, SED, transport) it covers.
    covers: tuple[str, ...]
    #: The institution of ours the SUT deals with in this case.
    peer: str
    #: The person the case is about (``household/member``), if any.
    person: str | None
    steps: tuple[Step, ...]
    #: Mock rules in force during the case, by fund (as ``docs/mock-behaviours.md`` writes them).
    rules: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    #: What the SUT must offer for the case to run (``"clock"``: a virtual clock route;
    #: ``"requests"``: ``POST /api/requests``); without it the case is skipped with the reason.
    needs: tuple[str, ...] = ()
    description: str = ""
    #: SED types of the SUT's our desk may turn down because a mock rule of the case (silence)
    #: made it believe it had answered: a ``rejected`` status of those is not the SUT's fault.
    peer_believes_answered: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "covers": list(self.covers),
            "peer": self.peer,
            "person": self.person,
            "needs": list(self.needs),
            "description": self.description,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Suite:
    """The test cases for one SUT role."""

    role: str
    #: The IR ID the SUT plays (``LU:CNS00001``...).
    sut: str
    title: str
    start: datetime
    #: Household files (JSON) both sides know, in the suite's folder.
    households: tuple[str, ...]
    #: The institutions eessi-sim runs facing the SUT.
    peers: tuple[str, ...]
    cases: tuple[TestCase, ...]
    source: str = ""

    def case(self, case_id: str) -> TestCase:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise KeyError(case_id)


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed assertion, with where it failed and what was expected."""

    #: Stable kind: ``missing``, ``unexpected``, ``schema``, ``buc-state``, ``deadline``,
    #: ``content``, ``xpath``, ``transport``, ``count``.
    check: str
    message: str
    expected: str = ""
    found: str = ""
    message_id: str | None = None
    sed: str | None = None
    xpath: str | None = None
    line: int | None = None
    rules: tuple[str, ...] = ()
    #: xmlschema's reason and the elements it expected, for a schema finding.
    explanation: str | None = None

    def where(self) -> str:
        parts = []
        if self.sed:
            parts.append(self.sed)
        if self.message_id:
            parts.append(f"message {self.message_id}")
        if self.xpath:
            parts.append(self.xpath)
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts)

    def render(self) -> str:
        out = f"[{self.check}] {self.message}"
        if self.rules:
            out += f" [{', '.join(self.rules)}]"
        where = self.where()
        if where:
            out += f"\n      at: {where}"
        if self.expected:
            out += f"\n      expected: {self.expected}"
        if self.found:
            out += f"\n      found: {self.found}"
        if self.explanation:
            out += f"\n      why: {self.explanation}"
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "message": self.message,
            "expected": self.expected,
            "found": self.found,
            "message_id": self.message_id,
            "sed": self.sed,
            "xpath": self.xpath,
            "line": self.line,
            "rules": list(self.rules),
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class SutMessage:
    """A document that travelled during a step: the SUT's (``from_sut``) or ours to it."""

    message_id: str
    sender: str
    receiver: str
    sed: str
    version: str
    case: str
    #: Our side's status of it (the receiver's for the SUT's, the sender's for ours).
    status: str
    at: datetime
    payload: bytes = field(repr=False)
    from_sut: bool = True
    #: Why our side refused or failed it, if it did.
    error: str | None = None

    def to_dict(self, *, payload: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": self.message_id,
            "sender": self.sender,
            "receiver": self.receiver,
            "sed": self.sed,
            "version": self.version,
            "case": self.case,
            "status": self.status,
            "at": self.at.isoformat(),
            "from_sut": self.from_sut,
            "error": self.error,
        }
        if payload:
            out["payload"] = self.payload.decode("utf-8", "replace")
        return out


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    outcome: Outcome
    findings: tuple[Finding, ...] = ()
    messages: tuple[SutMessage, ...] = ()
    #: What happened, in a line (the request made, the document checked...).
    note: str = ""
    #: The virtual time the step ended at.
    at: datetime | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step.index,
            "do": self.step.do,
            "title": self.step.title,
            "outcome": self.outcome.value,
            "note": self.note,
            "at": None if self.at is None else self.at.isoformat(),
            "seconds": round(self.seconds, 3),
            "findings": [f.to_dict() for f in self.findings],
            "messages": [m.to_dict() for m in self.messages],
        }


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: TestCase
    outcome: Outcome
    steps: tuple[StepResult, ...] = ()
    #: Why the case was skipped (a SUT without a clock route...).
    reason: str = ""
    #: The conversation (case ID) the test case ran in, once known.
    conversation: str | None = None
    started: datetime | None = None
    seconds: float = 0.0

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for s in self.steps for f in s.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.case.to_dict(),
            "outcome": self.outcome.value,
            "reason": self.reason,
            "conversation": self.conversation,
            "started": None if self.started is None else self.started.isoformat(),
            "seconds": round(self.seconds, 3),
            "results": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class SuiteResult:
    suite: Suite
    sut_url: str
    cases: tuple[CaseResult, ...]
    started: datetime
    seconds: float
    #: What the SUT offers: ``clock`` (virtual clock route), ``requests`` (admin requests).
    capabilities: tuple[str, ...] = ()
    #: When the suite waited in real time (a SUT without the clock route, its deadlines
    #: configured short): the seconds its two-month reply deadline lasts.
    deadline_seconds: float | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for c in self.cases if c.outcome is outcome)

    @property
    def passed(self) -> bool:
        """Every assertion held (skipped cases assert nothing)."""
        return self.count(Outcome.FAILED) == 0

    def summary(self) -> str:
        return (
            f"{len(self.cases)} test cases: {self.count(Outcome.PASSED)} passed,"
            f" {self.count(Outcome.FAILED)} failed, {self.count(Outcome.SKIPPED)} skipped"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "eessi-conformance/1",
            "role": self.suite.role,
            "sut": self.suite.sut,
            "sut_url": self.sut_url,
            "title": self.suite.title,
            "started": self.started.isoformat(),
            "seconds": round(self.seconds, 3),
            "capabilities": list(self.capabilities),
            "deadline_seconds": self.deadline_seconds,
            "passed": self.passed,
            "counts": {o.value: self.count(o) for o in Outcome},
            "cases": [c.to_dict() for c in self.cases],
        }
