"""The admin API's read side, errors and authentication, on a real server and a real journal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from admin_support import BE, CNS, FR, T0, JournalView, record, view
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from eessi.clock import VirtualClock
from eessi.errors import ConfigError
from eessi.journal import Direction, Journal, MessageStatus, open_journal
from eessi.node.admin import add_admin_routes, is_loopback, require_token

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await open_journal(tmp_path / "journal.sqlite", synchronous="NORMAL") as j:
        yield j


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
async def make_client(journal: Journal, clock: VirtualClock) -> AsyncIterator[MakeClient]:
    clients: list[Client] = []

    async def make(target: JournalView | None = None, **options: Any) -> Client:
        app = web.Application()
        add_admin_routes(app, target or view(CNS, journal, clock), **options)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()


async def _fill(journal: Journal) -> None:
    """Two cases with FR, one with BE, inbound and outbound, events in the first case."""
    t1 = T0 + timedelta(seconds=1)
    await journal.accept_inbound(record("in-1", Direction.IN, case="FR-CASE1", peer=FR))
    async with journal.transaction() as tx:
        await tx.append_events(
            "FR-CASE1",
            [("document-received", {"sed": "S071"}), ("state-changed", {"to": "awaiting-reply"})],
            at=t1,
            message_id="in-1",
        )
        await tx.save_case("FR-CASE1", {"buc": "S_BUC_01", "state": "awaiting-reply"}, at=t1)
        await tx.enqueue_outbound(
            record("out-1", Direction.OUT, case="FR-CASE1", peer=FR, sed="S072", at=t1)
        )
        await tx.mark_processed("in-1", at=t1)
    t2 = T0 + timedelta(days=2)
    await journal.accept_inbound(
        record("in-2", Direction.IN, case="FR-CASE1", peer=FR, sed="S073", at=t2)
    )
    await journal.accept_inbound(
        record("in-3", Direction.IN, case="BE-CASE2", peer=BE, at=T0 + timedelta(days=3))
    )
    await journal.accept_inbound(
        record("in-4", Direction.IN, case="FR-CASE3", peer=FR, at=T0 + timedelta(days=4))
    )


# --------------------------------------------------------------------------- health, entry


async def test_health_reports_institution_version_journal_counts_and_uptime(
    client: Client, journal: Journal, clock: VirtualClock
) -> None:
    await _fill(journal)
    clock.advance(timedelta(minutes=5))
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["institution"] == CNS
    assert body["kind"] == "cns"
    assert body["status"] == "ok"
    assert body["journal"] == {"ok": True, "messages": 5}
    assert body["messages_by_status"] == {"processed": 1, "queued": 1, "received": 3}
    assert body["uptime_seconds"] == 300.0


async def test_health_is_503_when_the_journal_is_closed(client: Client, journal: Journal) -> None:
    await journal.close()
    resp = await client.get("/api/health")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert body["journal"]["ok"] is False


async def test_institution_gives_the_directory_entry_without_the_credential(
    client: Client,
) -> None:
    resp = await client.get("/api/institution")
    body = await resp.json()
    assert body["id"] == CNS
    assert "credential" not in body
    assert "co_insurance_request" in body["requests"]


# --------------------------------------------------------------------------- messages


async def test_messages_are_listed_in_journal_order_and_filtered(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)

    async def ids(query: str) -> list[str]:
        resp = await client.get("/api/messages" + query)
        assert resp.status == 200, await resp.text()
        return [m["message_id"] for m in (await resp.json())["items"]]

    assert await ids("") == ["in-1", "out-1", "in-2", "in-3", "in-4"]
    assert await ids("?case=FR-CASE1") == ["in-1", "out-1", "in-2"]
    assert await ids("?direction=out") == ["out-1"]
    assert await ids("?status=received") == ["in-2", "in-3", "in-4"]
    assert await ids("?status=processed,queued") == ["in-1", "out-1"]
    assert await ids("?sed=S072,S073") == ["out-1", "in-2"]
    assert await ids("?counterparty=BE:MC000200") == ["in-3"]
    assert await ids("?since=2026-01-07T00:00:00Z") == ["in-2", "in-3", "in-4"]
    assert await ids("?since=2026-01-07T00:00:00Z&direction=in&case=FR-CASE1") == ["in-2"]


async def test_message_pages_follow_the_next_cursor_to_the_end(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    seen: list[str] = []
    query = "/api/messages?limit=2"
    pages = 0
    while True:
        body = await (await client.get(query)).json()
        seen += [m["message_id"] for m in body["items"]]
        pages += 1
        if body["next"] is None:
            break
        query = f"/api/messages?limit=2&after={body['next']}"
    assert seen == ["in-1", "out-1", "in-2", "in-3", "in-4"]
    assert pages == 3


async def test_message_metadata_names_its_case_status_and_links(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    resp = await client.get("/api/messages/out-1")
    body = await resp.json()
    assert body["direction"] == "out"
    assert body["status"] == "queued"
    assert body["sed_type"] == "S072"
    assert body["case_id"] == "FR-CASE1"
    assert body["receiver"] == FR
    assert body["links"]["raw"] == "/api/messages/out-1/raw"


async def test_raw_gives_the_payload_and_envelope_byte_exact(
    client: Client, journal: Journal
) -> None:
    payload = b"\xef\xbb\xbf<?xml version='1.0'?>\r\n<S071 a='1'>\t\xc3\xa9</S071>\n\n"
    envelope = b"<Envelope>\r\n  <MessageId>in-9</MessageId></Envelope>"
    await journal.accept_inbound(
        record("in-9", Direction.IN, case="FR-X", peer=FR, payload=payload, envelope=envelope)
    )
    resp = await client.get("/api/messages/in-9/raw")
    assert resp.status == 200
    assert resp.content_type == "application/xml"
    assert await resp.read() == payload
    resp = await client.get("/api/messages/in-9/raw?part=envelope")
    assert await resp.read() == envelope


async def test_raw_envelope_of_an_unframed_outbound_message_is_404_with_a_hint(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    resp = await client.get("/api/messages/out-1/raw?part=envelope")
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "admin.no-envelope"
    assert "payload" in error["hint"]


async def test_validation_reports_the_schema_errors_of_a_stored_invalid_document(
    client: Client, journal: Journal
) -> None:
    good = record("in-ok", Direction.IN, case="FR-X", peer=FR)
    # Insert an element the schema does not allow right after the root's start tag.
    start = good.payload.index(b">", good.payload.index(b"<sed:S071")) + 1
    bad_payload = good.payload[:start] + b"<bogus>1</bogus>" + good.payload[start:]
    await journal.accept_inbound(good)
    await journal.accept_inbound(
        record("in-bad", Direction.IN, case="FR-X", peer=FR, payload=bad_payload)
    )
    ok = await (await client.get("/api/messages/in-ok/validation")).json()
    assert ok["ok"] is True
    assert ok["sed"] == "S071"
    assert ok["errors"] == []
    resp = await client.get("/api/messages/in-bad/validation")
    assert resp.status == 200
    report = await resp.json()
    assert report["ok"] is False
    assert report["sed"] == "S071"
    assert report["version"] == "4.4"
    assert report["errors"][0]["code"] == "sed.schema-violation"
    assert "bogus" in report["errors"][0]["message"]
    assert report["errors"][0]["line"] is not None


async def test_validation_of_bytes_that_are_not_xml_is_a_report_not_an_error(
    client: Client, journal: Journal
) -> None:
    await journal.accept_inbound(
        record("in-junk", Direction.IN, case="FR-X", peer=FR, payload=b"\x00\xffnot xml")
    )
    report = await (await client.get("/api/messages/in-junk/validation")).json()
    assert report["ok"] is False
    assert report["errors"][0]["code"] == "sed.not-xml"


@pytest.mark.parametrize(
    "path", ["/api/messages/nope", "/api/messages/nope/raw", "/api/messages/nope/validation"]
)
async def test_unknown_message_is_404_naming_it(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "admin.unknown-message"
    assert "'nope'" in error["message"]
    assert "GET /api/messages" in error["hint"]


# --------------------------------------------------------------------------- cases


async def test_cases_are_listed_with_buc_state_and_counterparty(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    body = await (await client.get("/api/cases")).json()
    cases = {c["case_id"]: c for c in body["items"]}
    assert list(cases) == ["BE-CASE2", "FR-CASE1", "FR-CASE3"]
    first = cases["FR-CASE1"]
    assert first["buc"] == "S_BUC_01"
    assert first["state"] == "awaiting-reply"
    assert first["counterparty"] == FR
    assert first["messages"] == 3
    assert cases["BE-CASE2"]["counterparty"] == BE


async def test_cases_filter_by_state_buc_counterparty_and_since(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)

    async def ids(query: str) -> list[str]:
        resp = await client.get("/api/cases" + query)
        assert resp.status == 200, await resp.text()
        return [c["case_id"] for c in (await resp.json())["items"]]

    assert await ids("?state=awaiting-reply") == ["FR-CASE1"]
    assert await ids("?buc=S_BUC_01") == ["FR-CASE1"]
    assert await ids("?counterparty=FR:CPAM5701") == ["FR-CASE1", "FR-CASE3"]
    assert await ids("?since=2026-01-08T00:00:00%2B00:00") == ["BE-CASE2", "FR-CASE3"]
    assert await ids("?limit=1&after=BE-CASE2") == ["FR-CASE1"]


async def test_case_timeline_puts_messages_and_events_in_the_order_they_happened(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    body = await (await client.get("/api/cases/FR-CASE1")).json()
    timeline = [
        (item["type"], item.get("message_id") if item["type"] == "message" else item["kind"])
        for item in body["timeline"]
    ]
    assert timeline == [
        ("message", "in-1"),
        ("event", "document-received"),
        ("event", "state-changed"),
        ("message", "out-1"),
        ("message", "in-2"),
    ]
    first = body["timeline"][0]
    assert first["direction"] == "in"
    assert first["sed_type"] == "S071"
    assert first["sed_version"] == "4.4"
    assert first["status"] == "processed"
    assert body["timeline"][1]["data"] == {"sed": "S071"}
    assert body["snapshot"] == {"buc": "S_BUC_01", "state": "awaiting-reply"}


async def test_unknown_case_is_404_naming_it(client: Client) -> None:
    resp = await client.get("/api/cases/LU-NOPE")
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "admin.unknown-case"
    assert "LU-NOPE" in error["message"]


# --------------------------------------------------------------------------- bad queries


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("/api/messages?status=lost", "query parameter 'status'"),
        ("/api/messages?direction=sideways", "query parameter 'direction'"),
        ("/api/messages?since=yesterday", "query parameter 'since'"),
        ("/api/messages?since=2026-01-05T09:00:00", "query parameter 'since'"),
        ("/api/messages?limit=0", "query parameter 'limit'"),
        ("/api/messages?limit=many", "query parameter 'limit'"),
        ("/api/messages?after=unknown", "query parameter 'after'"),
        ("/api/cases?state=open", "query parameter 'state'"),
    ],
)
async def test_bad_query_parameters_are_400_naming_the_parameter(
    client: Client, journal: Journal, query: str, where: str
) -> None:
    await _fill(journal)
    resp = await client.get(query)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "admin.bad-query"
    assert error["where"] == where
    assert error["hint"]


async def test_unknown_route_and_wrong_method_answer_json_errors(client: Client) -> None:
    resp = await client.get("/api/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "admin.not-found"
    resp = await client.post("/api/health")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "admin.method-not-allowed"
    assert "GET" in resp.headers["Allow"]


async def test_households_on_a_fund_and_records_on_the_cns_are_404_with_the_right_route(
    make_client: MakeClient, journal: Journal, clock: VirtualClock
) -> None:
    cns = await make_client()
    resp = await cns.get("/api/records")
    assert resp.status == 404
    assert "/api/households" in (await resp.json())["error"]["hint"]
    fund = await make_client(view(FR, journal, clock))
    resp = await fund.get("/api/households")
    assert resp.status == 404
    assert "/api/records" in (await resp.json())["error"]["hint"]


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.5.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        (None, False),
        ("192.168.1.20", False),
        ("cns.example.lu", False),
    ],
)
def test_is_loopback(host: str | None, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_require_token_refuses_a_non_loopback_host_without_a_token() -> None:
    with pytest.raises(ConfigError, match="without a token") as info:
        require_token("0.0.0.0", None)
    assert "EESSI_ADMIN_TOKEN" in (info.value.hint or "")
    assert require_token("0.0.0.0", "s3cret-token") == "s3cret-token"
    assert require_token("127.0.0.1", None) is None


def test_require_token_refuses_a_blank_token() -> None:
    with pytest.raises(ConfigError, match="empty"):
        require_token("127.0.0.1", "  ")


def test_mounting_on_a_public_host_without_a_token_refuses(
    journal: Journal, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="without a token"):
        add_admin_routes(web.Application(), view(CNS, journal, clock), host="0.0.0.0")


async def test_not_loopback_needs_the_bearer_token(make_client: MakeClient) -> None:
    # Bound (as far as the API is told) to every interface: the token is required.
    client = await make_client(host="0.0.0.0", token="tok-123456789")
    resp = await client.get("/api/health")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    error = (await resp.json())["error"]
    assert error["code"] == "admin.unauthorized"
    assert "Authorization: Bearer" in error["hint"]
    resp = await client.get("/api/health", headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await client.get("/api/health", headers={"Authorization": "Basic tok-123456789"})
    assert resp.status == 401
    resp = await client.get("/api/health", headers={"Authorization": "Bearer tok-123456789"})
    assert resp.status == 200
    # Unknown routes do not tell an unauthenticated caller what exists.
    assert (await client.get("/api/nothing")).status == 401


async def test_token_from_the_environment_is_enforced_on_loopback_too(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EESSI_ADMIN_TOKEN", "env-token-42")
    client = await make_client()
    assert (await client.get("/api/health")).status == 401
    resp = await client.get("/api/health", headers={"Authorization": "Bearer env-token-42"})
    assert resp.status == 200


async def test_loopback_without_a_token_needs_none(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    client = await make_client()
    assert (await client.get("/api/health")).status == 200


async def test_the_admin_api_leaves_other_routes_of_the_app_alone(
    journal: Journal, clock: VirtualClock
) -> None:
    async def as4(request: web.Request) -> web.Response:
        return web.Response(text="as4")

    app = web.Application()
    app.router.add_post("/as4", as4)
    add_admin_routes(app, view(CNS, journal, clock), host="0.0.0.0", token="tok-abcdefgh")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/as4")
        assert resp.status == 200
        assert await resp.text() == "as4"


async def test_messages_listing_counts_statuses_after_a_send(
    client: Client, journal: Journal
) -> None:
    await _fill(journal)
    await journal.set_status("out-1", MessageStatus.SENDING, at=T0 + timedelta(seconds=2))
    body = await (await client.get("/api/messages/out-1")).json()
    assert body["status"] == "sending"
    assert body["attempts"] == 1
    health = await (await client.get("/api/health")).json()
    assert health["messages_by_status"]["sending"] == 1


async def test_the_nodes_own_logs_are_not_cases_and_desk_events_have_their_route(
    client: Client, journal: Journal
) -> None:
    at = T0 + timedelta(hours=1)
    async with journal.transaction() as tx:
        await tx.append_event("~inputs", "input", {"type": "CoInsuranceRequested"}, at=at)
        await tx.append_event("~desk", "decision-made", {"member": "silva/ana"}, at=at)
        await tx.append_event("~desk", "documents-requested", {"rule": "R15"}, at=at)
    body = await (await client.get("/api/cases")).json()
    assert body["items"] == []
    assert (await client.get("/api/cases/~inputs")).status == 404
    events = await (await client.get("/api/events")).json()
    assert [e["kind"] for e in events["items"]] == ["decision-made", "documents-requested"]
    assert events["items"][1]["data"] == {"rule": "R15"}
    only = await (await client.get("/api/events?kind=documents-requested")).json()
    assert [e["seq"] for e in only["items"]] == ["2"]
    page = await (await client.get("/api/events?limit=1&after=1")).json()
    assert [e["kind"] for e in page["items"]] == ["documents-requested"]


async def test_a_case_the_desk_does_not_hold_is_described_from_its_journaled_snapshot(
    client: Client, journal: Journal
) -> None:
    # E.g. read by an API whose desk was rebuilt without it: the snapshot the node saved tells.
    state = {
        "case_id": "FR-SNAP1",
        "buc": "S_BUC_01",
        "role": "CP",
        "state": "awaiting-confirmation",
        "peer": FR,
        "member": "silva/ana",
        "person": None,
        "opened_at": T0.isoformat(),
        "awaiting": {"sed": "S073", "from": "PO", "deadline": "2026-03-06T09:00:00+00:00"},
    }
    async with journal.transaction() as tx:
        await tx.save_case("FR-SNAP1", state, at=T0)
    body = await (await client.get("/api/cases/FR-SNAP1")).json()
    assert body["state"] == "awaiting-confirmation"
    assert body["counterparty"] == FR
    assert body["member"] == "silva/ana"
    assert body["waiting_for"] == {
        "sed": "S073",
        "sender": "PO",
        "deadline": "2026-03-06T09:00:00+00:00",
    }
    assert body["timeline"] == []
