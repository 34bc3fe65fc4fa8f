"""A mock sends a hand-written document (issue 12.5): a SED template with placeholders in a
rule's ``send`` effect, validated when the rule is made, sent as is; and a broken one on
purpose (``invalid``), which the real CNS refuses. Through the mock admin API on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eessi.journal import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement

from .kit import CNS, FR, MARIE, START, World, world


@pytest.fixture(scope="module")
def s073() -> str:
    """A valid S073 (``eessi sed example``) with placeholders for the person and the date."""
    text = subprocess.run(
        [sys.executable, "-m", "eessi", "sed", "example", "S073", "--seed", "1"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for old, new in [
        ("<familyName>Bernard</familyName>", "<familyName>{family_name}</familyName>"),
        ("<forename>Tom</forename>", "<forename>{forename}</forename>"),
        ("<dateRegistration>2026-01-05</dateRegistration>",
         "<dateRegistration>{today}</dateRegistration>"),
    ]:  # fmt: skip
        assert old in text
        text = text.replace(old, new)
    return text


async def post_rule(http: aiohttp.ClientSession, w: World, rule: Any) -> tuple[int, Any]:
    async with http.post(f"{w[FR].url}/api/mock/rules", json=rule) as resp:
        return resp.status, await resp.json()


async def test_the_CNS_receives_the_templated_document_with_its_placeholders_filled(
    tmp_path: Path, http: aiohttp.ClientSession, s073: str
) -> None:
    async with world(tmp_path) as w:
        rule = {"match": {"sed": "S072"}, "effect": {"kind": "send", "template": s073}}
        status, added = await post_rule(http, w, rule)
        assert status == 201, added
        case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
        await w.settle()
        (received,) = [
            m for m in await w.messages(CNS, Direction.IN, case=case) if m.sed_type == "S073"
        ]
        assert received.status is not MessageStatus.REFUSED
        expected = (
            s073.replace("{family_name}", "Martin")
            .replace("{forename}", "Marie")
            .replace("{today}", START.date().isoformat())
        )
        assert received.payload == expected.encode()
        (entry,) = [e for e in w.mocks.log(FR, case=case) if e.get("effect") == "send"]
        assert (entry["template"], entry["invalid"]) == ("inline", False)


async def test_a_template_from_a_file_is_read_when_the_rule_is_made(
    tmp_path: Path, http: aiohttp.ClientSession, s073: str
) -> None:
    path = tmp_path / "odd-s073.xml"
    path.write_text(s073, encoding="utf-8")
    async with world(tmp_path) as w:
        rule = {"match": {"sed": "S072"}, "effect": {"kind": "send", "file": str(path)}}
        status, added = await post_rule(http, w, rule)
        assert status == 201, added
        path.unlink()  # read once, when the rule was made
        case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
        await w.settle()
        s073s = [m for m in await w.messages(CNS, Direction.IN, case=case) if m.sed_type == "S073"]
        assert b"<forename>Marie</forename>" in s073s[0].payload


async def test_an_invalid_template_on_purpose_is_sent_and_the_CNS_refuses_it(
    tmp_path: Path, http: aiohttp.ClientSession, s073: str
) -> None:
    broken = s073.replace("<registrationConfirmed>", "<bogus/><registrationConfirmed>")
    async with world(tmp_path) as w:
        rule = {"match": {"sed": "S072"},
                "effect": {"kind": "send", "template": broken, "invalid": True}}  # fmt: skip
        status, added = await post_rule(http, w, rule)
        assert status == 201, added
        case = (await w[FR].submit(RequestEntitlement(MARIE))).outgoing[0].case_id
        await w.settle()
        refused = [
            m for m in await w.messages(CNS, Direction.IN, case=case) if m.sed_type == "S073"
        ]
        assert [m.status for m in refused] == [MessageStatus.REFUSED]
        sent = [m for m in await w.messages(FR, Direction.OUT, case=case) if m.sed_type == "S073"]
        assert [m.status for m in sent] == [MessageStatus.FAILED]
        assert sent[0].last_error is not None
        assert "EBMS:0004" in sent[0].last_error or "bogus" in sent[0].last_error
        (entry,) = [e for e in w.mocks.log(FR, case=case) if e.get("effect") == "send"]
        assert entry["invalid"] is True


@pytest.mark.parametrize(
    ("effect", "status", "code", "says"),
    [
        ({"template": "<x/>"}, 422, "mock.bad-template", "not a SED"),
        ({"template": "BROKEN"}, 422, "mock.bad-template", "line 47"),
        ({"template": "{cas}", "invalid": True}, 422, "mock.bad-template", "{cas}"),
        ({"file": "/nonexistent/s073.xml"}, 422, "mock.bad-template", "cannot read"),
        ({}, 400, "mock.bad-rule", "exactly one of template"),
    ],
)
async def test_a_template_that_is_not_a_valid_SED_is_refused_when_the_rule_is_made(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    s073: str,
    effect: dict[str, Any],
    status: int,
    code: str,
    says: str,
) -> None:
    if effect.get("template") == "BROKEN":
        effect = {
            "template": s073.replace("<registrationConfirmed>", "<bogus/><registrationConfirmed>")
        }
    async with world(tmp_path) as w:
        got, body = await post_rule(http, w, {"effect": {"kind": "send", **effect}})
        assert (got, body["error"]["code"]) == (status, code), body
        assert says in body["error"]["message"]
        assert body["error"]["where"].startswith("rule #1, key 'effect.")
        assert not w.mocks.book(FR).rules
