from __future__ import annotations

import itertools
from dataclasses import FrozenInstanceError, replace
from datetime import datetime

import pytest
from journal_records import inbound, outbound

from eessi.errors import JournalError
from eessi.journal import (
    FINAL_STATUSES,
    INITIAL_STATUS,
    TRANSITIONS,
    Direction,
    MessageStatus,
)
from eessi.journal.base import check_transition, encode_json


def test_inbound_and_outbound_statuses_are_disjoint_and_start_where_the_journal_stores_them() -> (
    None
):
    inbound_statuses = {s for s in MessageStatus if s.direction is Direction.IN}
    assert inbound_statuses == {
        MessageStatus.RECEIVED,
        MessageStatus.PROCESSED,
        MessageStatus.REJECTED,
        MessageStatus.REFUSED,
        MessageStatus.PROCESSING_FAILED,
        MessageStatus.EXPIRED,
    }
    assert INITIAL_STATUS[Direction.IN] is MessageStatus.RECEIVED
    assert INITIAL_STATUS[Direction.OUT] is MessageStatus.QUEUED


def test_no_transition_crosses_directions() -> None:
    for current, targets in TRANSITIONS.items():
        assert all(t.direction is current.direction for t in targets), current


def test_acknowledged_is_final_and_says_so() -> None:
    assert MessageStatus.ACKNOWLEDGED in FINAL_STATUSES
    with pytest.raises(JournalError) as info:
        check_transition("m1", MessageStatus.ACKNOWLEDGED, MessageStatus.SENDING)
    assert info.value.code == "journal.illegal-status"
    assert "final" in str(info.value)
    assert "m1" in str(info.value)


def test_an_illegal_step_lists_the_legal_ones() -> None:
    with pytest.raises(JournalError, match="may go to: failed, sending"):
        check_transition("m1", MessageStatus.QUEUED, MessageStatus.ACKNOWLEDGED)


def test_the_normal_outbound_path_is_legal() -> None:
    path = [
        MessageStatus.QUEUED,
        MessageStatus.SENDING,
        MessageStatus.RETRYING,
        MessageStatus.SENDING,
        MessageStatus.WAITING_FOR_RECEIPT,
        MessageStatus.ACKNOWLEDGED,
    ]
    for current, new in itertools.pairwise(path):
        check_transition("m1", current, new)


def test_a_record_refuses_a_status_of_the_other_direction() -> None:
    with pytest.raises(JournalError, match="does not apply to a inbound message"):
        inbound("m1", status=MessageStatus.QUEUED)


def test_a_record_keeps_bytes_only() -> None:
    with pytest.raises(JournalError, match="must be bytes"):
        inbound("m1", payload="<S071/>")


def test_a_record_refuses_naive_times() -> None:
    with pytest.raises(JournalError, match="created_at must be a timezone-aware"):
        outbound("m1", created_at=datetime(2026, 1, 5, 9, 0))


def test_records_are_frozen_and_hide_bytes_from_repr() -> None:
    record = inbound("m1")
    with pytest.raises(FrozenInstanceError):
        record.status = MessageStatus.PROCESSED  # type: ignore[misc]
    assert "payload" not in repr(record)
    assert replace(record, attempts=2).attempts == 2


def test_event_data_must_be_json() -> None:
    assert encode_json({"b": 1, "a": [True, None]}, what="x") == '{"a":[true,null],"b":1}'
    with pytest.raises(JournalError, match="not JSON-compatible"):
        encode_json({"when": datetime.now()}, what="event data")
