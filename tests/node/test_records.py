"""The JSON forms the node journals: the same text for an event however often it is written
(field lists and kinds are cached per class)."""

from __future__ import annotations

from eessi.core.buc_table import Role
from eessi.core.messages import CaseOpened, MemberRef
from eessi.node.records import event_json, jsonable


def test_an_event_is_written_as_its_kebab_case_kind_and_its_fields_every_time() -> None:
    opened = CaseOpened("LU-1", "S_BUC_01", Role.COUNTERPARTY, "PT:ISS00001", MemberRef("s", "a"))
    expected = (
        "case-opened",
        {
            "case_id": "LU-1",
            "buc": "S_BUC_01",
            "role": Role.COUNTERPARTY.value,
            "peer": "PT:ISS00001",
            "member": str(MemberRef("s", "a")),
        },
    )
    assert event_json(opened) == expected
    assert event_json(opened) == expected  # second time: from the cached field list
    other = CaseOpened("LU-2", "S_BUC_24", Role.CASE_OWNER, "DE:TKK00001")
    assert event_json(other)[1]["member"] is None
    assert jsonable((opened, other))[1]["case_id"] == "LU-2"
