"""The mock supplementary insurer (S1-S4) against a running CNS: it asks the CNS whether a
person is validly enrolled, applies its waiting period and reimburses the difference."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from eessi.core.supplementary import Audience, Category, CcssStatus
from eessi.errors import ConfigError
from eessi.mock.profiles import load_default_profiles
from eessi.mock.supplementary import CnsEnrolment, SupplementaryMock, add_supplementary_routes
from eessi.node.admin import add_admin_routes
from eessi.node.inputs import RequestEntitlement

from .kit import CNS, FR, MARIE, World, world

LUC = "1985080812345"  # Luc Martin's matricule: the main insured (cross-border worker)
CMCM = "LU:CMCM0001"


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    """The CNS has co-insured Marie (R17 over EESSI with the CPAM de la Moselle)."""
    async with world(tmp_path) as w:
        await w[FR].submit(RequestEntitlement(MARIE))
        await w.settle()
        assert w[CNS].desk.registrations
        yield w


def insurer(w: World) -> SupplementaryMock:
    return SupplementaryMock(
        load_default_profiles()[CMCM], CnsEnrolment(lambda: w[CNS].desk), w.clock
    )


@pytest.mark.parametrize(
    ("person", "status"),
    [
        (MARIE, CcssStatus.CO_INSURED),
        (LUC, CcssStatus.MAIN_INSURED),
        ("martin-thionville/luc", CcssStatus.MAIN_INSURED),
        ("martin-thionville/noah", CcssStatus.NOT_ENROLLED),  # documents still missing (R15)
        ("1111111111111", CcssStatus.NOT_ENROLLED),
        ("nobody/at-all", CcssStatus.NOT_ENROLLED),
    ],
)
def test_S2_the_CNS_says_who_is_validly_enrolled(w: World, person: str, status: CcssStatus) -> None:
    assert CnsEnrolment(lambda: w[CNS].desk).status(person, w.clock.now().date()) is status


def test_S2_a_main_insured_is_not_enrolled_before_the_affiliation(w: World) -> None:
    lookup = CnsEnrolment(lambda: w[CNS].desk)
    assert lookup.status(LUC, w.clock.now().date().replace(year=2010)) is CcssStatus.NOT_ENROLLED


def test_S1_S2_waiting_period_then_the_difference_is_reimbursed_up_to_the_ceiling(
    w: World,
) -> None:
    mock = insurer(w)
    today = w.clock.now().date()
    enrolment = mock.enrol(MARIE, Audience.CROSS_BORDER)
    assert enrolment.accepted
    assert enrolment.reimbursable_from == today + timedelta(days=90)
    early = mock.claim(MARIE, Category.DENTAL, Decimal("300"), Decimal("100"), today)
    assert early.amount == 0
    assert [r.rule for r in early.reasons] == ["S2"]
    later = today + timedelta(days=100)
    paid = mock.claim(MARIE, Category.DENTAL, Decimal("300"), Decimal("100"), later)
    assert paid.amount == Decimal("160.00")  # 80 % of the 200 difference
    capped = mock.claim(MARIE, Category.DENTAL, Decimal("2000"), Decimal("100"), later)
    assert capped.amount == Decimal("500.00")  # the dental ceiling
    uncovered = mock.claim(MARIE, Category.ASSISTANCE, Decimal("50"), Decimal("0"), later)
    assert (uncovered.amount, uncovered.reasons[-1].rule) == (0, "S3")


def test_S2_no_enrolment_for_a_person_the_CNS_does_not_enrol(w: World) -> None:
    mock = insurer(w)
    refused = mock.enrol("martin-thionville/noah", Audience.CROSS_BORDER)
    assert not refused.accepted
    assert refused.reasons[-1].rule == "S2"
    claim = mock.claim("martin-thionville/noah", Category.HOSPITAL, Decimal("10"), Decimal("0"))
    assert claim.amount == 0


def test_a_profile_that_is_not_an_insurer_is_refused(w: World) -> None:
    with pytest.raises(ConfigError, match="not a supplementary insurer"):
        SupplementaryMock(load_default_profiles()[FR], CnsEnrolment(lambda: w[CNS].desk), w.clock)


async def test_the_insurer_routes_enrol_and_reimburse_over_http(w: World) -> None:
    app = web.Application()
    add_supplementary_routes(app, insurer(w))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api/supplementary"
    later = (w.clock.now().date() + timedelta(days=120)).isoformat()

    async def post(path: str, body: Any) -> tuple[int, Any]:
        async with http.post(base + path, json=body) as resp:
            return resp.status, await resp.json()

    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/ccss-status", params={"person": LUC}) as resp:
                assert (await resp.json())["status"] == "main_insured"
            status, enrolment = await post(
                "/enrolments", {"person": LUC, "audience": "cross_border"}
            )
            assert (status, enrolment["accepted"]) == (201, True)
            claim = {
                "person": LUC,
                "category": "hospital",
                "cost": "1000",
                "cns_reimbursed": "400",
                "on": later,
            }
            status, paid = await post("/claims", claim)
            assert (status, paid["amount"], paid["left_to_pay"]) == (200, "600.00", "0.00")
            status, err = await post("/claims", {**claim, "cost": 12.5})
            assert (status, err["error"]["where"]) == (400, "/cost")
            status, err = await post("/enrolments", {"person": LUC, "audience": "pirates"})
            assert (status, err["error"]["where"]) == (400, "/audience")
            async with http.get(base + "/product") as resp:
                assert (await resp.json())["waiting_period"] == "P90D"
            async with http.get(base + "/products") as resp:
                products = (await resp.json())["products"]
            assert [(p["product"], p["waiting_period"]) for p in products] == [
                ("base", "P90D"),
                ("optimum", "P6M"),
                ("dentaplus", "P1Y"),
            ]
            status, enrolment = await post(
                "/enrolments", {"person": LUC, "audience": "cross_border", "product": "dentaplus"}
            )
            assert (status, enrolment["product"]) == (201, "dentaplus")
            assert enrolment["reimbursable_from"] == (
                w.clock.now().date().replace(year=w.clock.now().year + 1).isoformat()
            )  # S2: P1Y
            status, paid = await post("/claims", {**claim, "category": "dental"})
            assert paid["amount"] == "0.00"  # S2: the new product's waiting period runs
            status, err = await post(
                "/enrolments", {"person": LUC, "audience": "cross_border", "product": "gold"}
            )
            assert (status, err["error"]["where"]) == (400, "/product")
    finally:
        await runner.cleanup()


async def test_the_insurer_routes_follow_the_admin_token_of_the_node_they_are_mounted_on(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EESSI_ADMIN_TOKEN", raising=False)
    app = web.Application()
    add_admin_routes(app, w[CNS], token="cns-token-1234", host="127.0.0.1")
    add_supplementary_routes(app, insurer(w))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}/api"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/health") as resp:
                refused = (resp.status, await resp.json())
            async with http.get(base + "/supplementary/product") as resp:
                assert (resp.status, await resp.json()) == refused
            assert refused[0] == 401
            bearer = {"Authorization": "Bearer cns-token-1234"}
            async with http.get(base + "/supplementary/product", headers=bearer) as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()
