"""The mock admin routes over real HTTP: rules set and removed at run time, resets of a case or
a fund, the interceptors' log, and queries (XPath, long-poll) of what a mock received."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from eessi.errors import ConfigError
from eessi.mock.admin import add_mock_routes
from eessi.node.admin import add_admin_routes
from eessi.node.http_api import ADMIN_AUTH, AdminAuth
from eessi.node.inputs import RequestEntitlement

from .kit import CNS, FR, MARIE, World


def api(w: World, path: str) -> str:
    assert w[FR].url is not None
    return f"{w[FR].url}/api/mock{path}"


async def call(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None, **params: Any
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, params=params or None) as resp:
        data = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, data


async def test_a_rule_set_through_the_api_changes_the_funds_answer(
    w: World, http: aiohttp.ClientSession
) -> None:
    rule = {"id": "quiet", "match": {"sed": "S072"}, "effect": "silent"}
    status, added = await call(http, "POST", api(w, "/rules"), rule)
    assert status == 201
    assert added["added"][0]["effect"] == {"kind": "silent"}
    case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()
    assert [m.sed_type for m in await w.messages(CNS)] == ["S071", "S072"]
    status, log = await call(http, "GET", api(w, "/log"), case=case)
    assert [(e["reacting_to"], e["effect"], e["rule"]) for e in log["log"]][-1] == (
        "S072",
        "silent",
        "quiet",
    )
    status, state = await call(http, "GET", api(w, f"/cases/{case}"))
    assert state["seen"] == {"S071": 1, "S072": 1}  # its own S071, then the S072
    status, listed = await call(http, "GET", api(w, "/cases"))
    assert [c["case"] for c in listed["cases"]] == [case]


async def test_rules_can_be_listed_removed_and_reset(w: World, http: aiohttp.ClientSession) -> None:
    rules = [
        {"match": {"sed": "S072"}, "effect": {"kind": "delay", "min": 1, "max": 9}},
        {"match": {"case": "FR-1"}, "effect": "close"},
    ]
    status, added = await call(http, "POST", api(w, "/rules"), {"rules": rules})
    assert status == 201
    ids = [r["id"] for r in added["added"]]
    assert len(set(ids)) == 2
    status, listed = await call(http, "GET", api(w, "/rules"))
    assert [r["id"] for r in listed["rules"]] == ids
    status, _ = await call(http, "DELETE", api(w, f"/rules/{ids[0]}"))
    assert status == 204
    status, err = await call(http, "DELETE", api(w, f"/rules/{ids[0]}"))
    assert (status, err["error"]["code"]) == (404, "mock.unknown-rule")
    status, reset = await call(http, "POST", api(w, "/reset"), {"case": "FR-1"})
    assert (status, reset["reset"], reset["rules"]) == (200, "case", [])
    await call(http, "POST", api(w, "/rules"), rules[0])
    status, reset = await call(http, "POST", api(w, "/reset"))
    assert (reset["reset"], reset["rules"]) == ("fund", [])


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"match": {"sed": "S999"}, "effect": "silent"}, "rule #1, key 'match.sed'"),
        ({"match": {}, "effect": {"kind": "fail", "mode": "boom"}}, "rule #1, key 'effect.mode'"),
        ({"rules": []}, "/rules"),
    ],
)
async def test_a_bad_rule_is_refused_with_400_and_where(
    w: World, http: aiohttp.ClientSession, body: Any, where: str
) -> None:
    status, err = await call(http, "POST", api(w, "/rules"), body)
    assert status == 400
    assert err["error"]["where"] == where
    _, listed = await call(http, "GET", api(w, "/rules"))
    assert listed["rules"] == []  # nothing half-added


async def test_a_body_that_is_not_json_is_refused(w: World, http: aiohttp.ClientSession) -> None:
    async with http.post(api(w, "/rules"), data=b"{nope") as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "admin.bad-json"


async def test_received_filters_by_xpath_and_selects_values(
    w: World, http: aiohttp.ClientSession
) -> None:
    case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
    await w.settle()
    status, got = await call(
        http,
        "GET",
        api(w, "/received"),
        case=case,
        xpath="/sed:S072",
        select="/s:S072/Person/PersonIdentification/familyName",
        ns="s=http://ec.europa.eu/eessi/ns/4_4/S072",
    )
    assert status == 200
    (s072,) = got["received"]
    assert (s072["sed_type"], s072["status"], s072["values"]) == ("S072", "processed", ["Martin"])
    assert s072["payload"].startswith("<?xml")
    _, none = await call(http, "GET", api(w, "/received"), case=case, xpath="/sed:S041")
    assert none["received"] == []


async def test_received_long_polls_until_the_document_arrives(
    w: World, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.create_task(call(http, "GET", api(w, "/received"), sed="S072", wait="5"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await w[FR].submit(RequestEntitlement(MARIE))
    status, got = await waiting
    assert status == 200
    assert [m["sed_type"] for m in got["received"]] == ["S072"]
    await w.settle()


async def test_received_answers_408_when_nothing_arrives(
    w: World, http: aiohttp.ClientSession
) -> None:
    status, err = await call(http, "GET", api(w, "/received"), sed="X009", wait="0.2")
    assert (status, err["error"]["code"]) == (408, "mock.not-received")
    assert (
        "received 0 of the 1 awaited message(s) after seq 0 (sed=X009)" in err["error"]["message"]
    )


@pytest.mark.parametrize(
    "params",
    [{"wait": "-1"}, {"wait": "soon"}, {"ns": "nope"}, {"status": "lost"}, {"xpath": "/a["}],
)
async def test_bad_query_parameters_are_400(
    w: World, http: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    status, err = await call(http, "GET", api(w, "/received"), **params)
    assert status == 400
    assert "error" in err


async def test_the_profile_route_shows_the_profile_and_its_rules(
    w: World, http: aiohttp.ClientSession
) -> None:
    status, got = await call(http, "GET", api(w, "/profile"))
    assert status == 200
    assert got["profile"]["id"] == FR
    assert got["profile"]["kind"] == "eessi"


async def test_a_token_is_required_when_one_is_set(w: World, http: aiohttp.ClientSession) -> None:
    app = web.Application()
    add_mock_routes(app, w[FR], w.mocks, token="s3cret-token")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/api/mock/rules"
        status, err = await call(http, "GET", url)
        assert (status, err["error"]["code"]) == (401, "admin.unauthorized")
        async with http.get(url, headers={"Authorization": "Bearer s3cret-token"}) as resp:
            assert resp.status == 200
    finally:
        await runner.cleanup()


def test_routes_off_loopback_need_a_token(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="without a token"):
        add_mock_routes(web.Application(), w[FR], w.mocks, host="0.0.0.0")


async def _serve(app: web.Application, host: str) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    return runner, f"http://{host}:{runner.addresses[0][1]}"


async def test_mock_routes_mounted_as_enable_mock_does_need_the_node_apis_token(
    w: World, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The node's admin API was given a token; the mock routes, mounted after it with no
    # token and no host (enable_mock's defaults), follow the same rule: same 401, same body.
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    app = web.Application()
    add_admin_routes(app, w[FR], token="node-token-123", host="127.0.0.1")
    add_mock_routes(app, w[FR], w.mocks)
    runner, base = await _serve(app, "127.0.0.1")
    try:
        node_status, node_err = await call(http, "GET", f"{base}/api/health")
        mock_status, mock_err = await call(http, "GET", f"{base}/api/mock/rules")
        assert (node_status, mock_status) == (401, 401)
        assert mock_err == node_err
        assert mock_err["error"]["where"] == "Authorization header"
        bearer = {"Authorization": "Bearer node-token-123"}
        async with http.get(f"{base}/api/mock/rules", headers=bearer) as resp:
            assert resp.status == 200
        async with http.get(f"{base}/api/health", headers=bearer) as resp:
            assert resp.status == 200
    finally:
        await runner.cleanup()


async def test_mock_routes_refuse_a_request_that_did_not_arrive_over_loopback_as_the_api_does(
    w: World, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No token anywhere. The server listens on 127.0.0.2, which this app's auth rule is told is
    # not local (a stand-in for a LAN interface: tests stay on loopback). The rule reads the
    # socket's addresses, not the Host header: both route sets refuse, the same way.
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    app = web.Application()
    app[ADMIN_AUTH] = AdminAuth(None, is_local=lambda address: address == "127.0.0.1")
    add_admin_routes(app, w[FR], host="127.0.0.2")
    add_mock_routes(app, w[FR], w.mocks)
    runner, base = await _serve(app, "127.0.0.2")
    try:
        spoofed = {"Host": "127.0.0.1"}
        async with http.get(f"{base}/api/health", headers=spoofed) as resp:
            node = (resp.status, await resp.json())
        async with http.post(f"{base}/api/mock/reset", json={}, headers=spoofed) as resp:
            mock = (resp.status, await resp.json())
        assert node[0] == mock[0] == 401
        assert mock[1] == node[1]
        assert "did not arrive over loopback" in mock[1]["error"]["message"]
    finally:
        await runner.cleanup()


async def test_a_deeply_nested_rule_body_is_400_with_the_depth(
    w: World, http: aiohttp.ClientSession
) -> None:
    body = b'{"rules": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    headers = {"Content-Type": "application/json"}
    async with http.post(api(w, "/rules"), data=body, headers=headers) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["code"] == "admin.too-deep"
    assert error["where"] == "request body, line 1, column 42"
    # Brackets inside strings are text, not nesting.
    rule = {"id": "[{" * 200, "match": {}, "effect": "silent"}
    status, added = await call(http, "POST", api(w, "/rules"), rule)
    assert (status, added["added"][0]["id"]) == (201, "[{" * 200)
