"""The Decision object, the Facts API, rule parameters, and properties of decide()."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from household_builders import ON, child, facts, household, main, request, spouse
from hypothesis import given, settings
from hypothesis import strategies as st

from eessi.core.eligibility import Decision, Outcome, decide, decide_all
from eessi.core.facts import DocumentKind as D
from eessi.core.facts import Fact, Facts, S041Reply, S041Summary
from eessi.core.household import Relation
from eessi.core.rules import (
    DEFAULT_PARAMETERS,
    RULES,
    DatedAmount,
    DatedAmounts,
    RuleApplication,
    rule,
)
from eessi.errors import DomainError

# --- Decision -------------------------------------------------------------------------------


def test_pending_decision_renders_missing_items_and_every_rule() -> None:
    d = decide(household(spouse()), "eva", on=ON)
    text = str(d)
    assert text.splitlines()[0] == "eva: PENDING on 2026-03-02"
    assert "missing:" in text
    assert "co_insurance_request from main_insured (R3, ask_main_insured)" in text
    for r in d.reasons:
        assert r.explanation in text


def test_eligible_decision_renders_whom_and_from_when() -> None:
    d = decide(household(child(born_in_lu=True)), "lea", on=ON)
    assert "co-insured with marc from 2015-05-05 until 2045-05-04" in d.render()
    assert "missing" not in d.render()


def test_decision_to_dict_is_json_ready_and_complete() -> None:
    d = decide(household(spouse()), "eva", on=ON)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["outcome"] == "pending"
    assert data["on"] == "2026-03-02"
    assert data["missing"][0] == {
        "kind": "co_insurance_request",
        "rule": "R3",
        "from": "main_insured",
        "institution": None,
        "action": "ask_main_insured",
        "hint": d.missing[0].hint,
    }
    assert data["rules"] == list(d.rules)
    assert data["reasons"][0] == {"rule": "R2", "explanation": "spouse: may be co-insured"}
    ok = decide(household(child(born_in_lu=True)), "lea", on=ON).to_dict()
    assert (ok["attaches_to"], ok["start"], ok["end"]) == ("marc", "2015-05-05", "2045-05-04")


def test_decision_rules_lists_each_rule_once_in_order() -> None:
    d = decide(household(child(born_in_lu=True)), "lea", on=ON)
    assert d.rules == ("R2", "R10", "R1", "R9", "R15")
    assert [r.rule for r in d.reasons].count("R9") == 2


def test_decide_accepts_a_member_object_and_decide_all_covers_every_member() -> None:
    h = household(spouse(), child(born_in_lu=True))
    assert decide(h, h.members[1], on=ON) == decide(h, "lea", on=ON)
    assert [d.member for d in decide_all(h, on=ON)] == ["eva", "lea"]


def test_deciding_for_an_unknown_member_says_which_members_exist() -> None:
    with pytest.raises(DomainError, match="no family member 'zoe'") as info:
        decide(household(spouse()), "zoe", on=ON)
    assert info.value.hint == "use one of eva"


def test_decision_is_not_possible_before_the_threshold_table_starts() -> None:
    kid = child(born_in_lu=True, dob=date(1980, 1, 1))
    h = household(kid, mains=(main(since=date(1985, 1, 1)),))
    with pytest.raises(DomainError, match="no amount is in force on 1990-01-01"):
        decide(h, "lea", on=date(1990, 1, 1))


# --- Facts ------------------------------------------------------------------------------------


def test_facts_with_returns_a_new_collection_and_keeps_the_old_one() -> None:
    f0 = Facts()
    f1 = f0.with_(request("eva"))
    assert len(f0) == 0
    assert len(f1) == 1
    assert f1.has(D.CO_INSURANCE_REQUEST, "eva")
    assert not f1.has(D.CO_INSURANCE_REQUEST, "lea")


def test_facts_latest_is_the_last_learnt() -> None:
    f = facts(request("eva", on=date(2026, 1, 1)), request(None, on=date(2026, 2, 1)))
    latest = f.latest(D.CO_INSURANCE_REQUEST, "eva")
    assert latest is not None
    assert latest.on == date(2026, 2, 1)
    assert f.latest(D.S041, "eva") is None


def test_fact_refuses_s041_content_on_another_kind_and_a_decision_without_answer() -> None:
    with pytest.raises(DomainError, match="cannot carry S041 content"):
        Fact(D.S071, s041=S041Summary(S041Reply.CONFIRMED))
    with pytest.raises(DomainError, match="approved=True or approved=False"):
        Fact(D.CNS_SERVICE_DECISION)


def test_every_document_kind_has_a_human_label() -> None:
    assert D.CO_INSURANCE_CERTIFICATE.label == "certificate of co-insurance"
    assert D.BIRTH_CERTIFICATE.label == "birth certificate"
    assert all(k.label and "_" not in k.label for k in D)


# --- rules and parameters --------------------------------------------------------------------


def test_every_rule_of_the_domain_has_a_text() -> None:
    assert set(RULES) == {f"R{i}" for i in range(1, 19)} | {f"S{i}" for i in range(1, 5)}
    assert rule("R13").source == "co-insurance-of-family-members.txt"


def test_rule_application_reads_as_rule_and_explanation() -> None:
    assert str(RuleApplication("R9", "aged 29")) == "R9: aged 29"


def test_unknown_rule_ids_are_refused() -> None:
    with pytest.raises(DomainError, match="unknown rule 'R19'"):
        RuleApplication("R19", "typo")


def test_dated_amounts_give_the_amount_in_force_on_each_day() -> None:
    table = DatedAmounts(
        (DatedAmount(date(2025, 1, 1), Decimal(100)), DatedAmount(date(2026, 1, 1), Decimal(120)))
    )
    assert table.on(date(2025, 12, 31)) == Decimal(100)
    assert table.on(date(2026, 1, 1)) == Decimal(120)
    assert table.to_list()[1] == {"valid_from": "2026-01-01", "amount": "120"}


@pytest.mark.parametrize(
    "entries",
    [
        (),
        (DatedAmount(date(2026, 1, 1), Decimal(1)), DatedAmount(date(2025, 1, 1), Decimal(1))),
        (DatedAmount(date(2026, 1, 1), Decimal(1)), DatedAmount(date(2026, 1, 1), Decimal(2))),
    ],
    ids=["empty", "unsorted", "duplicate-date"],
)
def test_dated_amounts_refuse_bad_tables(entries: tuple[DatedAmount, ...]) -> None:
    with pytest.raises(DomainError):
        DatedAmounts(entries)


@pytest.mark.parametrize("amount", [Decimal(-1), Decimal("NaN"), 1.5])
def test_dated_amount_refuses_negative_or_non_decimal_amounts(amount: object) -> None:
    with pytest.raises(DomainError):
        DatedAmount(date(2026, 1, 1), amount)  # type: ignore[arg-type]


def test_parameters_describe_themselves_for_reports() -> None:
    data = DEFAULT_PARAMETERS.to_dict()
    assert data["r6_countries"] == ["BA", "CV", "MA", "ME", "MK", "RS", "TN", "TR"]
    assert "UK" in data["r5_countries"]
    assert "UK" not in data["abroad_countries"]
    assert data["child_age_limit"] == 30


# --- properties ------------------------------------------------------------------------------

_days = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
_births = st.dates(min_value=date(1940, 1, 1), max_value=date(2000, 12, 31))


@settings(max_examples=150, deadline=None)
@given(dob_a=_births, dob_b=_births, lives_a=st.booleans(), lives_b=st.booleans(), on=_days)
def test_property_child_never_attaches_to_the_younger_of_two_qualifying_parents(
    dob_a: date, dob_b: date, lives_a: bool, lives_b: bool, on: date
) -> None:
    mains = (main("a", dob=dob_a, pin="1111111111111"), main("b", dob=dob_b, pin="2222222222222"))
    lives = tuple(p for p, yes in (("a", lives_a), ("b", lives_b)) if yes)
    kid = child(dob=date(2019, 1, 1), lives_with=lives, maintained_by=("a", "b"), born_in_lu=True)
    d = decide(household(kid, mains=mains), "lea", on=on)
    assert d.outcome is Outcome.ELIGIBLE
    chosen, other = (dob_a, dob_b) if d.attaches_to == "a" else (dob_b, dob_a)
    assert chosen <= other


_relations = st.sampled_from([Relation.SPOUSE, Relation.CHILD])
_kinds = st.sampled_from(list(D))


@settings(max_examples=200, deadline=None)
@given(
    relation=_relations,
    dob=st.dates(min_value=date(1950, 1, 1), max_value=date(2026, 1, 1)),
    country=st.sampled_from(["LU", "FR", "BE", "PT", "US"]),
    main_country=st.sampled_from(["LU", "FR", "BE", "DE"]),
    kinds=st.lists(_kinds, max_size=6),
    resources=st.integers(min_value=0, max_value=3000),
    on=_days,
)
def test_property_eligible_always_cites_R1_has_a_start_and_pending_always_says_what_is_missing(
    relation: Relation,
    dob: date,
    country: str,
    main_country: str,
    kinds: list[D],
    resources: int,
    on: date,
) -> None:
    kw = {"country_of_residence": country, "monthly_resources": Decimal(resources)}
    member = child(dob=dob, **kw) if relation is Relation.CHILD else spouse(dob=dob, **kw)
    items = [
        Fact(k, member=member.id, approved=True if k is D.CNS_SERVICE_DECISION else None)
        for k in kinds
    ]
    d: Decision = decide(
        household(member, mains=(main(country=main_country),)),
        member.id,
        on=on,
        facts=facts(*items),
    )
    assert d.reasons
    if d.outcome is Outcome.ELIGIBLE:
        assert "R1" in d.rules
        assert d.start is not None
        assert d.attaches_to == "marc"
        assert d.end is None or d.end >= d.start - timedelta(days=1)
    elif d.outcome is Outcome.PENDING:
        assert d.missing
        assert all(m.rule in RULES for m in d.missing)
    else:
        assert not d.missing
        assert d.start is None
