"""The process's value types check themselves and compose."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from process_world import CNS_ID, PT_FUND, World

from eessi.core.facts import DocumentKind
from eessi.core.messages import (
    CaseOpened,
    DocumentProvided,
    DocumentReceived,
    RequestEntitlement,
    ServiceDecision,
    Step,
    TimePassed,
)
from eessi.errors import DomainError
from eessi.sed.documents import X001, ClosureReason


@pytest.mark.parametrize(
    "make",
    [
        lambda: TimePassed(datetime(2026, 3, 2, 9, 0)),  # naive
        lambda: DocumentReceived(
            "c", "S_BUC_99", "PT:ISS00001", "d", X001(reason=ClosureReason.OTHER)
        ),
        lambda: DocumentReceived(
            "", "S_BUC_01", "PT:ISS00001", "d", X001(reason=ClosureReason.OTHER)
        ),
        lambda: DocumentProvided("1978072712345", "ana", DocumentKind.S073),
        lambda: DocumentProvided("1978072712345", "ana", DocumentKind.CNS_SERVICE_DECISION),
        lambda: ServiceDecision("1978072712345", "ana", True, DocumentKind.BL1),
    ],
)
def test_malformed_inputs_are_refused_with_a_domain_error_and_a_hint(make: object) -> None:
    with pytest.raises(DomainError) as err:
        make()  # type: ignore[operator]
    assert err.value.code == "domain.bad-input"
    assert err.value.hint


def test_steps_add_up_and_filter_events_by_type() -> None:
    w = World()
    a = w.funds[PT_FUND].handle(RequestEntitlement("ana", CNS_ID))
    b = w.funds[PT_FUND].handle(RequestEntitlement("rui", CNS_ID))
    both = a + b
    assert len(both.outgoing) == 2
    assert len(both.of(CaseOpened)) == 2
    assert Step() + a == a
    out = a.outgoing[0]
    received = out.received_by_peer(PT_FUND)
    assert (received.case_id, received.sender, received.sed) == (out.case_id, PT_FUND, out.sed)
    assert TimePassed(datetime(2026, 3, 2, tzinfo=UTC)).now.year == 2026
