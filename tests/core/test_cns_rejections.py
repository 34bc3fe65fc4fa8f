"""After the fund of residence rejects the CNS's S072 (X011) the CNS acts on the reason, and the
member's decision says so (issue 16.2; ``eessi.core.cns_rejections``)."""

from __future__ import annotations

from process_world import CNS_ID, PT_FUND, World

from eessi.core.buc_table import CaseState
from eessi.core.fund import FundPolicy
from eessi.core.messages import (
    CaseOpened,
    CoInsuranceRegistered,
    DecisionMade,
    MemberRef,
    RegisterEntitlement,
    RejectDocument,
    RequestEntitlement,
)
from eessi.sed.documents import S072, S073, X001, X012, X013, RejectionReason

ANA = MemberRef("silva", "ana")


def _rejected(reason: RejectionReason, policy: FundPolicy | None = None) -> tuple[World, str]:
    w = World(policies={PT_FUND: policy or FundPolicy(auto_register=False)})
    fund = w.funds[PT_FUND]
    w.run(fund.handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    case_id = w.events(CaseOpened, PT_FUND)[0].case_id
    w.run(fund.handle(RejectDocument(case_id, "S072", reason)), PT_FUND)
    return w, case_id


def _last_decision(w: World) -> DecisionMade:
    return [d for d in w.events(DecisionMade, CNS_ID) if d.member == ANA][-1]


def test_R17_rejected_s072_the_decision_shows_the_rejection_its_reason_and_the_next_step() -> None:
    held = FundPolicy(auto_register=False, answer_clarifications=False)
    w, case_id = _rejected(RejectionReason.PERSON_UNKNOWN, held)
    decision = _last_decision(w).decision
    (note,) = [r for r in decision.reasons if "rejected" in r.explanation]
    assert note.rule == "R17"
    assert case_id in note.explanation
    assert "X011, reason 03 person unknown" in note.explanation
    assert "asked PT:ISS00001 about its S071 (X012)" in note.explanation
    (s073,) = [m for m in decision.missing if m.kind.value == "S073"]
    assert s073.hint.startswith("S072 rejected: ")
    # What the decision says is what the CNS did: an X012 about the fund's S071, case on hold.
    last = [o for o in w.sent if o.receiver == PT_FUND][-1]
    assert isinstance(last.sed, X012)
    assert last.sed.concerned.sed_type == "S071"
    assert "03 person unknown" in last.sed.questions[0].text
    assert w.cns.case(case_id).suspended
    assert not w.cns.registrations


def test_R17_once_the_fund_answers_the_clarification_the_cns_sends_a_new_s072() -> None:
    w, case_id = _rejected(RejectionReason.CONTENT_INCORRECT)
    seds = [type(o.sed) for o in w.sent]
    assert seds.count(X012) == 1
    assert seds.count(X013) == 1
    assert seds.count(S072) == 2  # the first, rejected; the new one after the X013
    assert seds[-1] is S072
    assert not w.cns.case(case_id).suspended
    w.run(w.funds[PT_FUND].handle(RegisterEntitlement(case_id)), PT_FUND)
    assert isinstance(w.sent[-1].sed, S073)
    (registered,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert registered.case_id == case_id
    assert not w.cns.case(case_id).suspended
    assert not any("rejected" in r.explanation for r in _last_decision(w).decision.reasons)


def test_R17_rejected_as_not_competent_the_cns_closes_the_case_and_the_decision_says_so() -> None:
    w, case_id = _rejected(RejectionReason.NOT_COMPETENT)
    assert isinstance(w.sent[-1].sed, X001)
    assert w.cns.case(case_id).state is CaseState.CLOSED
    assert w.funds[PT_FUND].case(case_id).state is CaseState.CLOSED
    explanation = _last_decision(w).decision.reasons[-1].explanation
    assert "reason 01 not competent" in explanation
    assert f"the CNS closed case {case_id} (X001)" in explanation
    assert [type(o.sed) for o in w.sent].count(S072) == 1
