"""The dashboard's data routes without a browser: the auth rule of the admin API, the
pass-through to the network's institutions only, a live stream that never holds a stopping
node, and the XML view's lines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from network_kit import CNS, FR, up_network

from eessi.node.network import Network
from eessi.sed.examples import example_xml
from eessi.web.xmlview import xml_view

TOKEN = "a-long-random-token-for-the-tests"


@pytest.fixture
async def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    monkeypatch.setenv("EESSI_ADMIN_TOKEN", TOKEN)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "cns-suite.html").write_text("<h1>CNS suite: 13 passed</h1>", encoding="utf-8")
    (reports / "cns-suite.json").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("EESSI_REPORT_DIR", str(reports))
    net = up_network(tmp_path / "journals")
    await net.start()
    try:
        yield net
    finally:
        await net.stop()


async def test_dashboard_data_needs_the_admin_token_and_passes_it_through(
    network: Network,
) -> None:
    cns = network[CNS]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{cns.url}/ui/") as resp:  # the page holds no data: no token
            assert resp.status == 200
            assert "eessi-sim dashboard" in await resp.text()
        async with http.get(f"{cns.url}/ui/data/network") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "admin.unauthorized"
        async with http.get(f"{cns.url}/ui/data/network", headers=auth) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert [(i["id"], i["kind"], i["mock_api"]) for i in body["institutions"]] == [
            (CNS, "cns", False),
            (FR, "mock", True),
        ]
        # the fund's mock routes, reached through the CNS's dashboard with the same token
        async with http.get(f"{cns.url}/ui/data/node/{FR}/mock/rules", headers=auth) as resp:
            assert resp.status == 200
        async with http.get(f"{cns.url}/ui/data/node/{FR}/mock/rules") as resp:
            assert resp.status == 401


async def test_pass_through_reaches_only_the_networks_institutions(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        url = f"{network[CNS].url}/ui/data/node/DE:TKK00001/health"
        async with http.get(url, headers=auth) as resp:
            assert resp.status == 404
            error = (await resp.json())["error"]
    assert error["code"] == "ui.unknown-institution"
    assert CNS in error["hint"]


async def test_conformance_reports_of_the_report_dir_are_listed_and_served_html_only(
    network: Network,
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    base = f"{network[CNS].url}/ui/data"
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{base}/network") as resp:
            assert (await resp.json())["reports"] == ["cns-suite.html"]
        async with http.get(f"{base}/reports/cns-suite.html") as resp:
            assert resp.status == 200
            assert "13 passed" in await resp.text()
        for name in ("cns-suite.json", "..%2Fjournals%2FLU-CNS00001.sqlite"):
            async with http.get(f"{base}/reports/{name}") as resp:
                assert resp.status == 404
                assert (await resp.json())["error"]["code"] == "ui.unknown-report"


async def test_an_open_live_stream_does_not_hold_a_stopping_node(network: Network) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{network[FR].url}/ui/data/stream"
    async with aiohttp.ClientSession() as http, http.get(url, headers=auth) as resp:
        assert resp.content_type == "text/event-stream"
        first = await resp.content.readuntil(b"\n\n")
        assert first.startswith(b"event: network\n")
        async with asyncio.timeout(10):  # aiohttp would wait 60 s for a handler
            await network.stop()
        assert await resp.content.read() == b""  # the stream ended


def test_a_one_line_sed_is_indented_and_its_schema_error_lands_on_the_elements_line() -> None:
    compact = b"".join(line.strip() for line in example_xml("S071", "4.4").splitlines())
    broken = compact.replace(b"<Person>", b"<Stray>x</Stray><Person>", 1)
    view = xml_view(broken)
    assert view["pretty"] is True
    assert not view["ok"]
    [error] = view["errors"]
    assert error["code"] == "sed.schema-violation"
    assert view["lines"][error["line"] - 1].strip() == "<Stray>x</Stray>"


def test_a_multi_line_sed_is_shown_byte_for_byte() -> None:
    data = example_xml("S072", "4.4")
    view = xml_view(data)
    assert view["ok"] is True
    assert view["pretty"] is False
    assert "\n".join(view["lines"]) == data.decode().rstrip("\n")
