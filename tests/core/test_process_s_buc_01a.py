"""S_BUC_01A: the CNS sends the S072 unasked to the fund of residence, which confirms (S073).

A cross-border worker (Luc Martin, living in Thionville, working in Luxembourg) gets his S072
sent straight to the CPAM de la Moselle; X008, X011, reminders and illegal steps follow the
case machine, and both desks keep their registration in line with what is in effect.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from process_world import CNS, CNS_ID, FR_FUND, PT_FUND, START, World, martin, registry

from eessi.clock import VirtualClock
from eessi.core.buc_table import CaseState, Direction
from eessi.core.cns import CnsDesk, CnsParams
from eessi.core.fund import FundDesk, FundPolicy, FundRecord
from eessi.core.mapping import insured_entitlement_parts
from eessi.core.messages import (
    CaseOpened,
    CloseCase,
    CoInsuranceRegistered,
    DocumentReceived,
    EntitlementIssued,
    EntitlementRecorded,
    EntitlementRegistered,
    EntitlementUnrecorded,
    EntitlementUnregistered,
    InvalidateDocument,
    IssueEntitlement,
    MemberRef,
    NotRegistered,
    Outgoing,
    RegisterEntitlement,
    RejectDocument,
    ReminderSent,
    RequestEntitlement,
    Step,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import DomainError, ProtocolError
from eessi.ids import SeededIds
from eessi.sed.documents import (
    S072,
    S073,
    X008,
    X010,
    X011,
    InsuredStatus,
    ReminderReply,
    StatusPerson,
)
from eessi.sed.model import OpenPeriod

LUC = IssueEntitlement("martin", "luc", FR_FUND)


def _silent_fr() -> World:
    return World(policies={FR_FUND: FundPolicy(auto_register=False)})


def _cns_case(w: World) -> str:
    (opened,) = [e for e in w.events(CaseOpened, CNS_ID) if e.buc == "S_BUC_01A"]
    return str(opened.case_id)


def test_S_BUC_01A_cns_sends_the_S072_unasked_and_the_cpam_confirms_with_S073() -> None:
    w = World()
    w.run(w.cns.handle(LUC), CNS_ID)
    assert [(o.receiver, o.buc, o.sed.code) for o in w.sent] == [
        (FR_FUND, "S_BUC_01A", "S072"),
        (CNS_ID, "S_BUC_01A", "S073"),
    ]
    s072 = w.sent[0].sed
    assert isinstance(s072, S072)
    assert s072.confirmed
    assert isinstance(s072.status, StatusPerson)
    assert s072.status.status is InsuredStatus.INSURED_PERSON
    assert isinstance(s072.period, OpenPeriod)
    assert s072.period.start == date(2015, 3, 1)  # the affiliation start
    pin = s072.person.pin_for("LU")
    assert pin is not None
    assert pin.number == "1985080812345"
    assert s072.address.address.country == "FR"
    s073 = w.sent[1].sed
    assert isinstance(s073, S073)
    assert s073.registered
    assert s073.registration_date == date(2015, 3, 1)

    case_id = _cns_case(w)
    (issued,) = w.events(EntitlementIssued, CNS_ID)
    assert (issued.case_id, issued.person, issued.to) == (case_id, "martin/luc", FR_FUND)
    assert issued.rules == ("R12", "R13", "S072")
    assert "no rule of the sources" in issued.note
    (registered,) = w.events(EntitlementRegistered, CNS_ID)
    assert (registered.case_id, registered.registered_on) == (case_id, date(2015, 3, 1))
    assert w.cns.snapshot().entitlements == {case_id: date(2015, 3, 1)}
    assert w.cns.case(case_id).state is CaseState.COMPLETED
    assert w.funds[FR_FUND].case(case_id).state is CaseState.COMPLETED
    assert w.funds[FR_FUND].snapshot().registered == {case_id: date(2015, 3, 1)}
    assert not w.cns.registrations  # the insured himself is not a co-insured member (R1)


def test_S_BUC_01A_the_fund_finds_the_person_in_its_records() -> None:
    entry = martin()
    person, address, status = insured_entitlement_parts(entry, "luc", CNS)
    fund = FundDesk(
        FR_FUND,
        [FundRecord("luc", person, address, status)],
        VirtualClock(START),
        SeededIds(9),
    )
    cns = CnsDesk(CNS_ID, registry(), VirtualClock(START), SeededIds(1))
    (out,) = cns.handle(LUC).outgoing
    step = fund.handle(out.received_by_peer(CNS_ID))
    (recorded,) = step.of(EntitlementRecorded)
    assert recorded.person == "luc"
    assert fund.case(out.case_id).person == "luc"


def test_S_BUC_01A_the_fund_of_residence_comes_from_the_params_when_to_is_not_given() -> None:
    w = World(cns_params=CnsParams(residence_funds={"FR": FR_FUND}))
    w.run(w.cns.handle(IssueEntitlement("martin", "luc")), CNS_ID)
    assert w.sent[0].receiver == FR_FUND
    assert w.events(EntitlementRegistered, CNS_ID)


def test_S_BUC_01A_without_to_the_only_known_institution_of_the_country_is_the_fund() -> None:
    names = {FR_FUND: "CPAM de la Moselle", PT_FUND: "ISS"}
    w = World(cns_params=CnsParams(institution_names=names))
    w.run(w.cns.handle(IssueEntitlement("martin", "luc")), CNS_ID)
    assert w.sent[0].receiver == FR_FUND
    two = {**names, "FR:CPAM0075": "CPAM de Paris"}
    with pytest.raises(DomainError, match="no single fund of residence"):
        World(cns_params=CnsParams(institution_names=two)).cns.handle(
            IssueEntitlement("martin", "luc")
        )


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (IssueEntitlement("martin", "luc"), "domain.no-residence-fund"),
        (IssueEntitlement("martin", "luc", PT_FUND), "domain.wrong-residence-fund"),
        (IssueEntitlement("silva", "joao", PT_FUND), "domain.not-abroad"),
        (IssueEntitlement("martin", "nobody", FR_FUND), None),
    ],
)
def test_S_BUC_01A_an_S072_the_cns_cannot_send_is_refused_and_nothing_changes(
    event: IssueEntitlement, code: str | None
) -> None:
    w = World()
    before = w.cns.snapshot()
    with pytest.raises(DomainError) as info:
        w.cns.handle(event)
    if code is not None:
        assert info.value.code == code
    assert w.cns.snapshot() is before


def test_S_BUC_01A_one_S072_per_person_a_second_is_refused_while_the_first_stands() -> None:
    w = World()
    w.run(w.cns.handle(LUC), CNS_ID)
    before = w.cns.snapshot()
    with pytest.raises(DomainError, match="one S072 per person") as info:
        w.cns.handle(LUC)
    assert info.value.code == "domain.already-issued"
    assert w.cns.snapshot() is before


def test_S_BUC_01A_R13_family_member_is_refused_naming_the_decision_and_its_rules() -> None:
    w = World()
    before = w.cns.snapshot()
    with pytest.raises(DomainError) as info:
        w.cns.handle(IssueEntitlement("martin", "marie", FR_FUND))
    err = info.value
    assert err.code == "domain.not-eligible"
    assert "pending" in str(err)
    assert "R13" in err.details["rules"]
    assert "S071" in (err.hint or "")  # R13: the fund of residence must ask first
    assert w.cns.snapshot() is before
    assert not w.sent


def test_S_BUC_01A_eligible_family_member_is_registered_when_the_S073_arrives() -> None:
    """Marie's S071 stands in an S_BUC_01 case whose S072 the CNS withdrew: she is eligible
    once an S072 and S073 are exchanged, so the CNS may send it unasked (S_BUC_01A)."""
    w = World()
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("marie", CNS_ID)), FR_FUND)
    s_buc_01 = w.events(CaseOpened, CNS_ID)[0].case_id
    w.run(w.cns.handle(WithdrawEntitlement(s_buc_01)), CNS_ID)
    assert MemberRef("martin", "marie") not in w.cns.registrations

    w.run(w.cns.handle(IssueEntitlement("martin", "marie", FR_FUND)), CNS_ID)
    case_id = _cns_case(w)
    (issued,) = w.events(EntitlementIssued, CNS_ID)
    assert "R13" in issued.rules
    assert "R14" in issued.rules
    reg = w.cns.registrations[MemberRef("martin", "marie")]
    assert reg.case_id == case_id
    assert reg.main_insured == "luc"
    assert w.events(CoInsuranceRegistered, CNS_ID)[-1].case_id == case_id
    s072 = next(o.sed for o in w.sent if o.case_id == case_id)
    assert isinstance(s072, S072)
    assert not isinstance(s072.status, StatusPerson)  # StatusFamilyMember of Luc


def test_S_BUC_01A_cns_X008_withdraws_both_sides_unregister_and_a_new_S072_reuses_the_case() -> (
    None
):
    w = World()
    w.run(w.cns.handle(LUC), CNS_ID)
    case_id = _cns_case(w)
    w.run(w.cns.handle(WithdrawEntitlement(case_id, "sent by mistake")), CNS_ID)
    assert isinstance(w.sent[-1].sed, X008)
    (gone,) = w.events(EntitlementUnregistered, CNS_ID)
    assert gone.case_id == case_id
    (unrecorded,) = w.events(EntitlementUnrecorded, FR_FUND)
    assert "S072" in unrecorded.why
    assert w.cns.snapshot().entitlements == {}
    assert w.funds[FR_FUND].snapshot().registered == {}
    assert w.cns.case(case_id).state is CaseState.WITHDRAWN

    w.run(w.cns.handle(LUC), CNS_ID)
    assert len(w.events(EntitlementRegistered, CNS_ID)) == 2
    assert _cns_case(w) == case_id  # no second case
    assert w.cns.case(case_id).state is CaseState.COMPLETED
    assert case_id in w.funds[FR_FUND].snapshot().registered


def test_S_BUC_01A_fund_X011_rejects_the_S072_nothing_is_registered_and_the_cns_may_resend() -> (
    None
):
    w = _silent_fr()
    w.run(w.cns.handle(LUC), CNS_ID)
    case_id = _cns_case(w)
    w.run(w.funds[FR_FUND].handle(RejectDocument(case_id, "S072")), FR_FUND)
    assert isinstance(w.sent[-1].sed, X011)
    assert w.cns.case(case_id).state is CaseState.REJECTED
    assert w.cns.case(case_id).suspended
    assert not w.events(EntitlementRegistered)
    assert not w.cns.snapshot().entitlements

    w.run(w.cns.handle(LUC), CNS_ID)
    assert w.cns.case(case_id).state is CaseState.AWAITING_CONFIRMATION
    assert not w.cns.case(case_id).suspended
    w.run(w.funds[FR_FUND].handle(RegisterEntitlement(case_id)), FR_FUND)
    assert w.cns.snapshot().entitlements == {case_id: date(2015, 3, 1)}


def test_S_BUC_01A_fund_X008_of_its_S073_unregisters_on_both_sides() -> None:
    w = World()
    w.run(w.cns.handle(LUC), CNS_ID)
    case_id = _cns_case(w)
    w.run(w.funds[FR_FUND].handle(InvalidateDocument(case_id, "S073")), FR_FUND)
    (unrecorded,) = w.events(EntitlementUnrecorded, FR_FUND)
    assert "S073" in unrecorded.why
    (gone,) = w.events(EntitlementUnregistered, CNS_ID)
    assert "S073" in gone.why
    assert w.cns.case(case_id).state is CaseState.AWAITING_CONFIRMATION
    w.run(w.funds[FR_FUND].handle(RegisterEntitlement(case_id)), FR_FUND)
    assert len(w.events(EntitlementRegistered, CNS_ID)) == 2


def test_S_BUC_01A_an_S073_not_confirming_registers_nothing_and_says_why() -> None:
    w = _silent_fr()
    w.run(w.cns.handle(LUC), CNS_ID)
    case_id = _cns_case(w)
    s072 = w.sent[0]
    assert isinstance(s072.sed, S072)
    s073 = S073(person=s072.sed.person, registered=False)
    step = w.cns.handle(
        DocumentReceived(case_id, "S_BUC_01A", FR_FUND, "doc-s073-no", s073, s072.document_id)
    )
    assert not step.of(EntitlementRegistered)
    (why,) = step.of(NotRegistered)
    assert why.case_id == case_id
    assert "martin/luc" in why.why
    assert "did not register" in why.why
    assert w.cns.snapshot().entitlements == {}


def test_S_BUC_01A_no_S073_the_cns_reminds_the_fund_with_X009_once() -> None:
    w = _silent_fr()
    w.run(w.cns.handle(LUC), CNS_ID)
    w.clock.advance(timedelta(days=59))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    assert not w.events(ReminderSent)
    w.clock.advance(timedelta(days=2))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    (reminded,) = w.events(ReminderSent, CNS_ID)
    assert reminded.awaited_sed == "S073"
    (x010,) = [o.sed for o in w.sent if isinstance(o.sed, X010)]
    assert x010.reply is ReminderReply.WILL_BE_SENT
    w.clock.advance(timedelta(days=1))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    assert len(w.events(ReminderSent)) == 1


def test_S_BUC_01A_illegal_steps_raise_ProtocolError_and_change_nothing() -> None:
    w = World()
    w.run(w.cns.handle(LUC), CNS_ID)
    case_id = _cns_case(w)
    s073 = next(o for o in w.sent if isinstance(o.sed, S073))
    # A second S073 in a completed case (a fresh document ID: not a duplicate).
    again = DocumentReceived(case_id, "S_BUC_01A", FR_FUND, "doc-second-s073", s073.sed)
    before = w.cns.snapshot()
    with pytest.raises(ProtocolError):
        w.cns.handle(again)
    assert w.cns.snapshot() is before
    # The CNS is never the counterparty of S_BUC_01A: an S072 from a fund opens nothing.
    s072 = w.sent[0].sed
    foreign = DocumentReceived("FR-0000CAFE", "S_BUC_01A", FR_FUND, "doc-x", s072)
    with pytest.raises(ProtocolError):
        w.cns.handle(foreign)
    assert w.cns.snapshot() is before
    # The fund accepts no S073 as the start of a case.
    fund = w.funds[FR_FUND]
    fund_before = fund.snapshot()
    with pytest.raises(ProtocolError):
        fund.handle(DocumentReceived("LU-0000BEEF", "S_BUC_01A", CNS_ID, "doc-y", s073.sed))
    assert fund.snapshot() is fund_before


# ---- property: any interleaving keeps both sides' registration in line with what is in effect

_index = st.integers(min_value=0, max_value=5)
ACTIONS = st.one_of(
    st.tuples(st.just("issue")),
    st.tuples(st.just("deliver"), _index),
    st.tuples(st.just("deliver"), _index),
    st.tuples(st.just("drop"), _index),
    st.tuples(st.just("register")),
    st.tuples(st.just("fund_x008")),
    st.tuples(st.just("fund_x011")),
    st.tuples(st.just("cns_x008")),
    st.tuples(st.just("close")),
    st.tuples(st.just("time"), st.sampled_from((1, 61))),
)


class _Net:
    def __init__(self, auto_register: bool) -> None:
        self.w = World(policies={FR_FUND: FundPolicy(auto_register=auto_register)})
        self.cns, self.fund = self.w.cns, self.w.funds[FR_FUND]
        self.inflight: list[tuple[str, Outgoing]] = []
        self.cns_events: list[Any] = []

    def attempt(self, who: str, act: Any) -> None:
        desk: Any = self.cns if who == CNS_ID else self.fund
        before = desk.snapshot()
        try:
            step: Step = act()
        except (ProtocolError, DomainError):
            assert desk.snapshot() is before
            return
        if who == CNS_ID:
            self.cns_events.extend(step.events)
        self.inflight.extend((who, o) for o in step.outgoing)

    def case(self) -> str | None:
        cases = sorted(self.fund.snapshot().cases)
        return cases[0] if cases else None

    def apply(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        if kind == "issue":
            self.attempt(CNS_ID, lambda: self.cns.handle(LUC))
        elif kind in ("deliver", "drop"):
            if self.inflight:
                sender, out = self.inflight.pop(action[1] % len(self.inflight))
                if kind == "deliver":
                    receiver = out.receiver
                    desk: Any = self.cns if receiver == CNS_ID else self.fund
                    self.attempt(receiver, lambda: desk.handle(out.received_by_peer(sender)))
        elif kind == "time":
            self.w.clock.advance(timedelta(days=action[1]))
            now = self.w.clock.now()
            self.attempt(CNS_ID, lambda: self.cns.handle(TimePassed(now)))
            self.attempt(FR_FUND, lambda: self.fund.handle(TimePassed(now)))
        elif (case_id := self.case()) is not None:
            acts = {
                "register": (FR_FUND, lambda: self.fund.handle(RegisterEntitlement(case_id))),
                "fund_x008": (
                    FR_FUND,
                    lambda: self.fund.handle(InvalidateDocument(case_id, "S073")),
                ),
                "fund_x011": (FR_FUND, lambda: self.fund.handle(RejectDocument(case_id, "S072"))),
                "close": (FR_FUND, lambda: self.fund.handle(CloseCase(case_id))),
                "cns_x008": (CNS_ID, lambda: self.cns.handle(WithdrawEntitlement(case_id))),
            }
            who, act = acts[kind]
            self.attempt(who, act)

    def check(self) -> None:
        for case_id in self.cns.snapshot().entitlements:
            cf = self.cns.case(case_id)
            s072, s073 = cf.in_effect("S072"), cf.in_effect("S073")
            assert s072 is not None
            assert s073 is not None
            assert isinstance(s072[1], S072)
            assert s072[1].confirmed
            assert isinstance(s073[1], S073)
            assert s073[1].registered
        balance: Counter[str] = Counter()
        for e in self.cns_events:
            if isinstance(e, EntitlementRegistered):
                balance[e.case_id] += 1
                assert balance[e.case_id] == 1
            elif isinstance(e, EntitlementUnregistered):
                balance[e.case_id] -= 1
                assert balance[e.case_id] == 0
        assert {c for c, n in balance.items() if n} == set(self.cns.snapshot().entitlements)
        for case_id in self.fund.snapshot().registered:
            cf = self.fund.case(case_id)
            found = cf.in_effect("S073")
            assert found is not None
            assert found[0].direction is Direction.SEND
            assert cf.in_effect("S072") is not None


@settings(max_examples=200, deadline=None)
@given(auto=st.booleans(), actions=st.lists(ACTIONS, max_size=30))
def test_S_BUC_01A_random_interleavings_keep_both_registrations_in_line(
    auto: bool, actions: list[tuple[Any, ...]]
) -> None:
    net = _Net(auto)
    for action in actions:
        net.apply(action)
        net.check()


def test_S_BUC_01A_the_happy_interleaving_does_register() -> None:
    net = _Net(auto_register=False)
    for action in [("issue",), ("deliver", 0), ("register",), ("deliver", 0)]:
        net.apply(action)
    net.check()
    assert len(net.cns.snapshot().entitlements) == 1
