"""The fund's admin request ``reject_document`` takes the X011's reason code: the CNS receives
an X011 with that reason; a code outside the list is refused with the accepted ones."""

from __future__ import annotations

import re

import pytest
from test_cns_rejection_node import PERSON, Pair, pair

__all__ = ["pair"]  # the fixture: the CNS and the French fund on loopback


@pytest.mark.parametrize(("reason", "sent"), [("03", "03"), (None, "04")])
async def test_reject_document_sends_an_X011_with_the_reason_asked_for(
    pair: Pair, reason: str | None, sent: str
) -> None:
    body = {"kind": "request_entitlement", "person": PERSON}
    (case_id,) = (await pair.call(pair.fund, "POST", "/api/requests", body))["cases"]
    await pair.settle()
    body = {"kind": "reject_document", "case_id": case_id, "sed": "S072"}
    if reason is not None:
        body["reason"] = reason
    await pair.call(pair.fund, "POST", "/api/requests", body)
    await pair.settle()

    page = await pair.call(pair.cns, "GET", f"/api/messages?case={case_id}&sed=X011")
    (x011,) = page["items"]
    assert pair.cns.url is not None
    async with pair.http.get(f"{pair.cns.url}/api/messages/{x011['message_id']}/raw") as resp:
        xml = await resp.text()
    assert re.findall(r"<reason>\s*<value>(\d+)</value>", xml) == [sent]


async def test_reject_document_with_an_unknown_reason_is_400_naming_the_accepted_codes(
    pair: Pair,
) -> None:
    assert pair.fund.url is not None
    body = {"kind": "reject_document", "case_id": "FR-1", "reason": "07"}
    async with pair.http.post(f"{pair.fund.url}/api/requests", json=body) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["where"] == "/reason"
    assert "04" in error["hint"]
    assert "99" in error["hint"]
