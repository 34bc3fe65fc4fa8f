"""Deadlines on a virtual clock: the waiting side reminds (X009), the other answers (X010)."""

from __future__ import annotations

from datetime import timedelta

from process_world import CNS_ID, FR_FUND, PT_FUND, World

from eessi.core.cns import CnsDesk
from eessi.core.facts import DocumentKind
from eessi.core.fund import FundPolicy
from eessi.core.messages import (
    CaseOpened,
    DocumentProvided,
    DocumentsReminder,
    ReminderSent,
    RequestEntitlement,
    TimePassed,
)
from eessi.ids import SeededIds
from eessi.sed.documents import S072, X009, X010, ReminderReply

LUC_PIN = "1985080812345"


def _silent_pt() -> World:
    """The Portuguese fund does not send its S073 by itself."""
    return World(policies={"PT:ISS00001": FundPolicy(auto_register=False)})


def test_cns_sets_a_timer_when_it_starts_waiting_for_the_s073() -> None:
    w = _silent_pt()
    step = w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID))
    s071 = step.outgoing[0]
    answer = w.cns.handle(s071.received_by_peer(PT_FUND))
    assert isinstance(answer.outgoing[0].sed, S072)
    due = w.clock.now() + timedelta(days=60)
    assert answer.timers[0].due == due
    assert all(t.case_id == s071.case_id for t in answer.timers)


def test_R14_cns_reminds_the_fund_once_the_s073_is_overdue_and_the_fund_answers_x010() -> None:
    w = _silent_pt()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    w.clock.advance(timedelta(days=59))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    assert not w.events(ReminderSent)  # not overdue yet

    w.clock.advance(timedelta(days=2))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    (reminded,) = w.events(ReminderSent, CNS_ID)
    assert reminded.awaited_sed == "S073"
    x009 = [o for o in w.sent if isinstance(o.sed, X009)]
    assert len(x009) == 1
    assert x009[0].receiver == PT_FUND
    assert x009[0].sed.awaited[0].sed_type == "S073"
    (x010,) = [o.sed for o in w.sent if isinstance(o.sed, X010)]
    assert x010.reply is ReminderReply.WILL_BE_SENT  # the fund still owes the S073
    assert x010.reminder.sed_id == x009[0].document_id

    w.clock.advance(timedelta(days=1))
    w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
    assert len(w.events(ReminderSent)) == 1  # once per wait


def test_R15_fund_reminds_the_cns_that_waits_for_documents_and_the_cns_says_will_be_sent() -> None:
    w = World()
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("noah", CNS_ID)), FR_FUND)
    case_id = w.events(CaseOpened, FR_FUND)[0].case_id
    w.clock.advance(timedelta(days=61))
    w.run(w.funds[FR_FUND].handle(TimePassed(w.clock.now())), FR_FUND)
    (reminded,) = w.events(ReminderSent, FR_FUND)
    assert reminded.awaited_sed == "S072"
    assert reminded.case_id == case_id
    (x010,) = [o for o in w.sent if isinstance(o.sed, X010)]
    assert x010.receiver == FR_FUND
    assert x010.sed.reply is ReminderReply.WILL_BE_SENT


def test_R15_documents_still_missing_after_the_deadline_are_reminded_once() -> None:
    w = World()
    w.run(w.funds[FR_FUND].handle(RequestEntitlement("noah", CNS_ID)), FR_FUND)
    doc_timers = [t for t in w.cns_timers if t.case_id is None]
    assert doc_timers[0].due == w.clock.now() + timedelta(days=30)
    w.run(w.cns.handle(DocumentProvided(LUC_PIN, "noah", DocumentKind.BIRTH_CERTIFICATE)), CNS_ID)
    w.clock.advance(timedelta(days=29))
    assert not w.cns.handle(TimePassed(w.clock.now())).of(DocumentsReminder)
    w.clock.advance(timedelta(days=2))
    step = w.cns.handle(TimePassed(w.clock.now()))
    (reminder,) = step.of(DocumentsReminder)
    assert reminder.rule == "R15"
    assert reminder.kinds == (DocumentKind.HOUSEHOLD_COMPOSITION,)  # the birth certificate is in
    w.clock.advance(timedelta(days=31))
    assert not w.cns.handle(TimePassed(w.clock.now())).of(DocumentsReminder)


def test_R14_a_cns_desk_restored_from_a_snapshot_still_reminds_the_overdue_fund() -> None:
    """What is due is part of the state: a desk rebuilt from a snapshot (a node's rollback)
    reminds exactly as the desk it replaces would have."""
    w = _silent_pt()
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    before = w.cns.snapshot()
    w.clock.advance(timedelta(days=61))
    first = w.cns.handle(TimePassed(w.clock.now()))
    restored = CnsDesk(CNS_ID, w.cns.registry, w.clock, SeededIds(99), state=before)
    again = restored.handle(TimePassed(w.clock.now()))
    assert [type(e) for e in again.events] == [type(e) for e in first.events]
    assert [e for e in again.events if isinstance(e, ReminderSent)]
    assert w.cns.snapshot() != before  # the first desk moved on; the snapshot did not
    assert restored.snapshot() != before


def test_R14_time_passing_twice_reminds_once_per_wait_on_both_sides() -> None:
    w = World(policies={PT_FUND: FundPolicy(auto_register=False)})
    w.run(w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID)), PT_FUND)
    for _ in range(3):
        w.clock.advance(timedelta(days=61))
        w.run(w.cns.handle(TimePassed(w.clock.now())), CNS_ID)
        w.run(w.funds[PT_FUND].handle(TimePassed(w.clock.now())), PT_FUND)
    assert len(w.events(ReminderSent, CNS_ID)) == 1
