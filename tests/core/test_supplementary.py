"""Supplementary (mutual) insurance: S1-S4."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from household_builders import ON, child, household, spouse

from eessi.core.eligibility import decide
from eessi.core.supplementary import (
    Audience,
    Category,
    CcssStatus,
    Cover,
    Enrolment,
    Period,
    SupplementaryInsurer,
    status_from_decision,
)
from eessi.errors import DomainError

CMCM = SupplementaryInsurer(
    id="LU:CMCM0001",
    name="CMCM Regime commun",
    covers=(
        Cover(Category.HOSPITAL, Decimal(1), Decimal("500.00")),
        Cover(Category.DENTAL, Decimal("0.8"), Decimal("300.00")),
        Cover(Category.SOFT_MEDICINE, Decimal("0.5")),
    ),
    waiting_period=Period(days=90),
    audiences=frozenset({Audience.RESIDENT, Audience.CROSS_BORDER}),
)
DAY = date(2026, 1, 1)


def _enrolled() -> Enrolment:
    e = CMCM.enrol("eva", CcssStatus.CO_INSURED, DAY, audience=Audience.RESIDENT)
    assert e.accepted
    return e


# --- S2: only for persons validly enrolled with the CCSS; waiting period ----------------------


@pytest.mark.parametrize(
    ("status", "accepted"),
    [
        (CcssStatus.MAIN_INSURED, True),
        (CcssStatus.CO_INSURED, True),
        (CcssStatus.NOT_ENROLLED, False),
    ],
)
def test_S2_enrolment_only_for_persons_validly_enrolled_with_the_ccss(
    status: CcssStatus, accepted: bool
) -> None:
    e = CMCM.enrol("eva", status, DAY, audience=Audience.RESIDENT)
    assert e.accepted is accepted
    assert e.reasons[-1].rule == "S2"


def test_S2_accepted_enrolment_is_reimbursable_after_the_waiting_period() -> None:
    e = _enrolled()
    assert e.reimbursable_from == date(2026, 4, 1)
    assert "waiting period P90D" in e.reasons[-1].explanation


@pytest.mark.parametrize(
    ("on", "amount"),
    [(date(2026, 3, 31), Decimal("0.00")), (date(2026, 4, 1), Decimal("200.00"))],
)
def test_S2_no_reimbursement_during_the_waiting_period(on: date, amount: Decimal) -> None:
    r = CMCM.reimburse(_enrolled(), Category.HOSPITAL, Decimal("1000"), Decimal("800"), on)
    assert r.amount == amount
    if amount == 0:
        assert r.reasons[-1].rule == "S2"
        assert "2026-04-01" in r.reasons[-1].explanation


def test_S2_refused_enrolment_never_reimburses() -> None:
    e = CMCM.enrol("eva", CcssStatus.NOT_ENROLLED, DAY, audience=Audience.RESIDENT)
    r = CMCM.reimburse(e, Category.HOSPITAL, Decimal(100), Decimal(0), date(2027, 1, 1))
    assert r.amount == 0
    assert r.reasons[-1].rule == "S2"


def test_S2_insurer_not_covering_luxembourg_costs_cannot_enrol() -> None:
    foreign = SupplementaryInsurer("FR:MUTU0001", "Mutuelle FR", (), covers_luxembourg_costs=False)
    e = foreign.enrol("eva", CcssStatus.MAIN_INSURED, DAY, audience=Audience.RESIDENT)
    assert not e.accepted
    assert e.reasons[-1].rule == "S2"


def test_S2_co_insurance_decision_gives_the_ccss_status() -> None:
    ok = decide(household(child(born_in_lu=True)), "lea", on=ON)
    pending = decide(household(spouse()), "eva", on=ON)
    assert status_from_decision(ok) is CcssStatus.CO_INSURED
    assert status_from_decision(pending) is CcssStatus.NOT_ENROLLED


# --- S1: the difference between cost and CNS reimbursement -----------------------------------


@pytest.mark.parametrize(
    ("category", "cost", "cns", "amount"),
    [
        (Category.HOSPITAL, "1000.00", "800.00", "200.00"),  # full difference
        (Category.HOSPITAL, "2000.00", "800.00", "500.00"),  # capped at the ceiling
        (Category.DENTAL, "250.00", "100.00", "120.00"),  # 80 % of 150
        (Category.DENTAL, "1000.00", "100.00", "300.00"),  # 80 % of 900 = 720, capped
        (Category.SOFT_MEDICINE, "80.00", "0.00", "40.00"),  # 50 %, no ceiling
        (Category.SOFT_MEDICINE, "0.05", "0.00", "0.03"),  # rounded half up to the cent
        (Category.HOSPITAL, "100.00", "120.00", "0.00"),  # CNS paid more: nothing to add
    ],
)
def test_S1_pays_the_difference_within_the_cover(
    category: Category, cost: str, cns: str, amount: str
) -> None:
    r = CMCM.reimburse(_enrolled(), category, Decimal(cost), Decimal(cns), date(2026, 6, 1))
    assert r.amount == Decimal(amount)
    assert r.reasons[-1].rule == "S1"
    assert r.left_to_pay == max(Decimal(cost) - Decimal(cns), Decimal(0)) - Decimal(amount)


def test_S1_result_is_reported_as_json_ready_data() -> None:
    r = CMCM.reimburse(
        _enrolled(), Category.HOSPITAL, Decimal(2000), Decimal(800), date(2026, 6, 1)
    )
    data = r.to_dict()
    assert data["amount"] == "500.00"
    assert data["left_to_pay"] == "700.00"
    assert "capped at the ceiling 500.00" in data["reasons"][-1]["explanation"]
    assert _enrolled().to_dict()["reimbursable_from"] == "2026-04-01"


@pytest.mark.parametrize(("cost", "cns"), [(Decimal(-1), Decimal(0)), (Decimal(1), 0.5)])
def test_S1_amounts_must_be_non_negative_decimals(cost: Decimal, cns: object) -> None:
    with pytest.raises(DomainError, match="not an amount of euros"):
        CMCM.reimburse(_enrolled(), Category.HOSPITAL, cost, cns, DAY)  # type: ignore[arg-type]


def test_S1_claim_must_go_to_the_insurer_of_the_enrolment() -> None:
    other = SupplementaryInsurer("LU:DKV00001", "DKV", ())
    with pytest.raises(DomainError, match="is with LU:CMCM0001"):
        other.reimburse(_enrolled(), Category.HOSPITAL, Decimal(1), Decimal(0), DAY)


# --- S3: covered categories --------------------------------------------------------------------


def test_S3_category_not_covered_pays_nothing() -> None:
    r = CMCM.reimburse(
        _enrolled(), Category.CARE_ABROAD, Decimal(900), Decimal(300), date(2026, 6, 1)
    )
    assert r.amount == 0
    assert r.reasons[-1].rule == "S3"


def test_S3_source_lists_seven_categories() -> None:
    assert len(Category) == 7


@pytest.mark.parametrize(
    "cover",
    [
        lambda: Cover(Category.HOSPITAL, Decimal(0)),
        lambda: Cover(Category.HOSPITAL, Decimal("1.1")),
        lambda: Cover(Category.HOSPITAL, Decimal(1), Decimal(-1)),
    ],
    ids=["rate-0", "rate-above-1", "negative-ceiling"],
)
def test_S3_cover_rates_and_ceilings_are_checked(cover: object) -> None:
    with pytest.raises(DomainError):
        cover()  # type: ignore[operator]


def test_S3_insurer_covers_each_category_once_and_waits_no_negative_days() -> None:
    twice = (Cover(Category.DENTAL), Cover(Category.DENTAL))
    with pytest.raises(DomainError, match="covered twice"):
        SupplementaryInsurer("LU:X0001", "X", twice)
    with pytest.raises(DomainError, match="not a whole number >= 0"):
        SupplementaryInsurer("LU:X0001", "X", (), waiting_period=Period(days=-1))


# --- S4: products per audience -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [(Audience.RESIDENT, True), (Audience.CROSS_BORDER, True), (Audience.STUDENT, False)],
)
def test_S4_products_are_offered_to_some_audiences(audience: Audience, accepted: bool) -> None:
    e = CMCM.enrol("eva", CcssStatus.MAIN_INSURED, DAY, audience=audience)
    assert e.accepted is accepted
    assert "S4" in [r.rule for r in e.reasons]
    if not accepted:
        assert "cross_border, resident" in e.reasons[-1].explanation


def test_S4_default_product_is_for_everyone() -> None:
    anyone = SupplementaryInsurer("LU:ALL00001", "All", (Cover(Category.HOSPITAL),))
    for audience in Audience:
        assert anyone.enrol("x", CcssStatus.CO_INSURED, DAY, audience=audience).accepted


# --- S2: waiting periods as ISO 8601 durations, counted on the calendar ------------------------


@pytest.mark.parametrize(
    ("period", "enrolled", "reimbursable_from"),
    [
        ("P6M", date(2026, 1, 15), date(2026, 7, 15)),
        ("P6M", date(2026, 8, 31), date(2027, 2, 28)),  # no 31 February: the month's last day
        ("P1Y", date(2028, 2, 29), date(2029, 2, 28)),
        ("P90D", date(2026, 1, 1), date(2026, 4, 1)),
        ("P2W", date(2026, 1, 1), date(2026, 1, 15)),
        ("P1Y2M10D", date(2026, 1, 1), date(2027, 3, 11)),
    ],
)
def test_S2_the_waiting_period_is_an_ISO_8601_duration_counted_on_the_calendar(
    period: str, enrolled: date, reimbursable_from: date
) -> None:
    product = SupplementaryInsurer("LU:X0001", "X", (), waiting_period=Period.parse(period))
    e = product.enrol("eva", CcssStatus.CO_INSURED, enrolled, audience=Audience.RESIDENT)
    assert e.reimbursable_from == reimbursable_from
    assert f"waiting period {Period.parse(period)}" in e.reasons[-1].explanation


@pytest.mark.parametrize("text", ["6M", "P", "P1.5M", "PT1H", "P-1D", "P1D2M", "", "six months"])
def test_S2_a_waiting_period_that_is_not_an_ISO_date_period_is_refused(text: str) -> None:
    with pytest.raises(DomainError, match="ISO 8601") as info:
        Period.parse(text)
    assert info.value.code == "domain.bad-period"


def test_S3_a_claim_goes_to_the_product_enrolled_in() -> None:
    other = SupplementaryInsurer(
        "LU:CMCM0001", "Dental", (Cover(Category.DENTAL),), product="dentaplus"
    )
    with pytest.raises(DomainError, match="product standard, not LU:CMCM0001 product dentaplus"):
        other.reimburse(_enrolled(), Category.DENTAL, Decimal(100), Decimal(0), date(2026, 6, 1))
