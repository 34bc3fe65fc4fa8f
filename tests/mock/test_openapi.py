"""The OpenAPI description of the mock routes agrees with the routes and with the rule parser."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from eessi.mock.behaviour import EFFECT_PARAMETERS, EFFECTS, MATCH_KEYS
from eessi.mock.openapi import MOCK_ROUTES, mock_openapi_document, rule_schema

from .kit import FR, world


def test_the_rule_schema_lists_every_effect_with_its_parameters_and_every_match_key() -> None:
    schema = rule_schema()
    assert set(schema["properties"]["match"]["properties"]) == set(MATCH_KEYS)
    branches = schema["properties"]["effect"]["oneOf"]
    objects = {b["properties"]["kind"]["const"]: b for b in branches if "properties" in b}
    names = {b["const"] for b in branches if "const" in b}
    assert set(objects) == names == set(EFFECTS)
    for kind, branch in objects.items():
        assert set(branch["properties"]) - {"kind"} == set(EFFECT_PARAMETERS[kind])


def test_every_route_is_described() -> None:
    doc = mock_openapi_document(FR)
    described = {
        (method.upper(), path.removeprefix("/api/mock"))
        for path, item in doc["paths"].items()
        for method in item
    }
    assert described == {(m, p) for m, p, _n, _s in MOCK_ROUTES}
    assert FR in doc["info"]["title"]


async def test_the_description_is_served_and_its_routes_answer(tmp_path: Path) -> None:
    async with world(tmp_path, ids=(FR,)) as w, aiohttp.ClientSession() as http:
        base = f"{w[FR].url}/api/mock"
        async with http.get(base + "/openapi.json") as resp:
            doc = await resp.json()
        for path, item in doc["paths"].items():
            if "get" in item and "{" not in path:
                async with http.get(w[FR].url + path) as resp:
                    assert resp.status == 200, path
