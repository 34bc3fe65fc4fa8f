"""The CNS desk and a family member's former fund (R5): the S040 out, the S041 in.

A request for a member arrived from an R5 country and insured there personally makes the
decision wait for an S041 (``Action.SEND_S040``): the desk opens an S_BUC_24 case with the
former fund (``FormerInsurance.fund_id``) and sends an S040 asking for the periods of insurance
of ``CnsParams.s040_lookback`` before the arrival (or the end of that insurance). The S041 in
effect in that case is a fact of the next decision (:func:`s041_fact`): its reply and the end of
the last period it confirms.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from eessi.core.buc_table import CaseState
from eessi.core.desk import CaseFile
from eessi.core.facts import DocumentKind, Fact, S041Reply, S041Summary
from eessi.core.mapping import SICKNESS_SECTOR, member_person
from eessi.core.messages import MemberRef
from eessi.sed.catalogue import Role
from eessi.sed.documents import S040, S041, BenefitType, PeriodKind
from eessi.sed.documents import S041Reply as SedS041Reply
from eessi.sed.model import FixedPeriod, Institution, Pin

if TYPE_CHECKING:
    from eessi.core.cns import CnsRun

__all__ = ["s041_fact", "send_s040"]


def send_s040(run: CnsRun, ref: MemberRef, fund_id: str) -> None:
    """Open an S_BUC_24 case with the former fund ``fund_id`` and send the S040 (R5), unless
    a case with it is already awaiting the S041 or completed (the S041 then decides)."""
    for cf in run.cases_of_household(ref.household):
        if (
            cf.member == ref
            and cf.buc == "S_BUC_24"
            and cf.peer == fund_id
            and cf.state in (CaseState.AWAITING_REPLY, CaseState.COMPLETED)
        ):
            return  # already asked (or answered: the S041 decides)
    entry, member = run.entry_member(ref)
    former = member.former_insurance
    assert former is not None
    assert former.foreign_number is not None
    name = run.p.institution_names.get(fund_id, fund_id)
    foreign = Pin(
        country=former.country,
        number=former.foreign_number,
        sector=SICKNESS_SECTOR,
        institution=Institution(id=fund_id, name=name[:155]),
    )
    person = member_person(
        member,
        run.desk.institution,
        sex=entry.sex(member.id),
        pin=entry.member_pins.get(member.id),
        extra_pins=(foreign,),
    )
    end = former.until or member.arrived_on or run.today
    s040 = S040(
        person=person,
        benefit=BenefitType.SICKNESS,
        period_kinds=(PeriodKind.INSURANCE,),
        requested_periods=(FixedPeriod(start=end - run.p.s040_lookback, end=end),),
        additional_information=(
            f"R5: co-insurance of a family member arrived from {former.country}; "
            "please confirm the periods of insurance up to the arrival in Luxembourg"
        ),
    )
    case_id = run.tx.ids.case_id("LU")
    run.tx.open("S_BUC_24", Role.CASE_OWNER, case_id, fund_id, member=ref)
    run.index[ref.household] = (*run.index.get(ref.household, ()), case_id)
    run.tx.send(case_id, s040)


def s041_fact(cf: CaseFile, member: str) -> Fact | None:
    """The S041 in effect in the S_BUC_24 case ``cf``, as a fact about ``member`` (R5)."""
    s041 = cf.in_effect("S041")
    if s041 is None or not isinstance(s041[1], S041):
        return None
    return Fact(
        DocumentKind.S041,
        member=member,
        institution=cf.peer,
        on=s041[0].at.date(),
        s041=_summary(s041[1]),
    )


def _summary(s041: S041) -> S041Summary:
    """What R5 needs from an S041: the reply and the end of the last insurance period."""
    reply = S041Reply(s041.reply.value)
    ends: list[date] = []
    open_ended = False
    for ip in s041.insurance_periods:
        if isinstance(ip.period, FixedPeriod):
            ends.append(ip.period.end)
        elif ip.period is not None:
            open_ended = True
    until = None if open_ended or not ends else max(ends)
    return S041Summary(reply, until)


# The SED's reply list and the rules' reply list share their codes.
assert {r.value for r in SedS041Reply} == {r.value for r in S041Reply}
