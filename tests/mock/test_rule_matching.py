"""Rules that match what a tester knows before any case exists (issue 12.3): a person (a PIN of
the SED's person, or the fund's record key ``household/member``), the counterparty, an XPath
over the SED. Set over the real mock admin API on loopback, against the real CNS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eessi.core.messages import CoInsuranceRequested
from eessi.journal import Direction
from eessi.node.inputs import RequestEntitlement

from .kit import ANA, CNS, DE, FR, MARIE, PT, World, world

#: Ana's son: the Portuguese fund asks for his S072 too (R17), in SED version 4.3.
RUI = "silva-luxembourg/rui"

#: Julia Müller's German PIN (her former fund, the TK, knows her by it: R5, S040 -> S041).
JULIA_PIN = "65 020787 M 004"


async def add_rule(http: aiohttp.ClientSession, w: World, fund: str, rule: Any) -> Any:
    url = f"{w[fund].url}/api/mock/rules"
    async with http.post(url, json=rule) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body


async def ask(w: World, person: str, fund: str = FR) -> str:
    return (await w[fund].submit(RequestEntitlement(person))).outgoing[0].case_id


async def test_a_rule_by_person_silences_that_persons_S072_and_not_anothers(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with world(tmp_path, (CNS, PT)) as w:
        # Set before any case exists: no dry run to learn case IDs.
        rule = {"match": {"person": ANA, "sed": "S072"}, "effect": "silent"}
        await add_rule(http, w, PT, rule)
        ana, rui = await ask(w, ANA, PT), await ask(w, RUI, PT)
        await w.settle()
        assert await w.summary(CNS, ana) == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
        ]
        assert await w.summary(CNS, rui) == [
            ("in", "S071", "processed"),
            ("out", "S072", "acknowledged"),
            ("in", "S073", "processed"),
        ]


@pytest.mark.parametrize("person", [JULIA_PIN, "muller-esch/julia"])
async def test_a_rule_by_pin_or_record_key_matches_a_case_the_CNS_opened(
    tmp_path: Path, http: aiohttp.ClientSession, person: str
) -> None:
    # The CNS asks Julia's former fund for her periods (R5): the case is the CNS's, its ID
    # unknown to the tester; the fund finds her by the PIN in the S040.
    async with world(tmp_path, (CNS, DE)) as w:
        await add_rule(http, w, DE, {"match": {"person": person}, "effect": "silent"})
        step = await w[CNS].submit(CoInsuranceRequested("1984031212345", "julia"))
        [case] = {o.case_id for o in step.outgoing}
        await w.settle()
        assert await w.summary(CNS, case) == [("out", "S040", "acknowledged")]
        assert [e["effect"] for e in w.mocks.log(DE, case=case)] == ["silent"]


async def test_a_rule_by_another_person_leaves_the_flow_alone(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with world(tmp_path, (CNS, DE)) as w:
        await add_rule(http, w, DE, {"match": {"person": "99 999999 X 999"}, "effect": "silent"})
        step = await w[CNS].submit(CoInsuranceRequested("1984031212345", "julia"))
        [case] = {o.case_id for o in step.outgoing}
        await w.settle()
        assert ("in", "S041", "processed") in await w.summary(CNS, case)


@pytest.mark.parametrize(("counterparty", "silenced"), [(CNS, True), ("BE:MC000200", False)])
async def test_a_rule_by_counterparty_applies_to_that_institution_only(
    tmp_path: Path, http: aiohttp.ClientSession, counterparty: str, silenced: bool
) -> None:
    async with world(tmp_path) as w:
        rule = {"match": {"counterparty": counterparty, "sed": "S072"}, "effect": "silent"}
        await add_rule(http, w, FR, rule)
        case = await ask(w, MARIE)
        await w.settle()
        received = [m.sed_type for m in await w.messages(CNS, Direction.IN, case=case)]
        assert received == (["S071"] if silenced else ["S071", "S073"])


async def test_a_rule_by_xpath_over_the_received_SED_refuses_one_persons_S072(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with world(tmp_path, (CNS, PT)) as w:
        # Prefix-insensitive: the sed prefix is bound to the document's own namespace (the
        # Portuguese fund speaks SED 4.3).
        xpath = "/sed:S072/Person/PersonIdentification/forename = 'Rui'"
        rule = {"match": {"xpath": xpath}, "effect": {"kind": "refuse", "x011": "04"}}
        await add_rule(http, w, PT, rule)
        ana, rui = await ask(w, ANA, PT), await ask(w, RUI, PT)
        await w.settle()
        assert ("in", "X011", "processed") in await w.summary(CNS, rui)
        assert ("in", "S073", "processed") not in await w.summary(CNS, rui)
        assert ("in", "S073", "processed") in await w.summary(CNS, ana)


@pytest.mark.parametrize(
    ("rule", "where", "says"),
    [
        (
            {"match": {"xpath": "/sed:S072["}, "effect": "silent"},
            "rule #1, key 'match.xpath'",
            "not an XPath",
        ),
        (
            {"match": {"xpath": "/foo:S072"}, "effect": "silent"},
            "rule #1, key 'match.xpath'",
            "Undefined namespace prefix",
        ),
        (
            {"match": {"xpath": "/sed:S072"}, "effect": {"kind": "fail"}},
            "rule #1, key 'match.xpath'",
            "before its document is read",
        ),
        (
            {"match": {"person": ""}, "effect": "silent"},
            "rule #1, key 'match.person'",
            "non-empty string",
        ),
    ],
)
async def test_a_rule_with_a_bad_new_match_key_is_refused_with_where(
    tmp_path: Path, http: aiohttp.ClientSession, rule: Any, where: str, says: str
) -> None:
    async with world(tmp_path) as w:
        async with http.post(f"{w[FR].url}/api/mock/rules", json=rule) as resp:
            body = await resp.json()
        assert resp.status == 400
        assert body["error"]["code"] == "mock.bad-rule"
        assert body["error"]["where"] == where
        assert says in body["error"]["message"]
        assert not w.mocks.book(FR).rules
