"""The node's inputs survive the journal: what input_to_json writes, input_from_json reads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

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
from eessi.errors import DomainError, JournalError
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
    SubmitInput,
    apply_input,
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


def _desks() -> tuple[Any, Any]:
    from eessi.clock import VirtualClock
    from eessi.directory import load_default_directory
    from eessi.ids import SeededIds
    from eessi.node.desk_factory import desk_factory
    from eessi.node.households import load_households

    directory, households = load_default_directory(), load_households()
    clock, ids = VirtualClock(), SeededIds(1)
    cns = desk_factory(directory.get("LU:CNS00001"), directory, households)(clock, ids, None)
    fund = desk_factory(directory.get("FR:CPAM5701"), directory, households)(clock, ids, None)
    return cns, fund


@pytest.mark.parametrize(
    ("side", "value"),
    [
        ("cns", RegisterEntitlement("LU-0001")),
        ("cns", RequestEntitlement("martin-thionville/marie")),
        ("fund", CoInsuranceRequested("1978072712345", "ana", Channel.EMAIL)),
        ("fund", IssueEntitlement("martin-thionville", "luc")),
    ],
)
def test_an_input_for_the_other_kind_of_desk_is_refused_naming_the_institution(
    side: str, value: SubmitInput
) -> None:
    cns, fund = _desks()
    desk = cns if side == "cns" else fund
    before = desk.snapshot()
    with pytest.raises(DomainError) as caught:
        apply_input(desk, value, cns_id=lambda: "LU:CNS00001", where="XX:HERE01")
    assert caught.value.code == "node.wrong-desk"
    assert caught.value.where == "XX:HERE01"
    assert desk.snapshot() == before


def test_a_fund_request_without_a_receiver_goes_to_the_cns_it_is_given() -> None:
    _, fund = _desks()
    step = apply_input(
        fund,
        RequestEntitlement("martin-thionville/marie"),
        cns_id=lambda: "LU:CNS00001",
        where="FR",
    )
    assert [(o.receiver, o.sed.code) for o in step.outgoing] == [("LU:CNS00001", "S071")]
