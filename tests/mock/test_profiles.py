"""Mock fund profiles: the shipped ones load, match the directory, and describe usable funds."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from eessi.clock import VirtualClock
from eessi.core.cns import CnsDesk
from eessi.core.fund import FundDesk
from eessi.core.messages import EntitlementRecorded, IssueEntitlement, RequestEntitlement
from eessi.core.supplementary import Category, Period
from eessi.directory import load_default_directory, parse_directory
from eessi.errors import ConfigError
from eessi.ids import SeededIds
from eessi.mock.behaviour import Silent
from eessi.mock.profiles import (
    check_against_directory,
    default_profiles_dir,
    load_default_profiles,
    load_profile,
    load_profiles,
    parse_profile,
)
from eessi.node.households import cns_registry, default_households_dir, load_households
from eessi.sed.documents import S071, S073, StatusFamilyMember
from eessi.sed.validate import validate_or_raise

CNS = "LU:CNS00001"


def test_the_shipped_profiles_cover_every_kind_of_fund_issue_5_asks_for() -> None:
    profiles = load_default_profiles()
    by_country = {p.country: p for p in profiles.values()}
    assert by_country["FR"].kind == "eessi"
    assert "S_BUC_01A" in by_country["FR"].exercises
    assert {d.value for d in by_country["BE"].documents} == {"bl1", "bl6"}
    assert by_country["DE"].kind == "eessi"
    assert by_country["PT"].kind == "eessi"
    assert by_country["RS"].kind == "bilateral"  # R6
    assert by_country["BR"].kind == "no-agreement"  # R7
    assert by_country["LU"].kind == "supplementary"  # S1-S4


def test_every_eessi_and_bilateral_profile_animates_a_mock_of_the_default_directory() -> None:
    directory = load_default_directory()
    profiles = load_default_profiles()
    check_against_directory(profiles, directory)
    for p in profiles.values():
        entry = directory.find(p.id)
        if p.kind == "no-agreement":
            assert entry is None  # R7: no peer at all
        if entry is not None:
            assert set(p.languages) <= set(entry.languages)


def test_a_profile_for_a_fund_missing_from_the_directory_is_refused() -> None:
    directory = parse_directory(
        {
            "institution": [
                {
                    "id": "LU:CNS00001",
                    "country": "LU",
                    "name": "CNS",
                    "kind": "cns",
                    "roles": ["competent"],
                    "endpoint": "http://127.0.0.1:9/as4",
                    "bucs": ["S_BUC_01"],
                    "versions": ["4.4"],
                    "credential": "x" * 20,
                }
            ]
        }
    )
    with pytest.raises(ConfigError, match=r"profile BE:MC000200 has no mock entry"):
        check_against_directory(load_default_profiles(), directory)


@pytest.mark.parametrize("key", ["marie", "noah"])
def test_the_cpam_records_make_schema_valid_s071_for_a_family_member(key: str) -> None:
    profile = load_default_profiles()["FR:CPAM5701"]
    desk = FundDesk(profile.id, profile.records, VirtualClock(), SeededIds(1), profile.policy)
    step = desk.handle(RequestEntitlement(key, CNS))
    (out,) = step.outgoing
    assert isinstance(out.sed, S071)
    assert isinstance(out.sed.status, StatusFamilyMember)
    assert out.sed.status.main_insured.pin_for("LU") is not None
    validate_or_raise(out.sed.to_xml())


def test_S_BUC_01A_the_cpam_finds_the_cross_border_worker_of_an_unasked_S072_and_confirms() -> None:
    households = load_households(default_households_dir() / "cross-border-france.json")
    cns = CnsDesk(CNS, cns_registry(households), VirtualClock(), SeededIds(2))
    key = households[0].id
    (s072,) = cns.handle(IssueEntitlement(key, "luc", "FR:CPAM5701")).outgoing
    validate_or_raise(s072.sed.to_xml())
    profile = load_default_profiles()["FR:CPAM5701"]
    desk = FundDesk(profile.id, profile.records, VirtualClock(), SeededIds(1), profile.policy)
    step = desk.handle(s072.received_by_peer(CNS))
    (recorded,) = step.of(EntitlementRecorded)
    assert recorded.person == "luc"
    (s073,) = step.outgoing
    assert isinstance(s073.sed, S073)
    assert s073.sed.registered
    validate_or_raise(s073.sed.to_xml())


def test_the_krankenkasse_knows_the_insurance_periods_of_its_former_insured() -> None:
    julia = load_default_profiles()["DE:TKK00001"].records[0]
    assert julia.person.pin_for("DE") is not None
    assert julia.insurance_periods


def test_the_supplementary_profile_is_an_insurer_with_a_waiting_period() -> None:
    insurer = load_default_profiles()["LU:CMCM0001"].insurer
    assert insurer is not None
    assert insurer.waiting_period == Period(days=90)
    cover = insurer.cover(Category.DENTAL)
    assert cover is not None
    assert cover.ceiling is not None


def test_S2_the_supplementary_insurer_sells_several_products_with_their_own_waiting_periods() -> (
    None
):
    cmcm = load_default_profiles()["LU:CMCM0001"]
    periods = {p.product: p.waiting_period.iso() for p in cmcm.products}
    assert periods == {"base": "P90D", "optimum": "P6M", "dentaplus": "P1Y"}
    assert cmcm.product("dentaplus").cover(Category.HOSPITAL) is None  # S3: not every category
    with pytest.raises(ConfigError, match="no product 'gold'") as info:
        cmcm.product("gold")
    assert info.value.hint == "products of LU:CMCM0001: base, optimum, dentaplus"


def _cmcm() -> dict[str, Any]:
    path = default_profiles_dir() / "lu-cmcm-supplementary.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "key", "hint"),
    [
        (
            lambda d: d["supplementary"]["product"][1].update(waiting_period="6 months"),
            "supplementary.product #2, key waiting_period",
            "P6M",
        ),
        (
            lambda d: d["supplementary"].update(waiting_period_days=90),
            "supplementary.waiting_period_days",
            'waiting_period = "P90D"',
        ),
        (
            lambda d: d["supplementary"]["product"][2].update(id="base"),
            "supplementary.product",
            "its own id",
        ),
    ],
    ids=["not-iso", "old-days-key", "same-id"],
)
def test_S2_a_product_with_a_bad_waiting_period_or_id_is_refused_with_the_key(
    change: Any, key: str, hint: str
) -> None:
    doc = _cmcm()
    change(doc)
    with pytest.raises(ConfigError) as info:
        parse_profile(doc)
    assert key in str(info.value)
    assert hint in (info.value.hint or "")


def test_profile_rules_are_loaded_as_profile_rules() -> None:
    doc = _fr()
    doc["rule"] = [{"id": "quiet-s072", "match": {"sed": "S072"}, "effect": "silent"}]
    profile = parse_profile(doc)
    (rule,) = profile.rules
    assert (rule.id, rule.origin, rule.effect) == ("quiet-s072", "profile", Silent())


def _fr() -> dict[str, Any]:
    path = default_profiles_dir() / "fr-cpam-moselle.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _broken(change: Any) -> dict[str, Any]:
    doc = _fr()
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["fund"].update(id="France"), "fund.id"),
        (lambda d: d["fund"].update(country="DE"), "fund.country"),
        (lambda d: d["fund"].update(kind="robot"), "fund.kind"),
        (lambda d: d["fund"].update(documents=["passport"]), "fund.documents"),
        (lambda d: d["fund"].update(motto="x"), "fund.motto"),
        (lambda d: d["fund"].update(kind="bilateral"), "fund.kind"),
        (lambda d: d["policy"].update(be_nice=True), "policy.be_nice"),
        (lambda d: d["record"][0].update(sex="f"), "record #1, key sex"),
        (lambda d: d["record"][0].update(birth_date="1986-01-30"), "record #1, key birth_date"),
        (lambda d: d["record"][0].update(hobby="chess"), "record #1, key 'hobby'"),
        (lambda d: d["record"][1].update(key="marie"), "record"),
        (lambda d: d.update(rule=[{"match": {}, "effect": "dance"}]), "rule #1, key 'effect.kind'"),
    ],
)
def test_a_broken_profile_is_refused_naming_the_key(change: Any, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_profile(_broken(change), source="fr.toml")
    assert info.value.code in ("mock.bad-profile", "mock.bad-rule")
    assert info.value.where is not None
    assert info.value.where.startswith(f"fr.toml: {where}")


def test_two_profiles_for_one_fund_are_refused(tmp_path: Path) -> None:
    text = (default_profiles_dir() / "pt-iss.toml").read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    (tmp_path / "b.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="two profiles are for PT:ISS00001"):
        load_profiles(tmp_path)


def test_a_profile_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[fund\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_profile(path)
    assert info.value.where == str(path)
