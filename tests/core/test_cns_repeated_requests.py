"""A second S071 for a member the CNS already answers or registered: one S072 per person, so the
CNS rejects it (X011 ``05`` duplicate) naming the case that holds it (issue 16.3)."""

from __future__ import annotations

from process_world import CNS_ID, PT_FUND, World

from eessi.core.buc_table import CaseState
from eessi.core.fund import FundPolicy
from eessi.core.messages import (
    CaseOpened,
    CoInsuranceRegistered,
    MemberRef,
    RegistrationWithdrawn,
    RequestEntitlement,
    RequestRejected,
    WithdrawEntitlement,
)
from eessi.sed.documents import S072, S073, X011, RejectionReason

ANA = MemberRef("silva", "ana")


def _cases(w: World) -> list[str]:
    return [e.case_id for e in w.events(CaseOpened, PT_FUND)]


def test_R17_second_s071_while_the_first_awaits_confirmation_is_rejected_as_duplicate() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False)})
    for _ in range(2):
        w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    first, second = _cases(w)
    assert w.cns.case(first).state is CaseState.AWAITING_CONFIRMATION
    (x011,) = [o for o in w.sent if isinstance(o.sed, X011)]
    assert x011.case_id == second
    assert x011.sed.reason is RejectionReason.DUPLICATE
    assert first in (x011.sed.additional_information or "")
    (refused,) = w.events(RequestRejected, CNS_ID)
    assert (refused.case_id, refused.member, refused.other_case) == (second, ANA, first)
    assert refused.rules == ("R17",)
    assert refused.why.startswith("R17: one S072 per person")
    assert w.cns.case(second).state is CaseState.REJECTED
    assert w.funds[PT_FUND].case(second).state is CaseState.REJECTED
    assert [type(o.sed) for o in w.sent].count(S072) == 1


def test_R17_repeated_s071_for_a_registered_member_are_each_rejected_not_registered_again() -> None:
    w = World()
    for _ in range(30):
        w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    first, *others = _cases(w)
    seds = [type(o.sed) for o in w.sent]
    assert (seds.count(S072), seds.count(S073), seds.count(X011)) == (1, 1, 29)
    assert [e.case_id for e in w.events(RequestRejected, CNS_ID)] == others
    assert {e.other_case for e in w.events(RequestRejected, CNS_ID)} == {first}
    (registered,) = w.events(CoInsuranceRegistered, CNS_ID)
    assert registered.case_id == first
    assert w.cns.registrations[ANA].case_id == first


def test_R17_a_new_s071_is_answered_once_the_s072_in_effect_was_withdrawn() -> None:
    w = World()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    (first,) = _cases(w)
    w.run(w.cns.handle(WithdrawEntitlement(first, "sent by mistake")), CNS_ID)
    assert w.events(RegistrationWithdrawn, CNS_ID)
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    _, second = _cases(w)
    assert not w.events(RequestRejected)
    assert [type(o.sed) for o in w.sent].count(S072) == 2
    assert w.cns.registrations[ANA].case_id == second
