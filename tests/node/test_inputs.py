"""The node's inputs survive the journal: what input_to_json writes, input_from_json reads."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from eessi.core.facts import DocumentKind
from eessi.core.messages import (
    Channel,
    CoInsuranceRequested,
    DocumentProvided,
    IssueEntitlement,
    ServiceDecision,
    TimePassed,
    WithdrawEntitlement,
)
from eessi.errors import JournalError
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    SubmitInput,
    input_from_json,
    input_to_json,
)

INPUTS: list[SubmitInput] = [
    CoInsuranceRequested("1978072712345", "ana", Channel.EMAIL),
    DocumentProvided("1978072712345", "rui", DocumentKind.BIRTH_CERTIFICATE),
    ServiceDecision("1955021212345", "eva", approved=True),
    WithdrawEntitlement("LU-00000000CAFE", "sent by mistake"),
    IssueEntitlement("martin-thionville", "luc", "FR:CPAM5701"),
    IssueEntitlement("martin-thionville", "luc"),
    TimePassed(datetime(2026, 5, 1, 8, 30, 0, 123456, tzinfo=UTC)),
    RequestEntitlement("silva-luxembourg/ana", to="LU:CNS00001", start=date(2026, 3, 1)),
    RequestEntitlement("silva-luxembourg/rui"),
    RegisterEntitlement("PT-00000000CAFE"),
    InvalidateDocument("PT-00000000CAFE", "S073"),
    RejectDocument("PT-00000000CAFE"),
    RequestClarification("PT-00000000CAFE", "S072", "Which period?"),
    CloseCase("PT-00000000CAFE"),
]


@pytest.mark.parametrize("value", INPUTS, ids=lambda v: type(v).__name__)
def test_every_submittable_input_round_trips_through_json(value: SubmitInput) -> None:
    data = input_to_json(value)
    assert data["type"] == type(value).__name__
    assert input_from_json(data) == value


def test_an_unreadable_input_log_entry_is_a_journal_error_naming_it() -> None:
    with pytest.raises(JournalError, match="cannot read") as caught:
        input_from_json({"type": "Teleport", "where": "Mars"})
    assert caught.value.details["input"]["type"] == "Teleport"
