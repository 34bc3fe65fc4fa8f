"""Run a scenario on the embedded network and check what it expects.

Theory of operation
-------------------
:func:`run_scenario` starts a :class:`~eessi.scenario.world.LoopbackNetwork` (the CNS and the
mock funds the scenario names, talking through the in-memory twin of the transport by default
(no port; ``transport="http"``: real HTTP on loopback), real journals in a temporary
directory, one virtual clock starting at the scenario's start, seeded IDs), sets the mocks'
behaviours,
then plays the steps in order. After each step it waits until **every** institution is idle
(everything the step set moving has landed), so a two-month deadline is one
``advance-clock`` step away and costs nothing. A step that raises (an input the core refuses,
a case that does not exist) fails with the error's text; the later steps are skipped.

Then the expectations are checked against what happened: the documents exchanged (in the
network's one stable order, see :meth:`LoopbackNetwork.exchanges`), each member's last decision
at the CNS (outcome, rules, main insured, start, what is missing), the final case states, the
supplementary enrolments. Everything lands in a :class:`~eessi.scenario.report.ScenarioReport`.

Each member's decisions are seen as the CNS desk returns them (``DecisionMade`` events, see
:attr:`LoopbackNetwork.decisions`): the journal keeps them too, but spread over the cases they
concern, with no order between cases at one virtual instant.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from eessi.core.facts import DocumentKind
from eessi.core.messages import (
    Channel,
    CoInsuranceRegistered,
    CoInsuranceRequested,
    DocumentProvided,
    DocumentRefused,
    DocumentsRequested,
    EntitlementIssued,
    EntitlementRegistered,
    EntitlementUnregistered,
    Event,
    IssueEntitlement,
    ReferredToService,
    RegistrationWithdrawn,
    ServiceDecision,
    WithdrawEntitlement,
)
from eessi.core.supplementary import Audience, Category, Enrolment, Reimbursement
from eessi.errors import ConfigError, EessiError
from eessi.mock.outside import answer_requests
from eessi.mock.profiles import Profile
from eessi.mock.supplementary import CnsEnrolment, SupplementaryMock
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
)
from eessi.scenario.format import Expectations, Scenario, ScenarioStep, clock_delta
from eessi.scenario.report import Check, ScenarioReport, StepResult
from eessi.scenario.world import Exchange, LoopbackNetwork
from eessi.transport.seam import TransportFactory

__all__ = ["RunObserver", "member_outcomes", "run_scenario"]

#: Called as the run goes: ``("start", LoopbackNetwork)`` first; then per step
#: ``("begin", ScenarioStep)``, ``("message", Exchange)`` for each document that moved during
#: it (in order), ``("step", StepResult)``.
RunObserver = Callable[[str, Any], Awaitable[None] | None]


def _event_line(ev: Event) -> str | None:
    if isinstance(ev, CoInsuranceRegistered):
        return (
            f"CNS: {ev.member.member} co-insured with {ev.main_insured} from {ev.start}"
            f" [{', '.join(ev.rules)}]"
        )
    if isinstance(ev, RegistrationWithdrawn):
        return f"CNS: registration of {ev.member.member} withdrawn ({ev.why})"
    if isinstance(ev, DocumentsRequested):
        kinds = ", ".join(k.value for k in ev.kinds)
        return f"CNS: asks the {ev.party.replace('_', ' ')} for {kinds} [{ev.rule}]"
    if isinstance(ev, DocumentRefused):
        return f"CNS: refuses {ev.kind.value} for {ev.member.member} [{ev.rule}]: {ev.why}"
    if isinstance(ev, ReferredToService):
        return f"CNS: {ev.member.member} referred to the Service Coassurance [{ev.rule}]"
    if isinstance(ev, EntitlementIssued):
        until = f" to {ev.end}" if ev.end else ""
        return (
            f"CNS: S072 of {ev.person} sent unasked to {ev.to}, from {ev.start}{until}"
            f" [{', '.join(ev.rules)}]"
        )
    if isinstance(ev, EntitlementRegistered):
        return f"CNS: {ev.person} registered by the fund of residence on {ev.registered_on}"
    if isinstance(ev, EntitlementUnregistered):
        return f"CNS: registration of {ev.person} no longer stands ({ev.why})"
    return None


def _exchange_line(x: Exchange) -> str:
    return f"{x.flow()} case {x.case} {x.status}"


async def _notify(observer: RunObserver | None, kind: str, value: Any) -> None:
    if observer is None:
        return
    result = observer(kind, value)
    if result is not None:
        await result


class _Run:
    def __init__(self, scenario: Scenario, net: LoopbackNetwork) -> None:
        self.s = scenario
        self.net = net
        self.enrolments: dict[str, Enrolment] = {}
        self.claims: dict[str, list[Reimbursement]] = {}
        self.insurers: dict[str, SupplementaryMock] = {}

    def _main_pin(self, params: dict[str, Any]) -> str:
        mains = self.s.household.main_insured
        wanted = params.get("main")
        for m in mains:
            if wanted is None or m.id == wanted:
                return m.pin
        raise ConfigError(f"no main insured {wanted!r}", code="scenario.invalid")

    def _case_at(self, ir_id: str, member: str, *bucs: str) -> str:
        found = [c for c in self.net.cases(ir_id, member) if not bucs or c[1] in bucs]
        if not found and ir_id != self.net.cns.id:
            # A fund may hold no record of a main insured: his S_BUC_01A case has the same ID
            # on both sides.
            theirs = {c[0] for c in self.net.cases(ir_id)}
            found = [
                c
                for c in self.net.cases(self.net.cns.id, member)
                if c[1] == "S_BUC_01A" and c[0] in theirs
            ]
        if not found:
            raise ConfigError(
                f"{ir_id} has no case about {member} yet",
                code="scenario.no-case",
                hint="start the case in an earlier step (request-entitlement)",
            )
        return found[-1][0]

    async def step(self, step: ScenarioStep) -> list[str]:
        p = dict(step.params)
        do = step.do
        hh = self.s.household.id
        notes: list[str] = []
        if do == "request-entitlement":
            await self.net[p["by"]].submit(
                RequestEntitlement(f"{hh}/{p['member']}", to=p.get("to"), start=p.get("start"))
            )
        elif do == "co-insurance-request":
            await self.net.cns.submit(
                CoInsuranceRequested(
                    self._main_pin(p), p["member"], Channel(p.get("channel", "form"))
                )
            )
        elif do == "provide-documents":
            for kind in p["documents"]:
                await self.net.cns.submit(
                    DocumentProvided(self._main_pin(p), p["member"], DocumentKind(kind))
                )
        elif do == "service-decision":
            await self.net.cns.submit(
                ServiceDecision(
                    self._main_pin(p),
                    p["member"],
                    p["approved"],
                    DocumentKind(p.get("kind", "cns_service_decision")),
                )
            )
        elif do == "issue-entitlement":
            await self.net.cns.submit(IssueEntitlement(hh, p["member"], p.get("to")))
        elif do == "withdraw-entitlement":
            case = self._case_at(self.net.cns.id, p["member"], "S_BUC_01", "S_BUC_01A")
            reason = p.get("reason", "entitlement document withdrawn by the CNS")
            await self.net.cns.submit(WithdrawEntitlement(case, reason))
        elif do in ("register", "reject", "invalidate", "clarify", "close"):
            case = self._case_at(p["by"], p["member"])
            command: Any
            if do == "register":
                command = RegisterEntitlement(case)
            elif do == "reject":
                command = RejectDocument(case, p.get("sed", "S072"))
            elif do == "invalidate":
                command = InvalidateDocument(case, p["sed"])
            elif do == "clarify":
                command = RequestClarification(
                    case, p.get("sed", "S072"), p.get("question", "Please confirm.")
                )
            else:
                command = CloseCase(case)
            await self.net[p["by"]].submit(command)
        elif do == "advance-clock":
            now = self.net.clock.advance(clock_delta(p, self.net.clock.now()))
            notes.append(f"clock: {now.isoformat()}")
        elif do == "tick":
            for ir_id in p.get("at", list(self.net.nodes)):
                await self.net[ir_id].tick()
        elif do == "supplementary-enrolment":
            notes.append(self._enrol(p))
        elif do == "supplementary-claim":
            notes.append(self._claim(p))
        await self.net.idle()
        return notes

    def _insurer(self, insurer: str) -> SupplementaryMock:
        """The run's mock of supplementary ``insurer``: it asks the running CNS (S2)."""
        mock = self.insurers.get(insurer)
        if mock is None:
            profile = self.net.mocks.profiles.get(insurer)
            if profile is None or profile.insurer is None:
                raise ConfigError(
                    f"{insurer} is not a supplementary insurer of the mock profiles",
                    code="scenario.unknown-insurer",
                    hint="use LU:CMCM0001 (eessi/mock/profiles/lu-cmcm-supplementary.toml)",
                )
            lookup = CnsEnrolment(lambda: self.net.cns_desk)
            mock = self.insurers[insurer] = SupplementaryMock(profile, lookup, self.net.clock)
        return mock

    def _person(self, member: str) -> str:
        """How the insurer names ``member``: the matricule of a main insured, else the CNS's
        ``household/member`` key."""
        for m in self.s.household.main_insured:
            if m.id == member:
                return m.pin
        return f"{self.s.household.id}/{member}"

    def _enrol(self, p: dict[str, Any]) -> str:
        mock = self._insurer(p["insurer"])
        enrolment = mock.enrol(
            self._person(p["member"]),
            Audience(p.get("audience", "resident")),
            product=p.get("product"),
        )
        self.enrolments[p["member"]] = enrolment
        verdict = "accepted" if enrolment.accepted else "refused"
        rules = ", ".join(dict.fromkeys(r.rule for r in enrolment.reasons))
        since = (
            f", reimbursable from {enrolment.reimbursable_from}"
            if enrolment.reimbursable_from
            else ""
        )
        return (
            f"{mock.profile.id}: enrolment of {p['member']} in {enrolment.product} {verdict}"
            f"{since} [{rules}]"
        )

    def _claim(self, p: dict[str, Any]) -> str:
        mock = self._insurer(p["insurer"])
        paid = mock.claim(
            self._person(p["member"]),
            Category(p["category"]),
            Decimal(str(p["cost"])),
            Decimal(str(p["cns_reimbursed"])),
        )
        self.claims.setdefault(p["member"], []).append(paid)
        rules = ", ".join(dict.fromkeys(r.rule for r in paid.reasons))
        why = "; ".join(f"{r.rule}: {r.explanation}" for r in paid.reasons)
        return (
            f"{mock.profile.id}: claim of {p['member']} for {paid.category.value} pays"
            f" {paid.amount}, left to pay {paid.left_to_pay} [{rules}] ({why})"
        )

    async def outside_answers(self, events: list[Event]) -> list[str]:
        """A bilateral fund taking part (R6, outside EESSI) answers the CNS's requests.

        For each :class:`DocumentsRequested` about a member whose former fund is a
        ``bilateral`` mock of the scenario's institutions, the fund provides the documents of
        the request that its profile lists (:func:`eessi.mock.outside.answer_requests`): they
        reach the CNS as documents handed in, since no SED goes to a country outside EESSI.
        """
        lines: list[str] = []
        for ev in events:
            if not isinstance(ev, DocumentsRequested):
                continue
            fund = self._former_fund(ev.member.member)
            if fund is None:
                continue
            provided = answer_requests(fund, ev, lambda _: self._main_pin({}))
            for doc in provided:
                await self.net.cns.submit(doc)
                lines.append(
                    f"{fund.id} (outside EESSI): provides {doc.kind.value}"
                    f" for {doc.member} [{ev.rule}]"
                )
        if lines:
            await self.net.idle()
        return lines

    def _former_fund(self, member_id: str) -> Profile | None:
        """The bilateral mock among the institutions that was ``member_id``'s former fund."""
        member = next((m for m in self.s.household.members if m.id == member_id), None)
        former = member.former_insurance if member is not None else None
        if former is None or former.fund_id not in self.s.institutions:
            return None
        profile = self.net.mocks.profiles.get(former.fund_id)
        if profile is None or profile.kind != "bilateral" or profile.country != former.country:
            return None
        return profile

    # ---- outcomes

    def members(self) -> dict[str, dict[str, Any]]:
        return member_outcomes(self.s, self.net)


def member_outcomes(scenario: Scenario, net: LoopbackNetwork) -> dict[str, dict[str, Any]]:
    """Each member's outcome at the CNS so far (``registered`` or the latest decision's), with
    its rules, main insured, start, what is missing and the reasons (``"R17: ..."``)."""
    regs = {ref.member: reg for ref, reg in net.cns_desk.registrations.items()}
    out: dict[str, dict[str, Any]] = {}
    for m in scenario.household.members:
        decision = net.decisions.get(m.id)
        reg = regs.get(m.id)
        if reg is not None:
            outcome = "registered"
        elif decision is not None:
            outcome = decision.outcome.value
        else:
            outcome = "none"
        out[m.id] = {
            "outcome": outcome,
            "rules": list(decision.rules if decision else reg.rules if reg else ()),
            "main_insured": reg.main_insured
            if reg
            else (decision.attaches_to if decision else None),
            "start": (reg.start if reg else decision.start if decision else None),
            "missing": [x.kind.value for x in decision.missing] if decision else [],
            "reasons": [f"{r.rule}: {r.explanation}" for r in decision.reasons] if decision else [],
        }
        if out[m.id]["start"] is not None:
            out[m.id]["start"] = out[m.id]["start"].isoformat()
    return out


def _check_messages(expect: Expectations, xs: list[Exchange]) -> list[Check]:
    expected = expect.messages
    if expected is None:
        return []
    checks: list[Check] = []
    if not expected:
        extra = ", ".join(x.flow() for x in xs)
        why = f"travelled: {extra}" if xs else ""
        return [Check("messages", "none over EESSI", not xs, "no document", f"{len(xs)}", why)]
    pos = 0
    for i, exp in enumerate(expected, start=1):
        subject = f"#{i} {exp.flow}"
        found: Exchange | None = None
        why = ""
        if expect.order == "exact":
            found = xs[i - 1] if i - 1 < len(xs) else None
            if found is None:
                why = f"only {len(xs)} document(s) travelled"
            elif found.flow() != exp.flow:
                why = f"document #{i} is {found.flow()}"
        else:
            while pos < len(xs) and xs[pos].flow() != exp.flow:
                pos += 1
            if pos < len(xs):
                found = xs[pos]
                pos += 1
            else:
                why = "not found after the previous expected document"
        ok = found is not None and not why
        if ok and found is not None:
            problems = []
            if exp.status and found.status != exp.status:
                problems.append(f"status is {found.status}, not {exp.status}")
            if exp.version and found.version != exp.version:
                problems.append(f"version is {found.version}, not {exp.version}")
            if exp.attempts is not None and found.attempts != exp.attempts:
                problems.append(f"{found.attempts} attempt(s), not {exp.attempts}")
            if exp.duplicates is not None and found.duplicates != exp.duplicates:
                problems.append(f"{found.duplicates} duplicate(s), not {exp.duplicates}")
            problems += [f"XPath does not hold: {x}" for x in exp.xpaths if not found.matches(x)]
            if problems:
                ok, why = False, "; ".join(problems)
        actual = "(nothing)" if found is None else f"{_exchange_line(found)} v{found.version}"
        checks.append(Check("message", subject, ok, exp.describe(), actual, why))
    if expect.order == "exact" and len(xs) > len(expected):
        extra = ", ".join(x.flow() for x in xs[len(expected) :])
        checks.append(
            Check(
                "messages",
                "no others",
                False,
                f"{len(expected)} document(s)",
                f"{len(xs)} document(s)",
                f"also travelled: {extra}",
            )
        )
    return checks


def _check_members(expect: Expectations, members: dict[str, dict[str, Any]]) -> list[Check]:
    checks: list[Check] = []
    for exp in expect.members:
        got = members[exp.member]
        problems = []
        wanted = []
        if exp.outcome is not None:
            wanted.append(exp.outcome)
            if got["outcome"] != exp.outcome:
                problems.append(f"outcome is {got['outcome']}, not {exp.outcome}")
        if exp.rules:
            wanted.append(f"rules {', '.join(exp.rules)}")
            absent = [r for r in exp.rules if r not in got["rules"]]
            if absent:
                problems.append(f"rules not cited: {', '.join(absent)}")
        if exp.main_insured is not None:
            wanted.append(f"with {exp.main_insured}")
            if got["main_insured"] != exp.main_insured:
                problems.append(f"main insured is {got['main_insured']}")
        if exp.start is not None:
            wanted.append(f"from {exp.start}")
            if got["start"] != exp.start.isoformat():
                problems.append(f"start is {got['start']}")
        if exp.missing is not None:
            wanted.append(f"missing {', '.join(exp.missing) or 'nothing'}")
            if sorted(set(got["missing"])) != sorted(set(exp.missing)):
                problems.append(f"missing is {', '.join(got['missing']) or 'nothing'}")
        actual = f"{got['outcome']} [{', '.join(got['rules'])}]"
        if got["main_insured"]:
            actual += f" with {got['main_insured']}"
        if got["start"]:
            actual += f" from {got['start']}"
        if got["missing"]:
            actual += f" missing {', '.join(got['missing'])}"
        checks.append(
            Check("member", exp.member, not problems, " ".join(wanted), actual, "; ".join(problems))
        )
    return checks


def _check_cases(expect: Expectations, net: LoopbackNetwork) -> list[Check]:
    checks: list[Check] = []
    for exp in expect.cases:
        subject = f"{exp.member} at {exp.at}" + (f" ({exp.buc})" if exp.buc else "")
        if exp.at not in net.nodes:
            checks.append(
                Check("case", subject, False, exp.state, "(not running)", f"{exp.at} not run")
            )
            continue
        found = [c for c in net.cases(exp.at, exp.member) if exp.buc is None or c[1] == exp.buc]
        actual = ", ".join(f"{cid} {buc} {state}" for cid, buc, state in found) or "(no case)"
        ok = bool(found) and found[-1][2] == exp.state
        why = "" if ok else ("no case about the member" if not found else "another state")
        checks.append(Check("case", subject, ok, exp.state, actual, why))
    return checks


def _check_supplementary(
    expect: Expectations,
    enrolments: dict[str, Enrolment],
    claims: dict[str, list[Reimbursement]],
) -> list[Check]:
    checks: list[Check] = []
    for exp in expect.supplementary:
        got = enrolments.get(exp.member)
        if got is None:
            checks.append(
                Check("supplementary", exp.member, False, "an enrolment", "(none)", "no step")
            )
            continue
        paid = [str(c.amount) for c in claims.get(exp.member, [])]
        reasons = [*got.reasons, *(r for c in claims.get(exp.member, []) for r in c.reasons)]
        rules = list(dict.fromkeys(r.rule for r in reasons))
        problems = []
        if exp.accepted is not None and got.accepted != exp.accepted:
            problems.append(f"accepted is {got.accepted}")
        absent = [r for r in exp.rules if r not in rules]
        if absent:
            problems.append(f"rules not cited: {', '.join(absent)}")
        if exp.reimbursable_from is not None and got.reimbursable_from != exp.reimbursable_from:
            problems.append(f"reimbursable from {got.reimbursable_from}")
        if exp.product is not None and got.product != exp.product:
            problems.append(f"product is {got.product}")
        if exp.paid is not None and tuple(paid) != exp.paid:
            problems.append(f"paid {', '.join(paid) or 'no claim'}")
        expected = f"accepted={exp.accepted} rules {', '.join(exp.rules)}"
        if exp.paid is not None:
            expected += f" paid {', '.join(exp.paid)}"
        actual = f"accepted={got.accepted} [{', '.join(rules)}] from {got.reimbursable_from}"
        if paid:
            actual += f" paid {', '.join(paid)}"
        checks.append(
            Check("supplementary", exp.member, not problems, expected, actual, "; ".join(problems))
        )
    return checks


def _checks(
    expect: Expectations,
    xs: list[Exchange],
    members: dict[str, dict[str, Any]],
    net: LoopbackNetwork,
    enrolments: dict[str, Enrolment],
    claims: dict[str, list[Reimbursement]],
) -> list[Check]:
    return (
        _check_messages(expect, xs)
        + _check_members(expect, members)
        + _check_cases(expect, net)
        + _check_supplementary(expect, enrolments, claims)
    )


async def run_scenario(
    scenario: Scenario,
    *,
    workdir: str | Path | None = None,
    observer: RunObserver | None = None,
    transport: Literal["twin", "http"] | TransportFactory = "twin",
) -> ScenarioReport:
    """Play ``scenario`` and check its expectations (see the module docstring); ``transport``:
    the in-memory twin (no port), loopback HTTP, or a transport factory on loopback (AS4)."""
    with tempfile.TemporaryDirectory(prefix="eessi-scenario-") as tmp:
        where = Path(workdir) if workdir is not None else Path(tmp)
        return await _run(scenario, where, observer, transport)


async def _run(
    scenario: Scenario,
    where: Path,
    observer: RunObserver | None,
    transport: Literal["twin", "http"] | TransportFactory = "twin",
) -> ScenarioReport:
    net = LoopbackNetwork(
        scenario.institutions,
        [scenario.household],
        workdir=where,
        start=scenario.start,
        seed=scenario.seed,
        behaviours=scenario.behaviours,
        transport=transport,
    )
    results: list[StepResult] = []
    try:
        await net.start()
    except EessiError as exc:
        return ScenarioReport(
            scenario.name, scenario.title, scenario.source, scenario.rules, (), (), (),
            error=str(exc),
        )  # fmt: skip
    try:
        await _notify(observer, "start", net)
        run = _Run(scenario, net)
        seen = 0
        failed = False
        step_checks: list[Check] = []
        for step in scenario.steps:
            if failed:
                results.append(StepResult(step.index, step.title, "skipped"))
                continue
            net.next_round()
            await _notify(observer, "begin", step)
            status: Any = "passed"
            why = ""
            notes: list[str] = []
            try:
                notes = await run.step(step)
            except EessiError as exc:
                status, why, failed = "failed", str(exc), True
            except TimeoutError:
                status, failed = "failed", True
                why = "the network did not settle within 20 s (a long mock delay?)"
            xs = await net.exchanges()
            new = xs[seen:]
            seen = len(xs)
            for x in new:
                await _notify(observer, "message", x)
            happened = [_exchange_line(x) for x in new]
            events = net.drain_cns_events()
            while events:
                happened += [line for ev in events if (line := _event_line(ev))]
                answered = await run.outside_answers(events)
                happened += answered
                events = net.drain_cns_events() if answered else []
            happened += notes
            if step.expect is not None and status == "passed":
                found = _checks(step.expect, new, run.members(), net, run.enrolments, run.claims)
                step_checks += [
                    dataclasses.replace(ck, kind=f"after step {step.index}: {ck.kind}")
                    for ck in found
                ]
            result = StepResult(
                step.index, step.title, status, why, tuple(happened), net.clock.now().isoformat()
            )
            results.append(result)
            await _notify(observer, "step", result)
        xs = await net.exchanges()
        members = run.members()
        checks = step_checks + _checks(
            scenario.expect, xs, members, net, run.enrolments, run.claims
        )
        return ScenarioReport(
            scenario.name,
            scenario.title,
            scenario.source,
            scenario.rules,
            tuple(results),
            tuple(checks),
            tuple(xs),
            members,
        )
    finally:
        await net.stop()
