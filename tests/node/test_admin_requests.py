"""POST /api/requests: bodies are checked with errors that point into them (JSON pointers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from admin_support import CNS, T0, view
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from eessi.clock import VirtualClock
from eessi.core.messages import (
    Channel,
    CoInsuranceRequested,
    IssueEntitlement,
    ServiceDecision,
)
from eessi.errors import DomainError
from eessi.journal import open_journal
from eessi.node.admin import MAX_BODY, add_admin_routes
from eessi.node.admin_requests import Field, RequestError, RequestKind, parse_request

Client = TestClient[web.Request, web.Application]
PIN = "1980010112345"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    async with await open_journal(tmp_path / "j.sqlite", synchronous="NORMAL") as journal:
        app = web.Application()
        add_admin_routes(app, view(CNS, journal, VirtualClock(T0)))
        async with TestClient(TestServer(app, host="127.0.0.1")) as c:
            yield c


@pytest.mark.parametrize(
    ("body", "where", "says"),
    [
        ([1, 2], "", "JSON object"),
        ({}, "/kind", "no 'kind'"),
        ({"kind": "fly_to_the_moon"}, "/kind", "unknown request kind"),
        ({"kind": 7}, "/kind", "unknown request kind"),
        ({"kind": "co_insurance_request", "member": "ana"}, "/main_insured_pin", "needs"),
        (
            {"kind": "co_insurance_request", "main_insured_pin": 1980, "member": "ana"},
            "/main_insured_pin",
            "must be a non-empty string",
        ),
        (
            {"kind": "co_insurance_request", "main_insured_pin": PIN, "member": ""},
            "/member",
            "not an empty string",
        ),
        (
            {"kind": "co_insurance_request", "main_insured_pin": PIN, "member": "a", "x/y": 1},
            "/x~1y",
            "no argument",
        ),
        (
            {
                "kind": "co_insurance_request",
                "main_insured_pin": PIN,
                "member": "a",
                "channel": "fax",
            },
            "/channel",
            "cannot be 'fax'",
        ),
        (
            {"kind": "service_decision", "main_insured_pin": PIN, "member": "a", "approved": "yes"},
            "/approved",
            "true or false",
        ),
        (
            {
                "kind": "document_provided",
                "main_insured_pin": PIN,
                "member": "a",
                "document": "S072",
            },
            "/document",
            "cannot be 'S072'",
        ),
    ],
)
async def test_a_bad_body_is_400_with_a_json_pointer_and_a_hint(
    client: Client, body: Any, where: str, says: str
) -> None:
    resp = await client.post("/api/requests", json=body)
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["where"] == where
    assert says in error["message"]
    assert error["hint"]


async def test_a_body_that_is_not_json_is_400(client: Client) -> None:
    resp = await client.post("/api/requests", data=b"{kind: co_insurance_request")
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "admin.bad-json"
    assert error["where"] == ""


async def test_a_body_too_large_is_413(client: Client) -> None:
    resp = await client.post("/api/requests", data=b" " * (MAX_BODY + 1))
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "admin.too-large"


async def test_the_hint_lists_the_kinds_this_desk_accepts(client: Client) -> None:
    resp = await client.post("/api/requests", json={"kind": "nope"})
    error = (await resp.json())["error"]
    assert "co_insurance_request" in error["hint"]
    assert "withdraw_entitlement" in error["details"]["accepted"]


def test_parse_builds_the_core_input_with_defaults() -> None:
    kind, value = parse_request(
        {"kind": "co_insurance_request", "main_insured_pin": PIN, "member": "ana"}, "cns"
    )
    assert kind.name == "co_insurance_request"
    assert value == CoInsuranceRequested(PIN, "ana", Channel.FORM)
    _, value = parse_request(
        {"kind": "service_decision", "main_insured_pin": PIN, "member": "ana", "approved": True},
        "cns",
    )
    assert value == ServiceDecision(PIN, "ana", True)


def test_issue_entitlement_names_the_person_as_household_slash_id() -> None:
    body = {"kind": "issue_entitlement", "person": "martin-thionville/luc"}
    _, value = parse_request(body, "cns")
    assert value == IssueEntitlement("martin-thionville", "luc", None)
    _, value = parse_request({**body, "to": "FR:CPAM5701"}, "cns")
    assert value == IssueEntitlement("martin-thionville", "luc", "FR:CPAM5701")


@pytest.mark.parametrize("person", ["luc", "/luc", "martin/", "a/b/c"])
def test_issue_entitlement_without_household_slash_id_points_at_person(person: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"kind": "issue_entitlement", "person": person}, "cns")
    assert info.value.where == "/person"
    assert "martin/luc" in (info.value.hint or "")


def _refusing_build(args: Mapping[str, Any]) -> object:
    raise DomainError("the core says no", hint="ask differently", code="domain.bad-input")


def test_a_value_the_core_input_refuses_is_a_request_error_with_its_hint() -> None:
    kinds = {
        "picky": RequestKind(
            "picky",
            "cns",
            "refuses everything",
            (Field("x", "string", "anything"),),
            _refusing_build,
        )
    }
    with pytest.raises(RequestError) as info:
        parse_request({"kind": "picky", "x": "y"}, "cns", kinds)
    assert info.value.where == ""
    assert "the core says no" in info.value.message
    assert info.value.hint == "ask differently"


def test_a_kind_for_the_other_desk_says_where_to_send_it() -> None:
    with pytest.raises(RequestError) as info:
        parse_request(
            {"kind": "co_insurance_request", "main_insured_pin": PIN, "member": "a"}, "fund"
        )
    assert info.value.code == "admin.wrong-desk"
    assert info.value.where == "/kind"
    assert "the CNS" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("route", "body", "column"),
    [
        ("/api/requests", b"[" * 30_000 + b"]" * 30_000, 33),
        ("/api/requests", b'{"kind": ' * 5_000 + b"1" + b"}" * 5_000, 32 * 9 + 1),
        ("/api/requests/batch", b"[" * 30_000 + b"]" * 30_000, 33),
    ],
)
async def test_a_deeply_nested_body_is_400_with_the_depth_and_where(
    client: Client, route: str, body: bytes, column: int
) -> None:
    resp = await client.post(route, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "admin.too-deep"
    assert "more than 32 levels" in error["message"]
    assert error["where"] == f"request body, line 1, column {column}"
    assert "at most 32 levels" in error["hint"]


async def test_a_body_that_is_not_json_by_its_content_type_is_415(client: Client) -> None:
    resp = await client.post(
        "/api/requests", data=b"<kind/>", headers={"Content-Type": "application/xml"}
    )
    assert resp.status == 415
    error = (await resp.json())["error"]
    assert (error["code"], error["where"]) == (
        "admin.unsupported-media-type",
        "Content-Type header",
    )
