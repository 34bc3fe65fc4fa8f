"""Running a conformance suite against a system under test (SUT).

The institutions the SUT deals with (mock funds facing a CNS, the simulated CNS facing a fund)
run here on the endpoints of the directory the SUT was given (``fixed_ports``), on a virtual
clock. The SUT is talked to only through what any EESSI system offers: documents over the
transport (our nodes send and receive them over eDelivery AS4; what it sent is read from our
journals, byte for byte) and, when it has them, the documented admin routes (``GET/POST
/api/clock`` to move its clock with ours, ``POST /api/requests`` to make it act). Nothing
here touches the transport's internals, so the suite runs the same on any wire the nodes speak.

Test cases run one after the other on one network, each about its own person; the clock only
moves forward. A step that fails skips the rest of its test case.

**Time.** A SUT with the clock route moves with our virtual clock: an ``advance-clock`` of two
months passes at once. A SUT without it runs on the wall clock, and so do we (our clock
follows it): the test cases that need time to pass are skipped, unless the tester configured
the SUT's reply deadlines short and says how short (``RunSettings.deadline_seconds``, the
BUC's two-month reply deadline in real seconds). Then the suite waits in real time: every
period of the suite (an ``advance-clock``, an ``expect``'s ``deadline``) is scaled by the same
ratio, and our institutions get the same short deadlines, so both sides fall due together.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from eessi.clock import after
from eessi.conformance import judge
from eessi.conformance.model import (
    CaseResult,
    Finding,
    Outcome,
    Step,
    StepResult,
    Suite,
    SuiteResult,
    SutMessage,
    TestCase,
)
from eessi.conformance.suite import load_households
from eessi.conformance.sut_api import SutApi
from eessi.core.case import Deadlines
from eessi.core.household import Household
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import ConfigError, EessiError
from eessi.journal import Direction
from eessi.mock.behaviour import parse_rule
from eessi.mock.profiles import Profile, load_default_profiles
from eessi.node.admin_requests import parse_request
from eessi.node.network import wait_answering
from eessi.scenario.world import LoopbackNetwork
from eessi.sed.schemas import SchemaSet

__all__ = [
    "REPLY_DEADLINE",
    "Progress",
    "RunSettings",
    "SutTarget",
    "run_suite",
    "short_deadlines",
    "sut_target",
]

#: Called as the run goes: ``("case", CaseResult-or-TestCase)``, ``("step", StepResult)``...
Progress = Callable[[str, object], None]


@dataclass(frozen=True, slots=True)
class SutTarget:
    """The SUT as the directory describes it."""

    id: str
    endpoint: str
    #: Base URL of its admin routes (``/api/...``): the directory's ``admin``, else the
    #: endpoint's origin (where eessi-sim nodes serve them).
    admin: str


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How long to wait: real seconds (the SUT answers in real time; deadlines are virtual,
    or scaled down to ``deadline_seconds``)."""

    #: How long an ``expect`` waits for the SUT's document.
    within: float = 10.0
    #: How long ``expect-none`` (and a ``count``) watches for documents that should not come.
    quiet: float = 0.4
    #: How long to wait for the SUT's endpoint to answer at the start.
    startup: float = 30.0
    #: For a SUT without the clock route whose reply deadlines are configured short: the
    #: seconds its BUC reply deadline (two months) lasts. The suite then waits in real time,
    #: every period scaled alike (module docstring); None: its deadline cases are skipped.
    deadline_seconds: float | None = None


#: The BUC reply deadline that ``RunSettings.deadline_seconds`` stands for (the core's).
REPLY_DEADLINE: timedelta = Deadlines().reply_within


def short_deadlines(seconds: float) -> Deadlines:
    """The core's default deadlines scaled so that the reply deadline lasts ``seconds``."""
    scale = seconds / REPLY_DEADLINE.total_seconds()
    escalate = Deadlines().escalate_after
    return Deadlines(
        reply_within=timedelta(seconds=seconds),
        escalate_after=None if escalate is None else escalate * scale,
    )


def _short_profiles(seconds: float) -> dict[str, Profile]:
    """Our mock funds' profiles with their reply deadlines as short as the SUT's."""
    from eessi.sed.catalogue import BUCS

    short = short_deadlines(seconds)
    deadlines = {buc: short for buc in BUCS}
    return {
        fund: dataclasses.replace(p, policy=dataclasses.replace(p.policy, deadlines=deadlines))
        for fund, p in load_default_profiles().items()
    }


def sut_target(directory: Directory, sut: str, role_id: str) -> tuple[Directory, SutTarget]:
    """``--sut`` as a URL (the endpoint of ``role_id`` in ``directory``) or an IR ID of
    ``directory``; the directory comes back with the SUT's entry ``external``."""
    if "://" in sut:
        url = urlsplit(sut)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"--sut {sut!r} is not an http(s) URL",
                where="--sut",
                hint="give the SUT's AS4 endpoint (http://host:port/as4) or its IR ID",
                code="conformance.bad-sut",
            )
        ir_id, endpoint = role_id, sut
    else:
        if sut not in directory:
            raise ConfigError(
                f"{sut} is not in the directory",
                where="--sut",
                hint=f"institutions: {', '.join(directory.ids)}",
                code="conformance.bad-sut",
            )
        ir_id, endpoint = sut, directory.get(sut).endpoint
    entries: list[InstitutionEntry] = []
    admin = None
    for entry in directory:
        if entry.id == ir_id:
            admin = entry.admin
            entry = dataclasses.replace(entry, kind="external", endpoint=endpoint)
        entries.append(entry)
    url = urlsplit(endpoint)
    base = admin.rstrip("/") if admin else urlunsplit((url.scheme, url.netloc, "", "", ""))
    return Directory(tuple(entries), source=directory.source), SutTarget(ir_id, endpoint, base)


class _Run:
    """One suite run: the network, the SUT, what it sent so far."""

    def __init__(
        self,
        suite: Suite,
        net: LoopbackNetwork,
        sut: SutTarget,
        api: SutApi,
        households: Mapping[str, Household],
        settings: RunSettings,
        official: SchemaSet | None,
        progress: Progress | None,
    ) -> None:
        self.suite = suite
        self.net = net
        self.sut = sut
        self.api = api
        self.capabilities = api.capabilities
        self.households = households
        self.settings = settings
        self.official = official
        self.progress = progress
        #: Message IDs already attributed to a step, ours and the SUT's.
        self.seen: set[tuple[str, str]] = set()
        #: Real seconds per virtual second when the suite waits in real time (None: virtual).
        self.real_time: float | None = None
        if "clock" not in self.capabilities and settings.deadline_seconds:
            self.real_time = settings.deadline_seconds / REPLY_DEADLINE.total_seconds()
        #: The SED types our side turns down because a mock rule made it lie
        #: (``TestCase.peer_believes_answered``), by the conversation of the test case.
        self.believes: dict[str, tuple[str, ...]] = {}

    def real(self, start: datetime, period: str) -> timedelta:
        """How long ``period`` from ``start`` lasts here: itself on a virtual clock, scaled
        down when the suite waits in real time."""
        span = after(start, period) - start
        return span if self.real_time is None else span * self.real_time

    # ---- what travelled

    async def _collect(self) -> list[SutMessage]:
        """Every document from the SUT that reached us, and ours to it, in journal order."""
        out: list[SutMessage] = []
        for node in self.net.nodes.values():
            for rec in await node.journal.messages(institution=self.sut.id):
                inbound = rec.direction is Direction.IN
                if (rec.sender if inbound else rec.receiver) != self.sut.id:
                    continue
                at = rec.received_at if inbound and rec.received_at else rec.created_at
                out.append(
                    SutMessage(
                        message_id=rec.message_id,
                        sender=rec.sender,
                        receiver=rec.receiver,
                        sed=rec.sed_type,
                        version=rec.sed_version,
                        case=rec.conversation_id,
                        status=rec.status.value,
                        at=at,
                        payload=rec.payload,
                        from_sut=inbound,
                        error=rec.last_error,
                    )
                )
        return out

    async def new_messages(self) -> list[SutMessage]:
        """What travelled since the last call (and marks it seen)."""
        fresh = []
        for m in await self._collect():
            key = ("in" if m.from_sut else "out", m.message_id)
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(m)
        return fresh

    async def _sut_messages(
        self, sed: str, to: str | None, ctx: _CaseContext | None = None
    ) -> list[SutMessage]:
        """The SUT's documents of type ``sed`` (to ``to``); with ``ctx``, only those of the
        test case: not there when it began, and in its conversation once that is known (unless
        the step says ``any_case = true``: a document that opens a case of its own)."""
        return [
            m
            for m in await self._collect()
            if m.from_sut
            and m.sed == sed
            and (to is None or m.receiver == to)
            and (ctx is None or ctx.owns(m))
        ]

    # ---- running

    async def run_case(self, case: TestCase) -> CaseResult:
        missing = [
            n
            for n in case.needs
            if n not in self.capabilities and not (n == "clock" and self.real_time)
        ]
        if missing:
            why = {
                "clock": "the SUT has no virtual clock route (POST /api/clock): its deadlines"
                " cannot be reached in a test run (configure them short and give"
                " --deadline-seconds to wait them out in real time)",
                "requests": "the SUT offers no POST /api/requests to make it act",
            }
            return CaseResult(case, Outcome.SKIPPED, reason="; ".join(why[n] for n in missing))
        started = self.net.clock.now()
        t0 = time.monotonic()
        await self.net.idle()
        await self.new_messages()  # whatever is left of earlier cases is not this case's
        added = self._add_rules(case)
        before = {m.message_id for m in await self._collect()}
        ctx = _CaseContext(case=case, started=started, before=before)
        results: list[StepResult] = []
        failed = False
        try:
            for step in case.steps:
                if failed:
                    results.append(StepResult(step, Outcome.SKIPPED, note="after a failed step"))
                    continue
                result = await self._run_step(ctx, step)
                results.append(result)
                if self.progress is not None:
                    self.progress("step", result)
                failed = result.outcome is Outcome.FAILED
        finally:
            for fund, rule_id in added:
                self.net.mocks.book(fund).remove(rule_id)
            if ctx.conversation is not None and case.peer_believes_answered:
                self.believes[ctx.conversation] = case.peer_believes_answered
        results = await self._judge_leftovers(ctx, results)
        failed = any(r.outcome is Outcome.FAILED for r in results)
        outcome = Outcome.FAILED if failed else Outcome.PASSED
        return CaseResult(
            case,
            outcome,
            tuple(results),
            conversation=ctx.conversation,
            started=started,
            seconds=time.monotonic() - t0,
        )

    async def _judge_leftovers(
        self, ctx: _CaseContext, results: list[StepResult]
    ) -> list[StepResult]:
        """Documents kept for an ``expect`` that did not take them (a second S072...) are
        judged in the first such step that ran after they came (it saw them: where they belong
        whatever the timing), else in the step they came in."""
        if not ctx.deferred:
            return results
        current = {m.message_id: m for m in await self._collect() if m.from_sut}
        extra: dict[int, list[Finding]] = {}
        for mid, arrived in list(ctx.deferred.items()):
            m = current.get(mid)
            if m is None:
                continue
            home = next(
                (
                    r.step.index
                    for r in results
                    if r.step.index > arrived
                    and r.outcome is not Outcome.SKIPPED
                    and r.step.do in ("expect", "expect-retried")
                    and r.step.args.get("sed") == m.sed
                ),
                arrived,
            )
            extra.setdefault(home, []).extend(ctx.judge(self, m))
        ctx.deferred.clear()
        out = []
        for r in results:
            more = extra.get(r.step.index)
            if more:
                r = dataclasses.replace(r, outcome=Outcome.FAILED, findings=(*r.findings, *more))
            out.append(r)
        return out

    @staticmethod
    def _expected_later(ctx: _CaseContext, step: Step, sed: str) -> bool:
        return any(
            s.index > step.index
            and s.do in ("expect", "expect-retried")
            and s.args.get("sed") == sed
            for s in ctx.case.steps
        )

    def _fill(self, value: Any, ctx: _CaseContext) -> Any:
        if isinstance(value, str):
            out = value.replace("{sut}", self.sut.id).replace("{person}", ctx.case.person or "")
            return out.replace("{case}", ctx.conversation or "")
        if isinstance(value, list):
            return [self._fill(v, ctx) for v in value]
        if isinstance(value, dict):
            return {k: self._fill(v, ctx) for k, v in value.items()}
        return value

    def _add_rules(self, case: TestCase) -> list[tuple[str, str]]:
        added = []
        ctx = _CaseContext(case=case, started=self.net.clock.now())
        for fund, body in case.rules:
            rule = parse_rule(self._fill(dict(body), ctx), where=f"{case.id} rule", origin="test")
            self.net.mocks.book(fund).add(rule)
            added.append((fund, rule.id))
        return added

    async def _run_step(self, ctx: _CaseContext, step: Step) -> StepResult:
        t0 = time.monotonic()
        args = self._fill(dict(step.args), ctx)
        try:
            note, findings, checked = await _STEPS[step.do](self, ctx, args)
        except EessiError as exc:
            note, findings, checked = (
                f"the step could not run: {exc}",
                [Finding(check="step", message=str(exc))],
                [],
            )
        await self.net.idle()
        messages = await self.new_messages()
        findings.extend(checked)
        for m in messages:
            if not m.from_sut or m.message_id in ctx.judged:
                continue
            if self._expected_later(ctx, step, m.sed):
                ctx.deferred[m.message_id] = step.index  # judged by the expect that takes it
            else:
                findings.extend(ctx.judge(self, m))
        outcome = Outcome.FAILED if findings else Outcome.PASSED
        return StepResult(
            step,
            outcome,
            tuple(findings),
            tuple(messages),
            note=note,
            at=self.net.clock.now(),
            seconds=time.monotonic() - t0,
        )

    def auto_findings(self, ctx: _CaseContext, m: SutMessage) -> list[Finding]:
        """What every document from the SUT is held to (the module docstring of judge)."""
        out = judge.schema_findings(m, self.official)
        # a document of an earlier test case (a late reminder) is judged by that case's lies
        believed = self.believes.get(m.case, ctx.case.peer_believes_answered)
        if not out and not (m.status == "rejected" and m.sed in believed):
            out += judge.state_findings(m)
        if m.status == "refused" and not out:
            out.append(
                Finding(
                    check="transport",
                    message=f"{m.receiver} refused the SUT's {m.sed}",
                    found=m.error or "refused",
                    message_id=m.message_id,
                    sed=m.sed,
                )
            )
        if self.suite.role == "cns" and m.sed == "S072" and ctx.case.person:
            out += judge.entitlement_findings(
                m, self.households, ctx.case.person, m.receiver, m.at.date()
            )
        return out

    async def wait_for(
        self, ctx: _CaseContext, sed: str, to: str | None, within: float, skip: int
    ) -> SutMessage | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = await self._sut_messages(sed, to, ctx)
            if len(found) > skip:
                await self.net.idle()  # our desk's verdict on it
                fresh = {m.message_id: m for m in await self._sut_messages(sed, to)}
                return fresh.get(found[skip].message_id, found[skip])
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.02)


@dataclass
class _CaseContext:
    case: TestCase
    started: datetime
    conversation: str | None = None
    #: SUT documents already matched by an ``expect``, by SED type.
    consumed: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Our latest document to the SUT (an ``expect-refused`` looks at it).
    last_sent: str | None = None
    #: Message IDs that travelled before the test case began.
    before: set[str] = dataclasses.field(default_factory=set)
    #: A step that accepts documents in any conversation (one the SUT opens).
    any_case: bool = False
    #: The SUT's documents already held to the checks of every document.
    judged: set[str] = dataclasses.field(default_factory=set)
    #: The SUT's documents kept for a later ``expect`` of their type, by the step they came in.
    deferred: dict[str, int] = dataclasses.field(default_factory=dict)

    def judge(self, run: _Run, m: SutMessage) -> list[Finding]:
        """The checks of every document, once per document."""
        if m.message_id in self.judged:
            return []
        self.judged.add(m.message_id)
        self.deferred.pop(m.message_id, None)
        return run.auto_findings(self, m)

    def owns(self, m: SutMessage) -> bool:
        if m.message_id in self.before:
            return False
        return self.any_case or self.conversation is None or m.case == self.conversation


StepOutcome = tuple[str, list[Finding], list[Finding]]


async def _request(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    at = str(args.pop("at", ctx.case.peer))
    node = run.net[at]
    if args.get("kind") == "request_entitlement":
        args.setdefault("to", run.sut.id)
    _kind, value = parse_request(args, "cns" if node.entry.kind == "cns" else "fund")
    messages: list[str] = []
    step = await node.submit(value, messages=messages)  # type: ignore[arg-type]
    await run.net.idle()
    cases = sorted({o.case_id for o in getattr(step, "outgoing", ())})
    if ctx.conversation is None and cases:
        ctx.conversation = cases[0]
    if messages:
        ctx.last_sent = messages[-1]
    sent = ", ".join(messages) or "nothing sent"
    return f"{at}: {args['kind']} (case {', '.join(cases) or '-'}; {sent})", [], []


async def _trigger(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    status, body = await run.api.request(args)
    if status != 202:
        return (
            f"the SUT refused {args['kind']}",
            [
                Finding(
                    check="trigger",
                    message=f"POST {run.sut.admin}/api/requests ({args['kind']}) answered {status}",
                    expected="202 with the cases touched",
                    found=json.dumps(body)[:300] if not isinstance(body, str) else body[:300],
                )
            ],
            [],
        )
    cases = body.get("cases", []) if isinstance(body, dict) else []
    if ctx.conversation is None and cases:
        ctx.conversation = str(cases[0])
    return f"the SUT accepted {args['kind']} (case {', '.join(map(str, cases)) or '-'})", [], []


async def _expect(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    sed = str(args["sed"])
    to = args.get("to")
    within = float(args.get("within", run.settings.within))
    skip = ctx.consumed.get(sed, 0)
    ctx.any_case = bool(args.get("any_case", False))
    msg = await run.wait_for(ctx, sed, to, within, skip)
    ctx.any_case = False
    if msg is None:
        return (
            f"no {sed} from the SUT",
            [
                Finding(
                    check="missing",
                    message=f"the SUT sent no {sed}"
                    + (f" to {to}" if to else "")
                    + f" within {within:g} s",
                    expected=f"{run.sut.id} -> {to or ctx.case.peer} {sed}",
                    found="nothing",
                    sed=sed,
                    rules=tuple(args.get("rules", ())),
                )
            ],
            [],
        )
    ctx.consumed[sed] = skip + 1
    if ctx.conversation is None:
        ctx.conversation = msg.case
    findings: list[Finding] = []
    xpaths = args.get("xpath", [])
    findings += judge.xpath_findings(msg, [xpaths] if isinstance(xpaths, str) else list(xpaths))
    if "deadline" in args:
        span = run.real(ctx.started, str(args["deadline"]))
        due = ctx.started + span
        if msg.at > due:
            scaled = "" if run.real_time is None else f", {span.total_seconds():g} s here"
            findings.append(
                Finding(
                    check="deadline",
                    message=f"{sed} came after its deadline",
                    expected=f"by {due.isoformat()} ({args['deadline']} after the case"
                    f" began{scaled})",
                    found=msg.at.isoformat(),
                    message_id=msg.message_id,
                    sed=sed,
                    rules=tuple(args.get("rules", ())),
                )
            )
    if "count" in args:
        await asyncio.sleep(run.settings.quiet)
        await run.net.idle()
        n = len([m for m in await run._sut_messages(sed, to, ctx) if m.case == msg.case])
        if n != int(args["count"]):
            findings.append(
                Finding(
                    check="count",
                    message=f"the SUT sent {n} {sed} in case {msg.case}",
                    expected=f"exactly {args['count']}",
                    found=str(n),
                    sed=sed,
                    message_id=msg.message_id,
                    rules=tuple(args.get("rules", ())),
                )
            )
    # the message's own checks (schema, state, content), here where the case expects it
    checked = ctx.judge(run, msg)
    return f"{sed} {msg.message_id} from the SUT to {msg.receiver}", findings, checked


async def _expect_none(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    sed = str(args["sed"])
    to = args.get("to")
    await asyncio.sleep(max(float(args.get("quiet", 0)), run.settings.quiet))
    await run.net.idle()
    skip = ctx.consumed.get(sed, 0)
    found = await run._sut_messages(sed, to, ctx)
    xpath = args.get("xpath")
    if xpath:
        found = [m for m in found if judge.locate(m.payload, str(xpath))[0]]
        skip = 0
    if len(found) > skip:
        m = found[skip]
        return (
            f"an unexpected {sed}",
            [
                Finding(
                    check="unexpected",
                    message=f"the SUT sent {sed}"
                    + (f" matching {xpath}" if xpath else "")
                    + " when it should not have",
                    expected=str(args.get("why", f"no {sed}")),
                    found=f"{m.sed} {m.message_id} to {m.receiver}",
                    message_id=m.message_id,
                    sed=sed,
                    xpath=str(xpath) if xpath else None,
                    rules=tuple(args.get("rules", ())),
                )
            ],
            [],
        )
    return f"no {sed} from the SUT, as it should be", [], []


async def _ours_settled(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> SutMessage | None:
    """Our latest document to the SUT in the case (of type ``sed`` when the step names one;
    else the one our last request sent, if known), once the SUT receipted it or refused it
    (or ``within`` seconds passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(args.get("within", run.settings.within))
    sed = args.get("sed")
    ours: SutMessage | None = None
    while True:
        sent = [m for m in await run._collect() if not m.from_sut and ctx.owns(m)]
        if sed is not None:
            sent = [m for m in sent if m.sed == sed]
        elif ctx.last_sent is not None:
            sent = [m for m in sent if m.message_id == ctx.last_sent] or sent
        ours = sent[-1] if sent else None
        if ours is not None and ours.status in ("failed", "acknowledged"):
            return ours
        if loop.time() >= deadline:
            return ours
        await asyncio.sleep(0.02)


def _nothing_sent(args: dict[str, Any]) -> StepOutcome:
    what = f"no {args['sed']} of ours" if "sed" in args else "nothing"
    return (
        f"{what} was sent to the SUT",
        [Finding(check="step", message=f"{what} was sent to the SUT in this case")],
        [],
    )


async def _expect_refused(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    ours = await _ours_settled(run, ctx, args)
    if ours is None:
        return _nothing_sent(args)
    findings = []
    if ours.status != "failed":
        findings.append(
            Finding(
                check="transport",
                message=f"the SUT accepted our {ours.sed} that it should have refused",
                expected="an error signal (ebMS error) refusing it",
                found=f"{ours.status}",
                message_id=ours.message_id,
                sed=ours.sed,
            )
        )
    else:
        error = ours.error or ""
        for word in args.get("mentions", []):
            if str(word) not in error:
                findings.append(
                    Finding(
                        check="transport",
                        message=f"the SUT's error signal does not say {word!r}",
                        expected=f"an error naming {word}",
                        found=error[:300],
                        message_id=ours.message_id,
                        sed=ours.sed,
                    )
                )
    return (
        f"our {ours.sed} {ours.message_id}: {ours.status} ({(ours.error or '')[:120]})",
        findings,
        [],
    )


async def _expect_accepted(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    ours = await _ours_settled(run, ctx, args)
    if ours is None:
        return _nothing_sent(args)
    findings = []
    if ours.status != "acknowledged":
        findings.append(
            Finding(
                check="transport",
                message=f"the SUT did not accept our {ours.sed}",
                expected="a receipt: the document taken (a horizontal document is legal here)",
                found=f"{ours.status}" + (f": {ours.error[:300]}" if ours.error else ""),
                message_id=ours.message_id,
                sed=ours.sed,
                rules=tuple(args.get("rules", ())),
            )
        )
    return f"our {ours.sed} {ours.message_id}: {ours.status}", findings, []


async def _expect_retried(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    sed = str(args["sed"])
    fund = str(args.get("at", ctx.case.peer))
    msg = await run.wait_for(ctx, sed, fund, float(args.get("within", run.settings.within)), 0)
    failed = [
        e
        for e in run.net.mocks.log(fund)
        if e.get("what") == "failed-delivery"
        and e.get("sed") == sed
        and (ctx.conversation is None or e.get("case") == ctx.conversation)
    ]
    findings = []
    if not failed:
        findings.append(
            Finding(
                check="step",
                message=f"{fund} refused no delivery of {sed}: nothing to retry",
                sed=sed,
            )
        )
    if msg is None:
        findings.append(
            Finding(
                check="missing",
                message=f"the SUT did not deliver its {sed} again after {fund} answered 503",
                expected=f"{sed} delivered on a later attempt",
                found="nothing",
                sed=sed,
            )
        )
    else:
        ctx.consumed[sed] = ctx.consumed.get(sed, 0) + 1
    checked = ctx.judge(run, msg) if msg is not None else []
    note = f"{len(failed)} failed deliveries, then {'delivered' if msg else 'nothing'}"
    return note, findings, checked


async def _advance(run: _Run, ctx: _CaseContext, args: dict[str, Any]) -> StepOutcome:
    period = str(args["period"])
    findings = []
    if run.real_time is not None:
        # the SUT's deadlines are short: wait the period out, scaled (our clock follows)
        wait = run.real(run.net.clock.now(), period).total_seconds()
        await asyncio.sleep(wait)
        _follow_wall_clock(run.net)
        note = f"{period} waited out in real time ({wait:.2f} s; the deadlines are short)"
    else:
        to = after(run.net.clock.now(), period)
        if "clock" in run.capabilities:
            why = await run.api.move_clock(to)
            if why:
                findings.append(Finding(check="clock", message=why))
        run.net.clock.set(to)
        note = f"the clock is now {to.isoformat()}"
    for node in run.net.nodes.values():
        node.release_due()
    await run.net.tick()
    await run.net.idle()
    return note, findings, []


def _follow_wall_clock(net: LoopbackNetwork) -> None:
    now = datetime.now(UTC)
    if now > net.clock.now():
        net.clock.set(now)


async def _keep_following(net: LoopbackNetwork) -> None:
    """Our virtual clock kept on the wall clock (a SUT without the clock route runs on it)."""
    while True:
        _follow_wall_clock(net)
        await asyncio.sleep(0.05)


_STEPS: dict[str, Callable[[_Run, _CaseContext, dict[str, Any]], Any]] = {
    "request": _request,
    "trigger": _trigger,
    "expect": _expect,
    "expect-none": _expect_none,
    "expect-refused": _expect_refused,
    "expect-accepted": _expect_accepted,
    "expect-retried": _expect_retried,
    "advance-clock": _advance,
}


def _scriptable_cns(net: LoopbackNetwork) -> None:
    """Our CNS takes mock rules too (duplicate, malformed, wrong version, fail), so the fund
    suite can misbehave towards a SUT fund the way the mock funds do towards a SUT CNS."""
    prepare = net.network.prepare

    def both(node: Any) -> None:
        if prepare is not None:
            prepare(node)
        if node.entry.kind == "cns":
            net.mocks.attach(node)

    net.network.prepare = both


async def run_suite(
    suite: Suite,
    directory: Directory,
    sut: str,
    *,
    only: Iterable[str] | None = None,
    schemas: str | Path | None = None,
    settings: RunSettings | None = None,
    progress: Progress | None = None,
    workdir: str | Path | None = None,
    security: bool = True,
    pki: str | Path | None = None,
) -> SuiteResult:
    """Run ``suite`` (or the cases of ``only``) against the SUT at ``sut`` (a URL or an IR ID
    of ``directory``). Our institutions speak eDelivery AS4 to it, secured as the P-Modes
    beside the directory say (the shipped ones: signed and encrypted) with the network's PKI
    (``pki``, else the P-Mode file's, else ``pki/`` beside the directory file, where ``eessi
    serve`` of the same directory keeps it); ``security=False``: without security."""
    settings = settings or RunSettings()
    wanted = list(only or [])
    unknown = [c for c in wanted if c not in {x.id for x in suite.cases}]
    if unknown:
        raise ConfigError(
            f"no test case {unknown[0]} in the {suite.role} suite",
            where="--only",
            hint="eessi conformance list shows the test cases",
            code="conformance.unknown-case",
        )
    cases = [c for c in suite.cases if not wanted or c.id in wanted]
    directory, target = sut_target(directory, sut, suite.sut)
    official = SchemaSet(schemas) if schemas is not None else None
    households = load_households(suite)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    await wait_answering(
        [directory.get(target.id)], within=settings.startup, where=directory.source
    )
    with tempfile.TemporaryDirectory(prefix="eessi-conformance-") as tmp:
        async with aiohttp.ClientSession() as session:
            api = SutApi(target.admin, session, timeout=max(15.0, settings.within))
            capabilities = await api.probe()
            start = suite.start
            if "clock" in capabilities:
                now = await api.now()
                if now is not None and now > start:
                    start = now
                if await api.move_clock(start):
                    capabilities.discard("clock")
            if "clock" not in capabilities:
                # a SUT on the wall clock refuses messages stamped far from its time (replay
                # protection): ours start at its time, now
                start = datetime.now(UTC).replace(microsecond=0)
            wall = "clock" not in capabilities
            net = LoopbackNetwork(
                list(suite.peers),
                households,
                workdir=Path(workdir or tmp),
                start=start,
                directory=directory,
                profiles=(
                    _short_profiles(settings.deadline_seconds)
                    if wall and settings.deadline_seconds
                    else None
                ),
                fixed_ports=True,
                external_within=settings.startup,
                security=security,
                pki=pki,
            )
            _scriptable_cns(net)
            async with net:
                follower = asyncio.create_task(_keep_following(net)) if wall else None
                run = _Run(
                    suite,
                    net,
                    target,
                    api,
                    {h.id: h for h in households},
                    settings,
                    official,
                    progress,
                )
                results = []
                try:
                    for case in cases:
                        if progress is not None:
                            progress("case", case)
                        result = await run.run_case(case)
                        results.append(result)
                        if progress is not None:
                            progress("done", result)
                finally:
                    if follower is not None:
                        follower.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await follower
    return SuiteResult(
        suite,
        target.endpoint,
        tuple(results),
        started,
        time.monotonic() - t0,
        tuple(sorted(capabilities)),
        deadline_seconds=settings.deadline_seconds if run.real_time is not None else None,
    )
