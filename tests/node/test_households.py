"""The people a running network knows, from the shipped household files."""

from __future__ import annotations

from pathlib import Path

import pytest

from eessi.clock import VirtualClock
from eessi.core.cns import CnsDesk
from eessi.core.fund import FundDesk
from eessi.directory import load_default_directory
from eessi.errors import ConfigError
from eessi.ids import SeededIds
from eessi.node.desk_factory import desk_factory
from eessi.node.households import (
    cns_registry,
    default_households_dir,
    fund_records,
    load_households,
)
from eessi.sed.model import Institution

CNS = Institution(id="LU:CNS00001", name="CNS")


def test_default_households_are_found_and_all_load() -> None:
    assert default_households_dir().is_dir()
    households = load_households()
    assert len(households) == len(list(default_households_dir().glob("*.json")))
    assert len(cns_registry(households)) == len(households)


def test_a_fund_knows_the_members_living_in_its_country() -> None:
    keys = [r.key for r in fund_records("PT:ISS00001", load_households(), CNS)]
    assert keys == ["silva-luxembourg/ana", "silva-luxembourg/rui"]
    assert fund_records("LU:CNS00001", load_households(), CNS) == []


def test_a_former_fund_knows_its_former_insured_with_their_periods() -> None:
    records = fund_records("DE:TKK00001", load_households(), CNS)
    former = [r for r in records if r.insurance_periods]
    assert former, "the examples include a member formerly insured in Germany (R5)"
    assert all(r.person.pin_for("DE") is not None for r in former)


def test_missing_household_directory_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no household directory") as caught:
        load_households(tmp_path / "nope")
    assert caught.value.where == str(tmp_path / "nope")


def test_the_directory_kind_chooses_the_desk() -> None:
    directory = load_default_directory()
    households = load_households()
    clock, ids = VirtualClock(), SeededIds(1)
    cns = desk_factory(directory.get("LU:CNS00001"), directory, households)(clock, ids, None)
    fund = desk_factory(directory.get("FR:CPAM5701"), directory, households)(clock, ids, None)
    assert isinstance(cns, CnsDesk)
    assert isinstance(fund, FundDesk)
    assert sorted(fund.records) == ["martin-thionville/marie", "martin-thionville/noah"]
