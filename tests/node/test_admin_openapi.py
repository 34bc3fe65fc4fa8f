"""The OpenAPI description: served, structurally sound, and in step with the routes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from admin_support import CNS, FR, T0, entry, view
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from eessi.clock import VirtualClock
from eessi.journal import Journal, open_journal
from eessi.node.admin import add_admin_routes
from eessi.node.admin_requests import REQUEST_KINDS, kinds_for
from eessi.node.openapi import add_openapi_paths, openapi_document

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with await open_journal(tmp_path / "j.sqlite", synchronous="NORMAL") as j:
        yield j


def _app(journal: Journal, institution: str = CNS) -> web.Application:
    app = web.Application()
    add_admin_routes(app, view(institution, journal, VirtualClock(T0)))
    return app


def _routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            for route in sub.router.routes():
                if route.method != "HEAD":
                    out.add((route.method.lower(), route.resource.canonical))  # type: ignore[union-attr]
    return out


def _described(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in _METHODS
    }


async def test_every_route_is_described_and_every_described_path_is_a_route(
    journal: Journal,
) -> None:
    app = _app(journal)
    routes = _routes(app)
    assert ("get", "/api/health") in routes
    assert routes == _described(openapi_document())


async def test_the_document_is_served_at_a_stable_path_for_the_institution(
    journal: Journal,
) -> None:
    async with TestClient(TestServer(_app(journal, CNS), host="127.0.0.1")) as client:
        resp = await client.get("/api/openapi.json")
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert CNS in doc["info"]["title"]
    body = doc["paths"]["/api/requests"]["post"]["requestBody"]["content"]["application/json"]
    titles = [s["title"] for s in body["schema"]["oneOf"]]
    assert titles == kinds_for("cns")  # only the requests this desk accepts


def test_a_funds_document_offers_the_funds_requests_only() -> None:
    doc = openapi_document(entry(FR))
    assert FR in doc["info"]["title"]
    body = doc["paths"]["/api/requests"]["post"]["requestBody"]["content"]["application/json"]
    titles = [s["title"] for s in body["schema"]["oneOf"]]
    assert sorted(titles) == kinds_for("fund")
    assert "request_entitlement" in titles
    assert "co_insurance_request" not in titles


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return found + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_the_document_is_structurally_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert set(doc) >= {"openapi", "info", "paths", "components"}
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    operation_ids = []
    for path, item in doc["paths"].items():
        assert path.startswith("/api/")
        templated = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            assert method in _METHODS, f"{path}: {method} is not an HTTP method"
            operation_ids.append(op["operationId"])
            assert op["summary"]
            assert op["responses"], f"{method} {path} has no responses"
            for status in op["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", status), f"{method} {path}: {status}"
            params = op.get("parameters", [])
            path_params = {p["name"] for p in params if p["in"] == "path"}
            assert path_params == templated, f"{method} {path}: path parameters"
            for p in params:
                assert p["in"] in {"path", "query", "header", "cookie"}
                assert "schema" in p
                if p["in"] == "path":
                    assert p["required"] is True
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    # Every $ref resolves inside the document.
    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]


def test_every_request_kind_is_in_the_request_body_schema() -> None:
    doc = openapi_document()
    body = doc["paths"]["/api/requests"]["post"]["requestBody"]["content"]["application/json"]
    described = {s["properties"]["kind"]["const"]: s for s in body["schema"]["oneOf"]}
    assert set(described) == set(REQUEST_KINDS)
    for name, kind in REQUEST_KINDS.items():
        schema = described[name]
        required = {f.name for f in kind.fields if f.required}
        assert set(schema["required"]) == {"kind"} | required
        assert set(schema["properties"]) == {"kind"} | {f.name for f in kind.fields}


async def test_routes_other_modules_mount_under_api_are_described_when_registered(
    journal: Journal,
) -> None:
    async def rules(request: web.Request) -> web.Response:
        return web.json_response([])

    app = _app(journal)
    extra = web.Application()
    extra.router.add_get("/rules", rules)
    app.add_subapp("/api/extra/", extra)
    add_openapi_paths(
        app,
        {
            "/api/extra/rules": {
                "get": {
                    "summary": "the rules",
                    "operationId": "extraRules",
                    "responses": {"200": {"description": "rules", "content": {}}},
                }
            }
        },
        {"Rule": {"type": "object"}},
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        doc = await (await client.get("/api/openapi.json")).json()
        assert (await client.get("/api/extra/rules")).status == 200
    # The CNS's document leaves out the fund's listing (/api/records answers 404 there).
    assert _routes(app) - {("get", "/api/records")} == _described(doc)
    assert "Rule" in doc["components"]["schemas"]
    assert "Health" in doc["components"]["schemas"]
