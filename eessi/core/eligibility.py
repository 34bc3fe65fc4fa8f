"""Eligibility for co-insurance: one pure function, :func:`decide`, and what it returns.

Theory of operation
-------------------
``decide(household, member, on=day, facts=facts)`` looks at one family member on one day, given
what the CNS has learnt so far (:class:`~eessi.core.facts.Facts`), and returns a
:class:`Decision`:

- ``ELIGIBLE`` with the main insured it attaches to (``attaches_to``), a ``start`` date and an
  optional ``end`` date;
- ``NOT_ELIGIBLE``, the last reason saying which rule refused and why;
- ``PENDING`` with ``missing``: what blocks the decision **now**, each item saying what, from
  whom, under which rule, and an :class:`Action` the process can turn into a request or a
  message. Items that can only come later (an S073 before the S071 has arrived) appear once the
  earlier ones are satisfied.

Every decision lists, in order of application, the rules (R1..R18) that produced it with a
one-line explanation each. An eligible decision always cites R1.

The rules are applied in this order (each step may refuse, which ends the decision):

1. R2 who may be co-insured (relation, child kind, tax moderation, registered partnership);
   R1 the member is not personally insured in Luxembourg.
2. R1/R10 the anchor: a main insured validly affiliated on the day; for a child, among the
   parents it lives with or who maintain it, the **older**. Tie-break when both parents were
   born the same day: the parent the child lives with, then the lower matricule (PIN).
3. By where the anchor and the member live:

   ============================  ====================  ==================================
   main insured lives in         member lives in       path
   ============================  ====================  ==================================
   LU                            LU                    resident: R3-R9, R11, R15
   LU                            abroad                R17 (S071 from the fund of residence)
   abroad                        LU                    R18 (the CNS service decides)
   BE                            BE                    R12, R16 (BL1 / BL6), R15
   abroad                        abroad                R12-R15 (S071, S072, S073)
   ============================  ====================  ==================================

   *(sim)* A family abroad in another country than the cross-border worker follows R12-R15
   with the fund of the member's country of residence. On the paths where the family lives
   abroad, the law of the country of residence decides who is a family member (R13), so the
   age and resources limits of R9/R11 are applied only where the member lives in Luxembourg.

Start date *(sim)*: the latest of the anchor's affiliation start, the member's birth, the
marriage/partnership date, the arrival in Luxembourg, and the day after the end of any former
insurance (own Luxembourg affiliation, S041's last insured day, ``former_insurance.until``).
End date: the anchor's affiliation end and, for a child under the R9 limit living in
Luxembourg, the day before the 30th birthday (whichever is earlier).

Ages are counted on the exact day: "up to and including 29" means until the day before the
30th birthday; on that birthday R11 applies. 29 February birthdays fall on 1 March in common
years (:func:`eessi.core.household.birthday`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Any, Final, NoReturn

from eessi.core.countries import LUXEMBOURG
from eessi.core.facts import DocumentKind, Fact, Facts, S041Reply
from eessi.core.household import (
    ChildKind,
    FamilyMember,
    Household,
    InsuranceBasis,
    MainInsured,
    MainInsuredKind,
    Relation,
    age_on,
    birthday,
)
from eessi.core.rules import DEFAULT_PARAMETERS, RuleApplication, RuleParameters
from eessi.errors import DomainError
from eessi.quick_init import quick_init

__all__ = [
    "Action",
    "Decision",
    "Missing",
    "Outcome",
    "Party",
    "decide",
    "decide_all",
    "decide_answering",
]

D = DocumentKind


class Outcome(Enum):
    """The three answers a decision can give."""

    #: Co-insured with ``attaches_to`` from ``start``.
    ELIGIBLE = "eligible"
    #: A rule refuses co-insurance (the last reason says which).
    NOT_ELIGIBLE = "not_eligible"
    #: Something is missing; see ``missing``.
    PENDING = "pending"


class Party(Enum):
    """Who must provide a missing item."""

    #: The main insured (documents, a request, the former fund's details).
    MAIN_INSURED = "main_insured"
    #: The family member (a declaration on honour).
    FAMILY_MEMBER = "family_member"
    #: The CCSS (the exit notice).
    CCSS = "ccss"
    #: The Luxembourg civil register (Parquet général) (R8).
    CIVIL_REGISTER = "civil_register"
    #: The member's former foreign fund (S041 over EESSI).
    FORMER_FUND = "former_fund"
    #: The fund of the member's country of residence (S071, S073).
    RESIDENCE_FUND = "residence_fund"
    #: The Belgian mutual insurer (BL1, BL6).
    BELGIAN_MUTUAL = "belgian_mutual"
    #: The CNS itself: Service Coassurance et signalétique (authorisation, R18 decision).
    CNS_SERVICE = "cns_service"


class Action(Enum):
    """What the process should do about a missing item."""

    #: Write to the main insured asking for the item.
    ASK_MAIN_INSURED = "ask_main_insured"
    #: Send an S040 to the former fund over EESSI (it answers with the S041).
    SEND_S040 = "send_s040"
    #: Send the declaration on honour to the family member to complete.
    SEND_DECLARATION_ON_HONOUR = "send_declaration_on_honour"
    #: Nothing to send: wait for the CCSS exit notice.
    WAIT_FOR_CCSS = "wait_for_ccss"
    #: Nothing to send: the request must come from the fund of residence over EESSI.
    WAIT_FOR_S071 = "wait_for_s071"
    #: Send the S072 to the fund of residence (then wait for its S073).
    SEND_S072 = "send_s072"
    #: The S072 was sent; wait for the S073.
    WAIT_FOR_S073 = "wait_for_s073"
    #: Send the BL1 to the insured or to the Belgian mutual insurer, then wait for it back.
    SEND_BL1 = "send_bl1"
    #: Wait for the Belgian mutual insurer's BL6.
    WAIT_FOR_BL6 = "wait_for_bl6"
    #: Hand the case to the CNS Service Coassurance et signalétique for a decision.
    REFER_TO_SERVICE = "refer_to_service"


@quick_init
@dataclass(frozen=True, slots=True)
class Missing:
    """One item a pending decision waits for."""

    #: What is missing.
    kind: DocumentKind
    #: Rule that requires it (``"R5"``).
    rule: str
    #: Who must provide it.
    from_party: Party
    #: What the process should do.
    action: Action
    #: One line for a human ("ask DE:TKK00001 for the S041 of lea").
    hint: str
    #: IR ID of the institution concerned, when there is one (former fund, fund of residence).
    institution: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "rule": self.rule,
            "from": self.from_party.value,
            "institution": self.institution,
            "action": self.action.value,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        who = self.from_party.value + (f" {self.institution}" if self.institution else "")
        return f"{self.kind.value} from {who} ({self.rule}, {self.action.value}): {self.hint}"


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one family member on one day. See the module docstring."""

    #: ``FamilyMember.id``.
    member: str
    outcome: Outcome
    #: The day the decision is about.
    on: date
    #: Rules applied, in order, with their one-line explanations.
    reasons: tuple[RuleApplication, ...]
    #: What a pending decision waits for (empty otherwise).
    missing: tuple[Missing, ...] = ()
    #: ``MainInsured.id`` the member is co-insured with (eligible only).
    attaches_to: str | None = None
    #: First day of co-insurance (eligible only).
    start: date | None = None
    #: Last day of co-insurance if already known (eligible only).
    end: date | None = None

    @property
    def rules(self) -> tuple[str, ...]:
        """Rule IDs cited, in order, each once."""
        return tuple(dict.fromkeys([r.rule for r in self.reasons]))

    @property
    def eligible(self) -> bool:
        return self.outcome is Outcome.ELIGIBLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "on": self.on.isoformat(),
            "outcome": self.outcome.value,
            "attaches_to": self.attaches_to,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "missing": [m.to_dict() for m in self.missing],
            "rules": list(self.rules),
            "reasons": [r.to_dict() for r in self.reasons],
        }

    def render(self) -> str:
        """A readable multi-line report."""
        head = f"{self.member}: {self.outcome.value.upper().replace('_', ' ')} on {self.on}"
        lines = [head]
        if self.outcome is Outcome.ELIGIBLE:
            until = f" until {self.end}" if self.end else ""
            lines.append(f"  co-insured with {self.attaches_to} from {self.start}{until}")
        if self.missing:
            lines.append("  missing:")
            lines.extend(f"    - {m}" for m in self.missing)
        lines.append("  rules:")
        lines.extend(f"    {r.rule:>4}  {r.explanation}" for r in self.reasons)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


# ---------------------------------------------------------------------------------------------


class _Refused(DomainError):
    """Internal: a rule refused; carries the finished decision out of the nested checks."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.member)
        self.decision = decision


def _by_value(kind: DocumentKind) -> str:
    return kind.value


class _Ctx:
    """Accumulates reasons, missing items and start-date candidates for one decision."""

    def __init__(
        self, household: Household, member: FamilyMember, on: date, facts: Facts, p: RuleParameters
    ) -> None:
        self.household = household
        self.m = member
        self.on = on
        self.p = p
        # Documents listed on the member count as facts received about that member.
        self.facts = (
            facts.with_(
                *(Fact(k, member=member.id) for k in sorted(member.documents, key=_by_value))
            )
            if member.documents
            else facts
        )
        self.reasons: list[RuleApplication] = []
        self.missing: list[Missing] = []
        self.starts: list[date] = [member.date_of_birth]
        self.ends: list[date] = []

    def apply(self, rule_id: str, text: str) -> None:
        self.reasons.append(RuleApplication(rule_id, text))

    def refuse(self, rule_id: str, text: str) -> NoReturn:
        self.apply(rule_id, text)
        raise _Refused(Decision(self.m.id, Outcome.NOT_ELIGIBLE, self.on, tuple(self.reasons)))

    def need(
        self,
        kind: DocumentKind,
        rule_id: str,
        party: Party,
        action: Action,
        hint: str,
        institution: str | None = None,
    ) -> None:
        self.missing.append(Missing(kind, rule_id, party, action, hint, institution))

    def has(self, kind: DocumentKind) -> bool:
        return self.facts.has(kind, self.m.id)

    def latest(self, kind: DocumentKind) -> Fact | None:
        return self.facts.latest(kind, self.m.id)

    def finish(self, anchor: MainInsured) -> Decision:
        if self.missing:
            return Decision(
                self.m.id, Outcome.PENDING, self.on, tuple(self.reasons), tuple(self.missing)
            )
        return self.eligible(anchor, tuple(self.reasons))

    def eligible(self, anchor: MainInsured, reasons: tuple[RuleApplication, ...]) -> Decision:
        """ELIGIBLE with ``anchor``, citing ``reasons``, from the dates gathered so far."""
        ends = self.ends
        if anchor.affiliation_end is not None:
            ends = [*ends, anchor.affiliation_end]
        return Decision(
            self.m.id,
            Outcome.ELIGIBLE,
            self.on,
            reasons,
            attaches_to=anchor.id,
            start=max(*self.starts, anchor.affiliated_since),
            end=min(ends) if ends else None,
        )


def decide(
    household: Household,
    member: str | FamilyMember,
    *,
    on: date,
    facts: Facts | None = None,
    params: RuleParameters = DEFAULT_PARAMETERS,
) -> Decision:
    """Decide whether ``member`` (an ID or a member of ``household``) is co-insured on ``on``.

    Pure: the same arguments always give the same :class:`Decision`. Raises
    :class:`~eessi.errors.DomainError` only for a member not in the household or a
    threshold table that has no amount on ``on``.
    """
    return _decide(household, member, on, facts, params)[0]


def decide_answering(
    household: Household,
    member: str | FamilyMember,
    *,
    on: date,
    facts: Facts | None = None,
    params: RuleParameters = DEFAULT_PARAMETERS,
) -> tuple[Decision, Decision | None]:
    """:func:`decide`, and when that decision waits only for the CNS to send the S072
    (R14/R17, ``Action.SEND_S072``) also the decision the CNS answers with: the one
    :func:`decide` gives once the S072 is sent and the S073 received (those two facts added),
    else ``None``.

    One evaluation gives both (D410): the S072 and S073 facts are read only by the last step of
    the R14 and R17 paths, so with them the rules apply the same reasons up to that step, then
    "S073 received" where the pending decision asks for the S073, and nothing is missing."""
    return _decide(household, member, on, facts, params, answering=True)


def _decide(
    household: Household,
    member: str | FamilyMember,
    on: date,
    facts: Facts | None,
    params: RuleParameters,
    *,
    answering: bool = False,
) -> tuple[Decision, Decision | None]:
    m = household.member(member if isinstance(member, str) else member.id)
    ctx = _Ctx(household, m, on, facts or Facts(), params)
    try:
        _who(ctx)
        anchor = _anchor(ctx)
        decision = _route(ctx, anchor)
    except _Refused as refused:
        return refused.decision, None
    if not answering or len(ctx.missing) != 1 or ctx.missing[0].action is not Action.SEND_S072:
        return decision, None
    # The pending decision's only item is _s072_s073's (the last step of its path, where
    # nothing else was missing): with the S073 in, that step applies "S073 received" instead.
    received = RuleApplication(ctx.missing[0].rule, _S073_RECEIVED)
    return decision, ctx.eligible(anchor, (*decision.reasons, received))


def decide_all(
    household: Household,
    *,
    on: date,
    facts: Facts | None = None,
    params: RuleParameters = DEFAULT_PARAMETERS,
) -> tuple[Decision, ...]:
    """:func:`decide` for every member, in household order."""
    return tuple(decide(household, m, on=on, facts=facts, params=params) for m in household.members)


# --- step 1: who may be co-insured (R2, R8 registration, R1 not personally insured) ----------


def _who(ctx: _Ctx) -> None:
    m = ctx.m
    if m.date_of_birth > ctx.on:
        ctx.refuse("R2", f"born on {m.date_of_birth}, after {ctx.on}: not yet a family member")
    if m.relation is Relation.OTHER:
        ctx.refuse("R2", "not a spouse, partner or child: cannot be co-insured")
    if m.relation is Relation.CHILD:
        assert m.child_kind is not None  # guaranteed by FamilyMember
        if m.child_kind is ChildKind.TAKEN_IN and not m.tax_moderation:
            ctx.refuse("R2", "child taken in without a tax moderation for it: not a child of R2")
        ctx.apply("R2", f"{m.child_kind.value} child: may be co-insured")
    elif m.relation is Relation.PARTNER:
        if m.partnership_registered_in is None:
            ctx.refuse("R2", "partnership not registered (no civil union / PACS): not a partner")
        ctx.apply("R2", f"partner, partnership registered in {m.partnership_registered_in}")
    else:
        ctx.apply("R2", "spouse: may be co-insured")
    former = m.former_insurance
    if former is not None and former.country == LUXEMBOURG:
        if former.until is None or former.until >= ctx.on:
            ctx.refuse("R1", "still personally insured in Luxembourg: cannot be co-insured")
        ctx.starts.append(former.until + timedelta(days=1))
    if m.relation_since is not None:
        ctx.starts.append(m.relation_since)


# --- step 2: the anchor (R1, R10) -----------------------------------------------------------


def _anchor(ctx: _Ctx) -> MainInsured:
    m = ctx.m
    related = ctx.household.related_main_insured(m)
    if m.relation is Relation.CHILD:
        qualifying = [p for p in related if p.id in m.lives_with or p.id in m.maintained_by]
        if not qualifying:
            ctx.refuse("R10", "lives with no main insured and none provides maintenance")
    else:
        qualifying = list(related)
    valid = [p for p in qualifying if p.affiliated_on(ctx.on)]
    for p in qualifying:
        if p not in valid:
            ctx.apply("R1", _not_affiliated(p, ctx.on))
    if not valid:
        ctx.refuse("R1", "no main insured is validly affiliated on this day")
    if len(valid) == 1:
        anchor = valid[0]
        if m.relation is Relation.CHILD:
            ctx.apply("R10", f"co-insured with {anchor.id} only ({_link(m, anchor)})")
    else:
        anchor = min(valid, key=lambda p: (p.date_of_birth, p.id not in m.lives_with, p.pin))
        other = next(p for p in valid if p is not anchor)
        if anchor.date_of_birth < other.date_of_birth:
            why = (
                f"the older parent (born {anchor.date_of_birth}; {other.id} {other.date_of_birth})"
            )
        elif (anchor.id in m.lives_with) != (other.id in m.lives_with):
            why = f"both born {anchor.date_of_birth}: tie-break, the parent the child lives with"
        else:
            why = f"both born {anchor.date_of_birth}: tie-break, the lower matricule ({anchor.pin})"
        ctx.apply("R10", f"both parents qualify; co-insured with {anchor.id}, {why}")
    kind = "CNAP pensioner" if anchor.kind is MainInsuredKind.CNAP_PENSIONER else "worker"
    ctx.apply(
        "R1",
        f"anchored on the affiliation of {anchor.id} ({kind}, affiliated since "
        f"{anchor.affiliated_since}): co-insurance derives from it and is free",
    )
    return anchor


def _not_affiliated(p: MainInsured, on: date) -> str:
    if on < p.affiliated_since:
        return f"{p.id} is affiliated only from {p.affiliated_since}: not an anchor on {on}"
    notice = "exit notice received" if p.exit_notice_received else "no exit notice yet"
    return f"{p.id}'s affiliation ended on {p.affiliation_end} ({notice}): not a valid anchor"


def _link(m: FamilyMember, p: MainInsured) -> str:
    parts = []
    if p.id in m.lives_with:
        parts.append("lives with them")
    if p.id in m.maintained_by:
        parts.append("maintained by them")
    return " and ".join(parts)


# --- step 3: by residence --------------------------------------------------------------------


def _route(ctx: _Ctx, anchor: MainInsured) -> Decision:
    mi_res = anchor.country_of_residence
    m_res = ctx.m.country_of_residence
    if mi_res == LUXEMBOURG and m_res == LUXEMBOURG:
        _resident(ctx, anchor)
    elif mi_res == LUXEMBOURG:
        _family_abroad(ctx)
    elif m_res == LUXEMBOURG:
        _family_in_lu(ctx, anchor)
    elif mi_res == "BE" and m_res == "BE":
        _belgian(ctx, anchor)
    else:
        _cross_border(ctx, anchor)
    return ctx.finish(anchor)


def _is_adult(ctx: _Ctx) -> bool:
    return age_on(ctx.m.date_of_birth, ctx.on) >= ctx.p.adult_age


def _child_limits(ctx: _Ctx) -> None:
    """R9 (up to 29 inclusive, resources below the threshold) or R11 (30+)."""
    m = ctx.m
    age = age_on(m.date_of_birth, ctx.on)
    limit = ctx.p.child_age_limit
    if age < limit:
        threshold = ctx.p.resources_threshold.on(ctx.on)
        if m.monthly_resources >= threshold:
            ctx.refuse(
                "R9",
                f"resources {m.monthly_resources} EUR/month not below the threshold "
                f"{threshold} EUR in force on {ctx.on}",
            )
        last = birthday(m.date_of_birth, limit) - timedelta(days=1)
        ctx.ends.append(last)
        ctx.apply(
            "R9",
            f"aged {age} (up to {limit - 1} inclusive, i.e. until {last}); resources "
            f"{m.monthly_resources} < {threshold} EUR/month in force on {ctx.on}",
        )
        return
    if not m.higher_education:
        ctx.refuse("R11", f"aged {age}: from {limit} only for higher education, and not a student")
    if m.cns_authorisation or ctx.has(D.CNS_AUTHORISATION):
        ctx.apply("R11", f"aged {age}: in higher education with the CNS's authorisation")
    else:
        ctx.apply("R11", f"aged {age}: in higher education; the CNS's authorisation is needed")
        ctx.need(
            D.CNS_AUTHORISATION,
            "R11",
            Party.CNS_SERVICE,
            Action.REFER_TO_SERVICE,
            f"the CNS must authorise co-insurance of {m.id} (aged {age}, in higher education)",
        )


def _request(ctx: _Ctx, rule_id: str, what: str) -> None:
    """R3/R18: a request for co-insurance must have been filed with the CNS."""
    if ctx.has(D.CO_INSURANCE_REQUEST):
        ctx.apply(rule_id, f"{what}: the request for co-insurance was received")
    else:
        ctx.apply(rule_id, f"{what}: needs a request for co-insurance to the CNS")
        ctx.need(
            D.CO_INSURANCE_REQUEST,
            rule_id,
            Party.MAIN_INSURED,
            Action.ASK_MAIN_INSURED,
            f"the main insured must request co-insurance of {ctx.m.id} from the CNS",
        )


def _partner_registration(ctx: _Ctx, rule_id: str = "R8") -> None:
    """R8: a partnership registered abroad must be registered in Luxembourg first."""
    m = ctx.m
    if m.relation is not Relation.PARTNER:
        return
    if m.is_partner_registered_in_lu or ctx.has(D.LU_PARTNERSHIP_CERTIFICATE):
        ctx.apply(rule_id, "the partnership counts as a Luxembourg partnership")
        return
    ctx.apply(rule_id, f"partnership registered in {m.partnership_registered_in}, not yet in LU")
    ctx.need(
        D.LU_PARTNERSHIP_CERTIFICATE,
        rule_id,
        Party.CIVIL_REGISTER,
        Action.ASK_MAIN_INSURED,
        "register the partnership in the Luxembourg civil register (Parquet général) and "
        "send the certificate of partnership with its registration date",
    )


def _resident(ctx: _Ctx, anchor: MainInsured) -> None:
    m = ctx.m
    if m.relation is Relation.CHILD:
        _child_limits(ctx)
        adult = _is_adult(ctx)
        if not adult and m.born_in_lu:
            ctx.apply("R9", "born and living in Luxembourg: co-insured automatically")
        elif adult:
            _request(ctx, "R3", "adult child")
        else:
            ctx.apply("R9", "minor not born in Luxembourg: not co-insured automatically")
            _request(
                ctx,
                "R3",
                "minor child born abroad ((sim) R3 names spouse, partner and adult child; "
                "without R9's automatic co-insurance a minor needs the request too)",
            )
    else:
        _request(ctx, "R3", m.relation.value)
        _exit_notice(ctx)
        _partner_registration(ctx)
    if m.relation is not Relation.CHILD or _is_adult(ctx):
        _arrived_from_abroad(ctx)
    if m.arrived_on is not None:
        ctx.starts.append(m.arrived_on)
    _rnpp_documents(ctx, "R15")


def _exit_notice(ctx: _Ctx) -> None:
    """R4: after an own Luxembourg affiliation, only once the CCSS exit notice has arrived."""
    former = ctx.m.former_insurance
    if former is None or former.country != LUXEMBOURG:
        return
    notice = ctx.latest(D.CCSS_EXIT_NOTICE)
    request = ctx.latest(D.CO_INSURANCE_REQUEST)
    if notice is None:
        premature = " (a request already received is premature)" if request else ""
        ctx.apply("R4", f"own affiliation ended on {former.until}; no CCSS exit notice{premature}")
        ctx.need(
            D.CCSS_EXIT_NOTICE,
            "R4",
            Party.CCSS,
            Action.WAIT_FOR_CCSS,
            "wait for the CCSS 'Information concernant une déclaration de sortie'",
        )
        return
    if request is not None and request.on and notice.on and request.on < notice.on:
        ctx.apply("R4", f"the request of {request.on} predates the exit notice of {notice.on}")
        ctx.need(
            D.CO_INSURANCE_REQUEST,
            "R4",
            Party.MAIN_INSURED,
            Action.ASK_MAIN_INSURED,
            "the request was premature: renew it now that the exit notice has been received",
        )
        return
    ctx.apply("R4", f"own affiliation ended on {former.until}; CCSS exit notice received")


def _arrived_from_abroad(ctx: _Ctx) -> None:
    """R5-R7 for a spouse, partner or adult child insured before in another country."""
    m = ctx.m
    former = m.former_insurance
    if former is None or former.country == LUXEMBOURG:
        return
    country = former.country
    if country in ctx.p.r5_countries:
        if former.basis is InsuranceBasis.CO_INSURED:
            _document(ctx, D.CO_INSURANCE_CERTIFICATE, "R5", f"co-insured in {country}")
            return
        _s041(ctx, country)
        return
    if country in ctx.p.r6_countries:
        if former.basis is InsuranceBasis.CO_INSURED:
            _document(ctx, D.CO_INSURANCE_CERTIFICATE, "R6", f"co-insured in {country}")
        else:
            _document(ctx, D.BILATERAL_104, "R6", f"insured personally in {country} (bilateral)")
        return
    if ctx.has(D.DECLARATION_ON_HONOUR):
        ctx.apply("R7", f"arrived from {country} (no agreement): declaration on honour received")
        return
    ctx.apply("R7", f"arrived from {country} (no agreement): declaration on honour needed")
    ctx.need(
        D.DECLARATION_ON_HONOUR,
        "R7",
        Party.FAMILY_MEMBER,
        Action.SEND_DECLARATION_ON_HONOUR,
        f"send {m.id} the declaration on honour to complete and return",
    )


def _document(ctx: _Ctx, kind: DocumentKind, rule_id: str, what: str) -> None:
    former = ctx.m.former_insurance
    assert former is not None
    name = kind.label
    if ctx.has(kind):
        ctx.apply(rule_id, f"{what}: {name} received")
        if former.until is not None:
            ctx.starts.append(former.until + timedelta(days=1))
        return
    ctx.apply(rule_id, f"{what}: {name} from the former fund needed")
    hint = f"ask the main insured for the {name} of {ctx.m.id} issued by the former fund"
    if kind is D.BILATERAL_104:
        hint += " (the CNS may ask the fund itself if given its details and the foreign number)"
    ctx.need(kind, rule_id, Party.MAIN_INSURED, Action.ASK_MAIN_INSURED, hint, former.fund_id)


def _s041(ctx: _Ctx, country: str) -> None:
    former = ctx.m.former_insurance
    assert former is not None
    s041 = ctx.latest(D.S041)
    if s041 is None:
        if former.fund_id is None or former.foreign_number is None:
            ctx.apply("R5", f"insured personally in {country}: S041 needed; fund details missing")
            ctx.need(
                D.FORMER_FUND_DETAILS,
                "R5",
                Party.MAIN_INSURED,
                Action.ASK_MAIN_INSURED,
                f"ask for the former fund in {country} and {ctx.m.id}'s foreign number, so "
                "the CNS can request the S041 over EESSI",
            )
            return
        ctx.apply("R5", f"insured personally in {country}: the former fund's S041 is needed")
        ctx.need(
            D.S041,
            "R5",
            Party.FORMER_FUND,
            Action.SEND_S040,
            f"send an S040 to {former.fund_id} for {ctx.m.id} ({former.foreign_number})",
            former.fund_id,
        )
        return
    summary = s041.s041
    if summary is not None and summary.reply is S041Reply.CONFIRMED:
        until = summary.insured_until
        ctx.apply("R5", f"S041 from {s041.institution or country} confirms periods until {until}")
        if until is not None:
            ctx.starts.append(until + timedelta(days=1))
        return
    # *(sim)* 01 (no periods) or 03 (cannot confirm): treated as not insured there, so the
    # CNS falls back on a declaration on honour.
    code = summary.reply.value if summary else "??"
    if ctx.has(D.DECLARATION_ON_HONOUR):
        ctx.apply("R5", f"S041 reply {code} confirms no periods; declaration on honour received")
        return
    ctx.apply("R5", f"S041 reply {code} confirms no periods: declaration on honour needed")
    ctx.need(
        D.DECLARATION_ON_HONOUR,
        "R5",
        Party.FAMILY_MEMBER,
        Action.SEND_DECLARATION_ON_HONOUR,
        f"the S041 confirmed no insurance in {country}: send {ctx.m.id} a declaration on honour",
    )


def _rnpp_documents(ctx: _Ctx, rule_id: str, *, birth_for_spouse: bool = False) -> None:
    """R15 (and R16): civil-status documents for a member not yet in the RNPP."""
    m = ctx.m
    if m.rnpp_registered:
        ctx.apply(rule_id, f"{m.id} is already registered in the RNPP")
        return
    needed: list[tuple[DocumentKind, ...]]
    if m.relation is Relation.CHILD:
        needed = [(D.BIRTH_CERTIFICATE,), (D.HOUSEHOLD_COMPOSITION,)]
    elif m.relation is Relation.SPOUSE:
        first = (
            (D.MARRIAGE_CERTIFICATE, D.BIRTH_CERTIFICATE)
            if birth_for_spouse
            else (D.MARRIAGE_CERTIFICATE,)
        )
        needed = [first, (D.HOUSEHOLD_COMPOSITION,)]
    else:
        needed = [(D.LU_PARTNERSHIP_CERTIFICATE,)]
    lacking = [alts for alts in needed if not any(ctx.has(k) for k in alts)]
    if not lacking:
        ctx.apply(rule_id, f"{m.id} is not in the RNPP; the civil-status documents are in")
        return
    names = ", ".join(" or ".join(k.label for k in alts) for alts in lacking)
    ctx.apply(rule_id, f"{m.id} is not in the RNPP: needs {names}")
    asked = {x.kind for x in ctx.missing}
    for alts in lacking:
        if alts[0] in asked:  # already asked for by R8
            continue
        ctx.need(
            alts[0],
            rule_id,
            Party.MAIN_INSURED,
            Action.ASK_MAIN_INSURED,
            f"ask the main insured for the {' or '.join(k.label for k in alts)} of {m.id}",
        )


def _s071_from_residence(ctx: _Ctx, rule_id: str) -> Fact | None:
    """R13/R17: the request must come over EESSI from a fund of the member's residence."""
    m = ctx.m
    country = m.country_of_residence
    if ctx.has(D.ENTITLEMENT_CERTIFICATE_FROM_INSURED):
        ctx.apply(
            "R13",
            "the certificate of entitlement handed in by the insured is refused: the request "
            "must come over EESSI",
        )
    good = None
    for f in ctx.facts.of(D.S071, m.id):
        if f.institution is None or f.institution.startswith(f"{country}:"):
            good = f
        else:
            ctx.apply(rule_id, f"S071 from {f.institution} ignored: not a fund of {country}")
    if good is None:
        ctx.need(
            D.S071,
            rule_id,
            Party.RESIDENCE_FUND,
            Action.WAIT_FOR_S071,
            f"the fund of residence in {country} must send an S071 over EESSI for {m.id}",
        )
        return None
    ctx.apply(rule_id, f"S071 received from {good.institution or 'the fund of residence'}")
    return good


_S073_RECEIVED: Final = "S073 received: the fund of residence confirmed the registration"


def _s072_s073(ctx: _Ctx, rule_id: str, s071: Fact) -> None:
    """R14/R17: the CNS sends the S072; the fund of residence confirms with the S073."""
    if ctx.has(D.S073):
        ctx.apply(rule_id, _S073_RECEIVED)
        return
    sent = ctx.has(D.S072)
    hint = "S072 sent; wait for the S073" if sent else f"send the S072 (the S1) for {ctx.m.id}"
    ctx.need(
        D.S073,
        rule_id,
        Party.RESIDENCE_FUND,
        Action.WAIT_FOR_S073 if sent else Action.SEND_S072,
        hint,
        s071.institution,
    )


def _insured_abroad(ctx: _Ctx, rule_id: str) -> None:
    if ctx.m.insured_in_country_of_residence:
        ctx.refuse(rule_id, f"insured in the country of residence ({ctx.m.country_of_residence})")


def _family_abroad(ctx: _Ctx) -> None:
    """R17: main insured resident in Luxembourg, member living abroad."""
    country = ctx.m.country_of_residence
    if country not in ctx.p.abroad_countries:
        ctx.refuse("R17", f"lives in {country}: not an EU/EEA/CH or bilateral country")
    _insured_abroad(ctx, "R17")
    ctx.apply("R17", f"lives in {country}, not insured there: the fund there must ask (S071)")
    s071 = _s071_from_residence(ctx, "R17")
    if s071 is not None:
        _s072_s073(ctx, "R17", s071)


def _cross_border(ctx: _Ctx, anchor: MainInsured) -> None:
    """R12-R15: cross-border worker (or pensioner) with the family abroad."""
    m = ctx.m
    country = anchor.country_of_residence
    if country not in ctx.p.abroad_countries:
        ctx.refuse("R13", f"main insured lives in {country}: not an EU/EEA/CH or bilateral country")
    _declared_changes(ctx, anchor)
    _insured_abroad(ctx, "R13")
    ctx.apply("R13", f"the law of {m.country_of_residence} decides who is a family member")
    s071 = _s071_from_residence(ctx, "R13")
    if s071 is None:
        return
    _rnpp_documents(ctx, "R15")
    if ctx.missing:
        return
    if m.rnpp_registered:
        ctx.apply("R14", "in the RNPP: the CNS answers with the S072 and waits for the S073")
    _s072_s073(ctx, "R14", s071)


def _change_since(m: FamilyMember, anchor: MainInsured) -> date | None:
    """The day of a change of situation after the anchor's affiliation (birth, marriage)."""
    since = m.date_of_birth if m.relation is Relation.CHILD else m.relation_since
    return since if since is not None and since > anchor.affiliated_since else None


def _declared_changes(ctx: _Ctx, anchor: MainInsured) -> None:
    """R12: a cross-border worker declares changes to the fund of residence and the CNS."""
    country = ctx.m.country_of_residence
    since = _change_since(ctx.m, anchor)
    if since is None:
        ctx.apply(
            "R12", f"any change of situation is declared to the fund of {country} and the CNS"
        )
        return
    what = {Relation.CHILD: "birth", Relation.SPOUSE: "marriage"}.get(ctx.m.relation, "partnership")
    ctx.apply(
        "R12",
        f"change of situation ({what} on {since}, after the affiliation): declared to the fund "
        f"of {country} and to the CNS",
    )


def _belgian(ctx: _Ctx, anchor: MainInsured) -> None:
    """R16: Belgian cross-border worker, family in Belgium: BL1, or BL6 on a change."""
    m = ctx.m
    _declared_changes(ctx, anchor)
    since = _change_since(m, anchor)
    change = since is not None
    kind = D.BL6 if change else D.BL1
    mutual = anchor.belgian_mutual
    if ctx.has(kind):
        ctx.apply("R16", f"{kind.label} from the Belgian mutual insurer lists {m.id}")
    elif change:
        ctx.apply("R16", f"change of situation on {since}: the Belgian insurer's BL6 is needed")
        ctx.need(
            kind,
            "R16",
            Party.BELGIAN_MUTUAL,
            Action.WAIT_FOR_BL6,
            f"the Belgian mutual insurer must send a BL6 adding {m.id}",
            mutual,
        )
    else:
        to = mutual or "the insured (no Belgian mutual insurer known)"
        ctx.apply("R16", f"{m.id} must be added on the BL1 by the Belgian mutual insurer")
        ctx.need(
            kind,
            "R16",
            Party.BELGIAN_MUTUAL,
            Action.SEND_BL1,
            f"send the BL1 to {to}; it comes back listing {m.id}",
            mutual,
        )
    _rnpp_documents(ctx, "R16", birth_for_spouse=True)


def _family_in_lu(ctx: _Ctx, anchor: MainInsured) -> None:
    """R18: main insured living abroad, member living in Luxembourg."""
    m = ctx.m
    country = anchor.country_of_residence
    if country not in ctx.p.abroad_countries:
        ctx.refuse("R18", f"main insured lives in {country}: not an EU/EEA/CH or bilateral country")
    if m.insured_in_country_of_residence:
        ctx.refuse("R18", "otherwise insured in Luxembourg")
    if m.relation is Relation.CHILD:
        _child_limits(ctx)
    _partner_registration(ctx)
    _request(ctx, "R18", "main insured abroad, family in Luxembourg")
    decision = ctx.latest(D.CNS_SERVICE_DECISION)
    if decision is None:
        ctx.need(
            D.CNS_SERVICE_DECISION,
            "R18",
            Party.CNS_SERVICE,
            Action.REFER_TO_SERVICE,
            "the CNS Service Coassurance et signalétique decides whether the request is eligible",
        )
        return
    if not decision.approved:
        ctx.refuse(
            "R18", f"the CNS Service Coassurance refused on {decision.on or 'an earlier day'}"
        )
    ctx.apply("R18", f"the CNS Service Coassurance accepted on {decision.on or 'an earlier day'}")
