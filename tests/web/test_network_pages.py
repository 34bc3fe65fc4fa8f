"""The dashboard of a network as ``eessi up`` runs it (the CNS and a scriptable mock fund), in a
real browser: every page loads, a mock rule added on the page takes effect, and the document it
breaks is shown with its validation error at its line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from browser_kit import Loop, Page, on_loop
from network_kit import CNS, FR, PERSON, up_network

from eessi.node.network import Network

pytestmark = pytest.mark.slow


@pytest.fixture
def network(loop: Loop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "cns-suite.html").write_text(
        "<!doctype html><title>CNS suite</title><h1>CNS suite: 13 passed</h1>", encoding="utf-8"
    )
    monkeypatch.setenv("EESSI_REPORT_DIR", str(reports))
    net = up_network(tmp_path / "journals")
    loop.run(net.start())
    try:
        yield net
    finally:
        loop.run(net.stop())


async def _post(url: str, body: Any) -> Any:
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
        assert resp.status == 202, await resp.text()
        return await resp.json()


@on_loop
async def test_any_node_serves_one_page_for_the_whole_network(
    page: Page, network: Network, loop: Loop
) -> None:
    fund = network[FR]
    p = page.page
    await p.goto(f"{fund.url}/")  # the fund's own root leads to the dashboard
    await page.ready()
    assert await p.locator("#where").inner_text() == f"· served by {FR}"
    await p.get_by_text("No message yet").wait_for()
    await page.shot("flow-empty")
    # a flow started on the fund appears on the CNS-first lifelines, arrow by arrow
    await _post(f"{fund.url}/api/requests", {"kind": "request_entitlement", "person": PERSON})
    arrows = p.locator("g.arrow")
    await arrows.nth(2).wait_for(timeout=20_000)
    assert [await arrows.nth(i).get_attribute("data-sed") for i in range(3)] == [
        "S071",
        "S072",
        "S073",
    ]
    assert await p.locator("g.actor.cns").count() == 1
    assert await p.locator("g.actor.mock").count() == 1
    await page.shot("flow")
    # cases: the fund's case, filtered by person, its state diagram with the current state
    await p.get_by_role("link", name="Cases").click()
    await page.ready()
    await p.get_by_label("Institution").select_option(CNS)
    await page.ready()
    await p.get_by_label("Person").fill("no such person")
    await p.get_by_text("0 of 1 case(s)").wait_for()
    await p.get_by_label("Person").fill("")
    await p.get_by_label("State").select_option("completed")
    await p.get_by_text("1 of 1 case(s)").wait_for()
    await page.shot("cases")
    await p.locator("tbody a").first.click()
    await page.ready()
    current = p.locator("g.state.current")
    assert await current.get_attribute("data-state") == "completed"
    visited = {
        await p.locator("g.state.visited").nth(i).get_attribute("data-state") for i in range(3)
    }
    assert visited == {"new", "awaiting-reply", "awaiting-confirmation"}
    assert await p.get_by_text("received S071").count() == 1
    assert "X001" in await p.locator("#next-steps").inner_text()  # closing is still allowed
    taken = p.locator("path.edge.taken")
    assert [await taken.nth(i).get_attribute("data-edge") for i in range(await taken.count())] == [
        "new>awaiting-reply", "awaiting-reply>awaiting-confirmation",
        "awaiting-confirmation>completed",
    ]  # fmt: skip
    await page.shot("case")
    # messages: the list, then one, valid, with its envelope
    await p.get_by_role("link", name="Messages").click()
    await page.ready()
    await page.shot("messages")
    await p.get_by_role("link", name="S072 4.4").first.click()
    await page.ready()
    await p.get_by_text("Valid S072 4.4").wait_for()
    assert await p.get_by_text("receipt received (acknowledged)").count() == 1
    await page.shot("message")
    # the households, with the registration the flow made; the virtual clock moved
    await p.get_by_role("link", name="Mocks & clock").click()
    await page.ready()
    marie = p.locator("tr[data-member='martin-thionville/marie']")
    assert "co-insured with luc from 2015-03-01" in await marie.inner_text()
    assert await marie.locator(".rule", has_text="R12").count() == 1
    await p.get_by_label("Move by (ISO 8601)").fill("P1D")
    await p.get_by_role("button", name="Move the clock").click()
    await p.get_by_text("2026-03-03 09:00:00").wait_for()
    assert network.clock_control is not None
    assert network.clock_control.clock.now() == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    await page.shot("mocks-clock-households")
    # the conformance report found in the report directory, linked
    await p.get_by_role("link", name="Conformance").click()
    await page.ready()
    await page.shot("conformance")
    await p.get_by_role("link", name="cns-suite.html").click()
    await p.get_by_text("CNS suite: 13 passed").wait_for()
    # the network reset from the page: the flow starts again from nothing, and draws anew
    # (the IDs drawn again from the seed are the same ones: the page must not take them as seen)
    await p.go_back()
    await page.ready()
    await p.get_by_role("link", name="Mocks & clock").click()
    await page.ready()
    await p.get_by_role("button", name="Reset the whole network").click()
    await p.get_by_text("The network is back to its start.").wait_for()
    await p.get_by_role("link", name="Live flow").click()
    await p.get_by_text("No message yet").wait_for()
    await _post(f"{fund.url}/api/requests", {"kind": "request_entitlement", "person": PERSON})
    await arrows.nth(2).wait_for(timeout=20_000)
    assert await arrows.count() == 3


@on_loop
async def test_mock_rule_added_on_the_page_breaks_s071_and_the_error_shows_at_its_line(
    page: Page, network: Network, loop: Loop
) -> None:
    cns, fund = network[CNS], network[FR]
    p = page.page
    await p.goto(f"{cns.url}/ui/#/mocks")
    await page.ready()
    card = p.locator(f"section.mock-card[data-fund='{FR}']")
    await card.get_by_label("SED").fill("S071")
    await card.get_by_label("Effect").select_option("malformed")
    await card.get_by_label("Parameters (JSON)").fill('{"malformed": "schema-invalid"}')
    await card.get_by_role("button", name="Add rule").click()
    row = card.locator("tbody tr", has_text='"malformed":"schema-invalid"')
    await row.wait_for()
    assert await p.locator("#status").inner_text() == f"Rule added to {FR}"
    await page.shot("mocks")
    # the rule takes effect: the fund's next S071 is refused by the CNS
    await _post(f"{fund.url}/api/requests", {"kind": "request_entitlement", "person": PERSON})
    await p.get_by_role("link", name="Live flow").click()
    refused = p.locator("g.arrow[data-sed='S071'][data-status='refused']")
    await refused.wait_for(timeout=20_000)
    await page.shot("flow-refused")
    await refused.click()
    await page.ready()
    errors = p.locator("#errors")
    await errors.get_by_text("1 validation error(s)").wait_for()
    marked = p.locator("ol.xml li.has-error")
    assert await marked.count() == 1
    line = int(await marked.get_attribute("data-line") or 0)
    assert await errors.get_by_role("link", name=f"line {line}").count() == 1
    assert "sed.schema-violation" in await marked.inner_text()
    # the sender's copy, from the same page: the fund's attempt that the CNS refused
    assert await p.get_by_role("link", name=f"sent by {FR}").count() == 1
    await page.shot("message-invalid")
    # the rule removed from the page: the next S071 is accepted again
    await p.get_by_role("link", name="Mocks & clock").click()
    await page.ready()
    card = p.locator(f"section.mock-card[data-fund='{FR}']")
    await card.locator("tbody tr", has_text="schema-invalid").get_by_role("button").click()
    await card.locator("tbody tr", has_text="schema-invalid").wait_for(state="detached")
    async with aiohttp.ClientSession() as http, http.get(f"{fund.url}/api/mock/rules") as resp:
        assert "schema-invalid" not in await resp.text()
