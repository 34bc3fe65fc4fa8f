from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from scenarios import CNS, PT, example_households

from eessi.directory import load_default_directory
from eessi.node.network import institution_seed
from eessi.trace.format import TraceError
from eessi.trace.runconfig import households, rule_parameters, run_config, seed_of, start_of


def test_R9_threshold_table_from_the_config_replaces_the_default() -> None:
    params = rule_parameters(
        {"rules": {"resources_threshold": [{"valid_from": "2020-01-01", "amount": "900.50"}]}}
    )
    assert params.resources_threshold.on(date(2026, 3, 2)) == Decimal("900.50")
    assert rule_parameters({}).resources_threshold.on(date(2026, 3, 2)) == Decimal("1700.00")


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ({"resources_threshold": [{"valid_from": "soon", "amount": "1"}]}, "threshold table"),
        ({"resources_threshold": []}, "threshold table"),
        ({"age_limit": 3}, "unknown rule parameter"),
        ("cheap", "must be an object"),
    ],
)
def test_bad_rules_are_refused_with_the_key(rules: object, words: str) -> None:
    with pytest.raises(TraceError, match=words) as err:
        rule_parameters({"rules": rules})
    assert err.value.code == "trace.bad-config"


def test_households_are_checked_like_household_files() -> None:
    assert len(households(run_config(example_households()))) == len(example_households())
    with pytest.raises(TraceError, match="household 0 is invalid"):
        households({"households": [{"format": "eessi-household/1"}]})


def test_seeds_follow_eessi_up_unless_given_per_institution() -> None:
    directory = load_default_directory()
    # As `eessi up --seed 10`: the institution ID is mixed in, so CNS and fund differ.
    assert seed_of({"seed": 10}, directory, PT) == institution_seed(10, PT)
    assert seed_of({"seed": 10}, directory, CNS) != seed_of({"seed": 10}, directory, PT)
    assert seed_of({"seed": 10, "seeds": {CNS: 99}}, directory, CNS) == institution_seed(99, CNS)
    assert seed_of({}, directory, CNS) == institution_seed(0, CNS)
    assert start_of({}) is None
    with pytest.raises(TraceError, match="not a time"):
        start_of({"start": "noon"})
