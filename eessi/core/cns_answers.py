"""The CNS desk answering an S071 with an S072 (S_BUC_01, the CNS is the counterparty).

The main insured is found by the Luxembourg PIN of the S071's ``StatusFamilyMember`` (or the
person's own Luxembourg PIN), the member by PIN or by name and date of birth
(:mod:`eessi.core.mapping`). Then:

- the decision waits only for the S072 (``Action.SEND_S072``): the desk decides again as if the
  S072 and S073 were exchanged, which gives the start (and end) date, and sends an S072
  confirmed with that period (``OpenPeriod`` 01, or ``FixedPeriod`` when an end is known);
- not eligible: S072 not confirmed, reason code from
  :class:`~eessi.sed.documents.NotConfirmedReason`, details citing the rules;
- pending on documents (R15 member not in the RNPP...):
  :class:`~eessi.core.messages.DocumentsRequested`, and the S072 waits until they are provided
  (a reminder X009 from the fund is answered X010 "will be sent");
- unknown main insured or member: S072 not confirmed, ``03`` person unknown (never an error);
  an S071 for an insured person (``StatusPerson``) is answered ``99`` other *(sim)*.

Reason codes of a refusal: ``04`` already covered (insured in the country of residence, R13/R17),
``01`` not insured (no main insured affiliated, R1), ``99`` other (any other rule; the details
cite the rules). If the CNS withdraws its S072 (X008,
:class:`~eessi.core.messages.WithdrawEntitlement`) the case is put on hold: the CNS does not
send another S072 by itself until the fund sends a new S071. If the fund rejects it (X011), see
:mod:`eessi.core.cns_rejections`.

One S072 per person: an S071 in a new case for a member for whom another open case holds the
CNS's confirmed S072, or is still being answered, is rejected with an X011 ``05`` duplicate
naming that case (:class:`~eessi.core.messages.RequestRejected`, citing R17 or R14).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from eessi.core.buc_table import CaseState, Direction
from eessi.core.desk import CaseFile
from eessi.core.eligibility import Decision, Outcome
from eessi.core.facts import DocumentKind as _D
from eessi.core.facts import Fact
from eessi.core.mapping import lu_pin, main_insured_pin, main_insured_status, person_matches
from eessi.core.messages import EntitlementAnswered, MemberRef, PersonUnknown, RequestRejected
from eessi.sed.catalogue import Role
from eessi.sed.documents import (
    S071,
    S072,
    NotConfirmed,
    NotConfirmedReason,
    RejectionReason,
    StatusPerson,
)
from eessi.sed.model import FixedPeriod, OpenPeriod, OpenPeriodType

if TYPE_CHECKING:
    from eessi.core.cns import CnsRun

__all__ = ["DETAILS_MAX", "answer_eligible", "answer_refused", "answer_s071"]

#: The longest free text the CNS writes in a SED's details.
DETAILS_MAX = 500


def answer_s071(run: CnsRun, cf: CaseFile, s071: S071) -> None:
    if isinstance(s071.status, StatusPerson):
        other = NotConfirmedReason.OTHER
        why = NotConfirmed(
            reason=other,
            details="(sim) this CNS answers S071 for family members (StatusFamilyMember) "
            "only; the entitlement of an insured person is outside co-insurance (R1)",
        )
        doc_id = _send_s072(run, cf, s071, None, why)
        run.tx.emit(EntitlementAnswered(cf.case_id, doc_id, None, False, reason=other.value))
        return
    found = _find(run, s071)
    if isinstance(found, str):
        run.tx.emit(PersonUnknown(cf.case_id, found))
        unknown = NotConfirmedReason.PERSON_UNKNOWN
        why = NotConfirmed(reason=unknown, details=found[:DETAILS_MAX])
        doc_id = _send_s072(run, cf, s071, None, why)
        run.tx.emit(EntitlementAnswered(cf.case_id, doc_id, None, False, reason=unknown.value))
        return
    run.link(cf.case_id, found)
    if _refused_as_duplicate(run, cf, found):
        return
    run.tx.update(cf.case_id, suspended=False)
    run.pursue(found)


def _refused_as_duplicate(run: CnsRun, cf: CaseFile, ref: MemberRef) -> bool:
    """One S072 per person: while another open case of ``ref`` holds the CNS's confirmed S072
    or is being answered, the S071 of ``cf`` is rejected (X011 ``05`` duplicate) naming it."""
    for other in run.cases_of_household(ref.household):
        if (
            other.case_id == cf.case_id
            or other.member != ref
            or other.buc not in ("S_BUC_01", "S_BUC_01A")
            or other.state is CaseState.CLOSED
        ):
            continue
        s072 = other.in_effect("S072")
        if (
            s072 is not None
            and s072[0].direction is Direction.SEND
            and isinstance(s072[1], S072)
            and s072[1].confirmed
        ):
            held = f"the S072 of case {other.case_id} (with {other.peer}) is in effect"
        elif (
            other.buc == "S_BUC_01"
            and other.owes(Role.COUNTERPARTY) == "S072"
            and not other.suspended
        ):
            held = f"case {other.case_id} (from {other.peer}) asks for it and is being answered"
        else:
            continue
        path = [r for r in run.decide(ref).rules if r in ("R13", "R14", "R17")]
        rules = (path[-1] if path else "R17",)
        why = (
            f"{rules[0]}: one S072 per person, and {held}; the CNS answers {ref.member} there "
            "(a new S071 is answered once that case is closed or its S072 withdrawn)"
        )
        s071 = cf.in_effect("S071")
        assert s071 is not None
        duplicate = RejectionReason.DUPLICATE
        run.tx.reject(cf.case_id, s071[0].document.document_id, duplicate, why[:DETAILS_MAX])
        run.tx.emit(RequestRejected(cf.case_id, ref, duplicate.value, other.case_id, why, rules))
        return True
    return False


def _find(run: CnsRun, s071: S071) -> MemberRef | str:
    registry = run.desk.registry
    pin = main_insured_pin(s071.status)
    entry = registry.by_main_pin(pin) if pin else None
    own = s071.person.pin_for("LU")
    if entry is None and own is not None:
        hit = registry.by_member_pin(own.number)
        if hit is not None:
            return MemberRef(hit[0].key, hit[1])
    if entry is None:
        who = f"main insured with Luxembourg PIN {pin}" if pin else "main insured"
        return f"person unknown: no {who} is known to the CNS"
    for m in entry.household.members:
        if person_matches(s071.person, m, entry.member_pins.get(m.id)):
            return MemberRef(entry.key, m.id)
    p = s071.person
    return (
        f"person unknown: {p.forename} {p.family_name}, born {p.birth_date}, is not a "
        f"family member of the main insured {pin} known to the CNS"
    )


def answer_eligible(
    run: CnsRun, cf: CaseFile, ref: MemberRef, what_if: Decision | None = None
) -> None:
    """The rules wait only for the S072: decide as if S072 and S073 were in, and send.
    ``what_if``: that decision, when the caller has it already
    (:func:`~eessi.core.eligibility.decide_answering` on the facts as they are now)."""
    if what_if is None:
        extra = (
            Fact(_D.S072, member=ref.member, on=run.today),
            Fact(_D.S073, member=ref.member, institution=cf.peer, on=run.today),
        )
        what_if = run.decide(ref, run.facts_of(ref.household).with_(*extra))
    if not what_if.eligible:
        answer_refused(run, cf, ref, what_if)
        return
    assert what_if.start is not None
    period: OpenPeriod | FixedPeriod = (
        OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=what_if.start)
        if what_if.end is None
        else FixedPeriod(start=what_if.start, end=what_if.end)
    )
    found = cf.in_effect("S071")
    assert found is not None
    assert isinstance(found[1], S071)
    doc_id = _send_s072(run, cf, found[1], ref, None, period, what_if.attaches_to)
    run.tx.emit(
        EntitlementAnswered(cf.case_id, doc_id, ref, True, start=what_if.start, rules=what_if.rules)
    )


def answer_refused(run: CnsRun, cf: CaseFile, ref: MemberRef, decision: Decision) -> None:
    reason = _reason(run, ref, decision)
    found = cf.in_effect("S071")
    assert found is not None
    assert isinstance(found[1], S071)
    doc_id = _send_s072(run, cf, found[1], ref, reason)
    run.tx.emit(
        EntitlementAnswered(
            cf.case_id, doc_id, ref, False, reason=reason.reason.value, rules=decision.rules
        )
    )


def _reason(run: CnsRun, ref: MemberRef, decision: Decision) -> NotConfirmed:
    _, member = run.entry_member(ref)
    last = decision.reasons[-1] if decision.reasons else None
    if member.insured_in_country_of_residence:
        code = NotConfirmedReason.ALREADY_COVERED
    elif last is not None and last.rule == "R1":
        code = NotConfirmedReason.NOT_INSURED
    else:
        code = NotConfirmedReason.OTHER
    lines = [f"{r.rule}: {r.explanation}" for r in decision.reasons if r.rule != "R1"][-3:]
    if decision.outcome is Outcome.PENDING:
        lines += [f"{m.rule}: {m.hint}" for m in decision.missing][:2]
    head = f"{decision.outcome.value.replace('_', ' ')} ({', '.join(decision.rules)})"
    return NotConfirmed(reason=code, details=("; ".join([head, *lines]))[:DETAILS_MAX])


def _send_s072(
    run: CnsRun,
    cf: CaseFile,
    s071: S071,
    ref: MemberRef | None,
    refused: NotConfirmed | None,
    period: OpenPeriod | FixedPeriod | None = None,
    main_id: str | None = None,
) -> str:
    """Answer the S071 in effect. Person and address are the S071's (the address is in the
    residence country); a confirmed S072 names the main insured the member attaches to
    (R10) and adds the member's Luxembourg PIN when the CNS has one. A refusal keeps the
    S071's status block as the fund wrote it."""
    status = s071.status
    person = s071.person
    if ref is not None and main_id is not None:
        entry, member = run.entry_member(ref)
        main = entry.household.main(main_id)
        status = main_insured_status(main, entry.address, run.desk.institution, entry.sex(main.id))
        pin = entry.member_pins.get(member.id)
        if pin is not None and person.pin_for("LU") is None:
            person = replace(person, pins=(*person.pins, lu_pin(pin, run.desk.institution)))
    s072 = S072(
        version=s071.version,
        person=person,
        address=s071.address,
        status=status,
        confirmed=refused is None,
        period=period,
        not_confirmed=refused,
    )
    s071_id = cf.in_effect("S071")
    assert s071_id is not None
    return run.tx.send(cf.case_id, s072, answers=s071_id[0].document.document_id)[0]
