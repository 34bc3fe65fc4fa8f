"""The CNS desk sending the S072 unasked (S_BUC_01A, the CNS is the case owner).

:class:`~eessi.core.messages.IssueEntitlement` opens an S_BUC_01A case with the fund of the person's
country of residence (``to``, else ``CnsParams.residence_funds``, else the only institution of that
country the CNS knows) and sends a confirmed S072 (:class:`~eessi.core.messages.EntitlementIssued`):

- for a main insured living abroad (a cross-border worker, R12/R13 context): ``StatusPerson``
  insured person (pensioner for a CNAP pensioner), open period from the affiliation start (fixed
  when the affiliation has an end). No R-rule of the sources covers the insured's own S072; the
  event cites the EESSI fact "one S072 per person" (``S072``) and R12/R13 as context only;
- for a family member only when the CNS's decision, taking the S072 and S073 as exchanged (as when
  it answers an S071), is eligible; otherwise a :class:`~eessi.errors.DomainError` names the outcome
  and its rules. A member's registration then follows the decision as on every other path (the S073
  in effect is a derived fact).

One S072 per person: while a confirmed S072 of the CNS is in effect for the person in an open case
(S_BUC_01 or S_BUC_01A), a second one is refused; after an X008 or X011 the same case carries the
new S072. When the fund's S073 confirming the registration is in effect together with our S072, the
entitlement is registered (:class:`~eessi.core.messages.EntitlementRegistered`); when either goes
out of effect, :class:`~eessi.core.messages.EntitlementUnregistered` (once each way,
``CnsState.entitlements``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from eessi.core.buc_table import CaseState, Direction
from eessi.core.desk import CaseFile
from eessi.core.eligibility import Action
from eessi.core.facts import DocumentKind as _D
from eessi.core.facts import Fact
from eessi.core.mapping import entitlement_parts, insured_entitlement_parts, main_insured_status
from eessi.core.messages import (
    EntitlementIssued,
    EntitlementRegistered,
    EntitlementUnregistered,
    IssueEntitlement,
    MemberRef,
)
from eessi.errors import DomainError
from eessi.sed.catalogue import Role
from eessi.sed.documents import S072, S073, StatusFamilyMember, StatusPerson
from eessi.sed.model import FixedPeriod, OpenPeriod, OpenPeriodType

if TYPE_CHECKING:
    from eessi.core.cns import CnsRun

__all__ = ["follow_entitlement", "issue"]


def issue(run: CnsRun, ev: IssueEntitlement) -> None:
    """Open an S_BUC_01A case with the fund of residence and send the S072 (module doc)."""
    entry = run.desk.registry.entry(ev.household)
    household, cns = entry.household, run.desk.institution
    who = f"{entry.key}/{ev.person}"
    mains = {m.id: m for m in household.main_insured}
    ref: MemberRef | None = None
    status: StatusPerson | StatusFamilyMember
    if ev.person in mains:
        main = mains[ev.person]
        country = main.country_of_residence
        _abroad(who, country)
        if not main.affiliated_on(run.today):
            raise DomainError(
                f"no S072 for {who}: the main insured is not affiliated on {run.today}",
                where=f"household {entry.key}",
                hint="an S072 confirms an entitlement from the affiliation with the CCSS",
                code="domain.not-affiliated",
            )
        to = _residence_fund(run, who, country, ev.to)
        try:
            person, address, status = insured_entitlement_parts(entry, main.id, cns)
        except ValueError as exc:
            raise _no_address(who, exc) from None
        start, end = main.affiliated_since, main.affiliation_end
        rules: tuple[str, ...] = ("R12", "R13", "S072")
        note = (
            "no rule of the sources covers the insured's own S072: R12/R13 only give the "
            "context (a cross-border worker known to the fund of residence); S072 is the "
            "EESSI fact 'one S072 per person', open from the affiliation start"
        )
    else:
        member = household.member(ev.person)  # DomainError if unknown
        ref = MemberRef(entry.key, member.id)
        country = member.country_of_residence
        _abroad(who, country)
        to = _residence_fund(run, who, country, ev.to)
        extra = (
            Fact(_D.S072, member=ref.member, on=run.today),
            Fact(_D.S073, member=ref.member, institution=to, on=run.today),
        )
        what_if = run.decide(ref, run.facts_of(ref.household).with_(*extra))
        if not what_if.eligible:
            outcome = what_if.outcome.value.replace("_", " ")
            raise DomainError(
                f"no S072 for {who}: the CNS's decision is {outcome} "
                f"({', '.join(what_if.rules)}), even with the S072 and S073 exchanged",
                where=f"household {entry.key}",
                hint=(
                    "for a family member the fund of residence must ask first (S071 in "
                    "S_BUC_01, R13/R17); the CNS answers it there"
                    if any(m.action is Action.WAIT_FOR_S071 for m in what_if.missing)
                    else "an S072 is sent unasked for a family member only when the "
                    "decision is eligible; see the decision's reasons and missing items"
                ),
                code="domain.not-eligible",
                details={"outcome": what_if.outcome.value, "rules": list(what_if.rules)},
            )
        assert what_if.attaches_to is not None
        assert what_if.start is not None
        try:
            person, address, _ = entitlement_parts(entry, member.id, cns)
        except ValueError as exc:
            raise _no_address(who, exc) from None
        main = household.main(what_if.attaches_to)
        status = main_insured_status(main, entry.address, cns, entry.sex(main.id))
        start, end = what_if.start, what_if.end
        rules = what_if.rules
        note = "the decision is eligible once the S072 and S073 are exchanged"
    case_id = _one_per_person(run, entry.key, who, ref, to)
    if case_id is None:
        case_id = run.tx.ids.case_id("LU")
        run.tx.open("S_BUC_01A", Role.CASE_OWNER, case_id, to, member=ref, person=who)
        run.index[entry.key] = (*run.index.get(entry.key, ()), case_id)
    else:
        run.tx.update(case_id, suspended=False)
    period: OpenPeriod | FixedPeriod = (
        OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=start)
        if end is None
        else FixedPeriod(start=start, end=end)
    )
    s072 = S072(person=person, address=address, status=status, confirmed=True, period=period)
    doc_id = run.tx.send(case_id, s072)[0]
    run.tx.emit(EntitlementIssued(case_id, doc_id, who, to, start, end, rules, note))


def _abroad(who: str, country: str) -> None:
    if country == "LU":
        raise DomainError(
            f"no S072 for {who}: the person lives in Luxembourg, where the CNS is itself "
            "the fund of residence",
            hint="an S072 goes to the fund of the person's country of residence (S_BUC_01A)",
            code="domain.not-abroad",
        )


def _residence_fund(run: CnsRun, who: str, country: str, to: str | None) -> str:
    fund = to or run.p.residence_funds.get(country)
    if fund is None:
        known = sorted(i for i in run.p.institution_names if i.startswith(f"{country}:"))
        fund = known[0] if len(known) == 1 else None
    if fund is None:
        raise DomainError(
            f"no S072 for {who}: no single fund of residence known for {country}",
            hint="give the fund's IR ID (to) or set CnsParams.residence_funds",
            code="domain.no-residence-fund",
        )
    if fund.split(":", 1)[0] != country:
        raise DomainError(
            f"no S072 for {who}: {fund} is not an institution of {country}, the country "
            "of residence",
            hint="the S072 goes to the fund of the person's country of residence",
            code="domain.wrong-residence-fund",
        )
    return fund


def _no_address(who: str, exc: ValueError) -> DomainError:
    return DomainError(
        f"no S072 for {who}: no address in the country of residence ({exc})",
        hint="give the household (or the member) an address in an EU/EFTA country",
        code="domain.no-address",
    )


def _one_per_person(
    run: CnsRun, household: str, who: str, ref: MemberRef | None, to: str
) -> str | None:
    """One S072 per person: refuse a second one in effect; the case to send it in again
    (after an X008 or X011), or ``None`` for a new case."""
    again: str | None = None
    for cf in run.cases_of_household(household):
        if (cf.member != ref if ref is not None else cf.person != who) or (
            cf.state is CaseState.CLOSED
        ):
            continue
        found = cf.in_effect("S072")
        if (
            found is not None
            and found[0].direction is Direction.SEND
            and isinstance(found[1], S072)
            and found[1].confirmed
        ):
            raise DomainError(
                f"no second S072 for {who}: the S072 of case {cf.case_id} is in effect "
                "(one S072 per person)",
                where=f"case {cf.case_id}",
                hint="withdraw it first (X008) if it must be replaced",
                code="domain.already-issued",
                details={"case_id": cf.case_id},
            )
        if (
            again is None
            and cf.buc == "S_BUC_01A"
            and cf.peer == to
            and cf.state in (CaseState.REJECTED, CaseState.WITHDRAWN)
        ):
            again = cf.case_id
    return again


def follow_entitlement(run: CnsRun, cf: CaseFile) -> None:
    """Keep ``entitlements`` in line with what is in effect in an S_BUC_01A case we own."""
    if cf.buc != "S_BUC_01A" or cf.person is None:
        return
    s072 = cf.in_effect("S072")
    s073 = cf.in_effect("S073")
    on: date | None = None
    registered = False
    if (
        s072 is not None
        and isinstance(s072[1], S072)
        and s072[1].confirmed
        and s073 is not None
        and isinstance(s073[1], S073)
    ):
        registered = s073[1].registered
        on = s073[1].registration_date
    was = cf.case_id in run.entitlements
    if registered and not was:
        run.entitlements[cf.case_id] = on
        run.tx.emit(EntitlementRegistered(cf.case_id, cf.person, on))
    elif was and not registered:
        del run.entitlements[cf.case_id]
        why = (
            "the S072 of the CNS is no longer in effect (invalidated or rejected)"
            if s072 is None
            else "the fund's S073 confirming the registration is no longer in effect"
        )
        run.tx.emit(EntitlementUnregistered(cf.case_id, cf.person, why))
