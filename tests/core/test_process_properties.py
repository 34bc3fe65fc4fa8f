"""Property: whatever legal (or illegal) sequence of documents flows, the CNS never reaches an
inconsistent registration.

Documents travel through a network the test controls: each outgoing document waits in flight
until hypothesis delivers it (in any order), drops it, or never gets to it. Between deliveries
the fund registers, invalidates (X008), asks again, rejects (X011), asks for clarification
(X012), closes (X001); the CNS withdraws its S072 (X008); time passes and reminders (X009) fly.
A delivery or action the case machines refuse must raise ``ProtocolError`` and leave that desk
unchanged.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from process_world import CNS_ID, PT_FUND, World

from eessi.core.buc_table import Direction
from eessi.core.cns import CnsDesk
from eessi.core.fund import FundDesk, FundPolicy
from eessi.core.messages import (
    AskAgain,
    CloseCase,
    CoInsuranceRegistered,
    InvalidateDocument,
    MemberRef,
    Outgoing,
    RegisterEntitlement,
    RegistrationWithdrawn,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    Step,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import ProtocolError
from eessi.sed.documents import S072, S073

MEMBERS = ("ana", "rui", "bia")

_index = st.integers(min_value=0, max_value=7)
ACTIONS = st.one_of(
    st.tuples(st.just("request"), st.sampled_from(MEMBERS)),
    st.tuples(st.just("deliver"), _index),
    st.tuples(st.just("deliver"), _index),
    st.tuples(st.just("deliver"), _index),
    st.tuples(st.just("drop"), _index),
    st.tuples(st.just("flush")),
    st.tuples(st.just("register"), _index),
    st.tuples(st.just("fund_x008"), _index, st.sampled_from(("S071", "S073"))),
    st.tuples(st.just("fund_x011"), _index),
    st.tuples(st.just("cns_x008"), _index),
    st.tuples(st.just("clarify"), _index),
    st.tuples(st.just("close"), _index),
    st.tuples(st.just("ask_again"), _index),
    st.tuples(st.just("time"), st.sampled_from((1, 30, 61, 95))),
)


class Net:
    """Both desks, documents in flight, and every event each desk emitted."""

    def __init__(self, auto_register: bool) -> None:
        self.w = World(policies={PT_FUND: FundPolicy(auto_register=auto_register)})
        self.cns: CnsDesk = self.w.cns
        self.fund: FundDesk = self.w.funds[PT_FUND]
        self.inflight: list[tuple[str, Outgoing]] = []
        self.cns_events: list[Any] = []

    def take(self, who: str, step: Step) -> None:
        if who == CNS_ID:
            self.cns_events.extend(step.events)
        self.inflight.extend((who, o) for o in step.outgoing)

    def attempt(self, who: str, act: Any) -> None:
        """Run ``act`` on desk ``who``; a ProtocolError must leave the desk unchanged."""
        desk = self.cns if who == CNS_ID else self.fund
        before = desk.snapshot()
        try:
            step = act()
        except ProtocolError:
            assert desk.snapshot() is before
            return
        self.take(who, step)

    def fund_case(self, i: int) -> str | None:
        cases = sorted(self.fund.snapshot().cases)
        return cases[i % len(cases)] if cases else None

    def apply(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        if kind == "request":
            self.take(PT_FUND, self.fund.handle(RequestEntitlement(action[1], CNS_ID)))
        elif kind == "flush":
            for _ in range(20):
                if not self.inflight:
                    break
                self.apply(("deliver", 0))
        elif kind in ("deliver", "drop"):
            if not self.inflight:
                return
            sender, out = self.inflight.pop(action[1] % len(self.inflight))
            if kind == "deliver":
                receiver = CNS_ID if out.receiver == CNS_ID else PT_FUND
                desk = self.cns if receiver == CNS_ID else self.fund
                self.attempt(receiver, lambda: desk.handle(out.received_by_peer(sender)))
        elif kind == "time":
            self.w.clock.advance(timedelta(days=action[1]))
            now = self.w.clock.now()
            self.attempt(CNS_ID, lambda: self.cns.handle(TimePassed(now)))
            self.attempt(PT_FUND, lambda: self.fund.handle(TimePassed(now)))
        else:
            case_id = self.fund_case(action[1])
            if case_id is None:
                return
            if kind == "register":
                self.attempt(PT_FUND, lambda: self.fund.handle(RegisterEntitlement(case_id)))
            elif kind == "fund_x008":
                x008 = InvalidateDocument(case_id, action[2])
                self.attempt(PT_FUND, lambda: self.fund.handle(x008))
            elif kind == "fund_x011":
                self.attempt(PT_FUND, lambda: self.fund.handle(RejectDocument(case_id, "S072")))
            elif kind == "clarify":
                x012 = RequestClarification(case_id, "S072")
                self.attempt(PT_FUND, lambda: self.fund.handle(x012))
            elif kind == "ask_again":
                self.attempt(PT_FUND, lambda: self.fund.handle(AskAgain(case_id)))
            elif kind == "close":
                self.attempt(PT_FUND, lambda: self.fund.handle(CloseCase(case_id)))
            elif kind == "cns_x008" and case_id in self.cns.snapshot().cases:
                self.attempt(CNS_ID, lambda: self.cns.handle(WithdrawEntitlement(case_id)))

    def check(self) -> None:
        regs = self.cns.registrations
        # Registered only with a confirmed S072 of the CNS and a confirming S073, both in effect.
        for ref, reg in regs.items():
            assert reg.case_id is not None, ref
            cf = self.cns.case(reg.case_id)
            assert cf.member == ref
            s072 = cf.in_effect("S072")
            s073 = cf.in_effect("S073")
            assert s072 is not None, (ref, cf.snapshot)
            assert s073 is not None, (ref, cf.snapshot)
            assert isinstance(s072[1], S072)
            assert s072[1].confirmed
            assert isinstance(s073[1], S073)
            assert s073[1].registered
        # R17: the member insured in Portugal is never registered.
        assert MemberRef("silva", "bia") not in regs
        # Never registered twice: events alternate, and end where the state is.
        balance: Counter[MemberRef] = Counter()
        for e in self.cns_events:
            if isinstance(e, CoInsuranceRegistered):
                balance[e.member] += 1
                assert balance[e.member] == 1, e
            elif isinstance(e, RegistrationWithdrawn):
                balance[e.member] -= 1
                assert balance[e.member] == 0, e
        assert {m for m, n in balance.items() if n} == set(regs)
        # Every case backing a registration is a different one per member.
        assert len({r.case_id for r in regs.values()}) == len(regs)
        # The fund holds a person registered only while its confirming S073 stands.
        for case_id in self.fund.snapshot().registered:
            found = self.fund.case(case_id).in_effect("S073")
            assert found is not None, case_id
            assert found[0].direction is Direction.SEND
            assert isinstance(found[1], S073)
            assert found[1].registered


@settings(max_examples=300, deadline=None)
@given(auto=st.booleans(), actions=st.lists(ACTIONS, max_size=40))
def test_random_interleavings_never_reach_an_inconsistent_registration(
    auto: bool, actions: list[tuple[Any, ...]]
) -> None:
    net = Net(auto)
    for action in actions:
        net.apply(action)
        net.check()


def test_the_happy_interleaving_does_register() -> None:
    """The property is not vacuous: the same machinery registers when the flow completes."""
    net = Net(auto_register=False)
    for action in [("request", "ana"), ("deliver", 0), ("deliver", 0), ("register", 0)]:
        net.apply(action)
    assert net.inflight  # the S073 is in flight
    net.apply(("deliver", 0))
    net.check()
    assert set(net.cns.registrations) == {MemberRef("silva", "ana")}
    net.apply(("fund_x008", 0, "S073"))
    net.apply(("deliver", 0))
    net.check()
    assert not net.cns.registrations
