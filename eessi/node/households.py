"""The people a running network knows: households read from JSON files, seen by each side.

The CNS's registry (:class:`~eessi.core.registry.CnsRegistry`) and each foreign fund's records
(:class:`~eessi.core.fund.FundRecord`) are built from the same household files
(``docs/household-format.md``), so a fund can ask the CNS about a family the CNS knows.

A household file says what the eligibility rules need; a SED also needs addresses. The files
have none, so each person gets a simulated address in their country of residence (marked
``(sim)``). The files' ``facts`` (documents already exchanged, for trying situations with
``eessi eligibility``) are **not** loaded: in a running network, documents are exchanged for
real.

A fund's record key is ``"household/member"`` (``"silva-luxembourg/ana"``): a fund knows the
members who live in its country, and, as a former fund (R5), the members whose former insurance
names it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path

from eessi.core.fund import FundRecord
from eessi.core.household import Household
from eessi.core.household_json import loads_household
from eessi.core.mapping import entitlement_parts
from eessi.core.registry import CnsRegistry, RegistryEntry
from eessi.errors import ConfigError
from eessi.sed.documents import InsurancePeriod, InsuranceType
from eessi.sed.model import Address, EuAddress, FixedPeriod, Institution, Pin, ResidenceAddress

__all__ = [
    "cns_registry",
    "default_households_dir",
    "fund_records",
    "load_households",
    "no_households_at",
    "read_household_file",
    "registry_entry",
]

log = logging.getLogger("eessi.node")

_TOWNS = {
    "LU": ("Luxembourg", "1611"),
    "FR": ("Thionville", "57100"),
    "BE": ("Arlon", "6700"),
    "DE": ("Trier", "54290"),
    "PT": ("Braga", "4700-001"),
}


def default_households_dir() -> Path:
    """The example households shipped with eessi-sim: the one place that resolves them.

    Package data (``eessi/data/households``) when present, else the checkout's
    ``examples/households``.
    """
    here = Path(__file__).resolve().parents[1]
    packaged = here / "data" / "households"
    if packaged.is_dir():
        return packaged
    return here.parent / "examples" / "households"


def load_households(where: str | Path | None = None) -> list[Household]:
    """Every ``*.json`` household of a directory (or one file), sorted by file name.

    ``None``: the shipped examples (none, with a warning, if this install lacks them).
    """
    path = Path(where) if where is not None else default_households_dir()
    if where is None and not path.exists():
        # An install without the packaged examples: run with nobody rather than not at all.
        log.warning("no example households at %s: the CNS knows nobody", path)
        return []
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        raise no_households_at(path)
    return [read_household_file(f) for f in files]


def no_households_at(path: Path) -> ConfigError:
    """The refusal of a ``--households`` path that is neither a directory nor a file."""
    return ConfigError(
        f"no household directory or file at {path}",
        code="config.households",
        where=str(path),
        hint="give --households a directory of household JSON files (see docs/household-format.md)",
    )


def read_household_file(path: Path) -> Household:
    """One household JSON file, read and checked (a ``ConfigError`` naming the file if not)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read household file: {exc.strerror}",
            code="config.households",
            where=str(path),
            hint="check the file's permissions",
        ) from exc
    return loads_household(text, source=str(path)).household


def _address(country: str, who: str) -> EuAddress:
    town, postcode = _TOWNS.get(country, ("Capital", None))
    return EuAddress(
        street=f"(sim) address of {who}"[:60], town=town, postal_code=postcode, country=country
    )


def registry_entry(household: Household) -> RegistryEntry:
    """The CNS's view of ``household``, with simulated addresses."""
    main = household.main_insured[0]
    home = _address(main.country_of_residence, main.name)
    address = Address(
        street=home.street, town=home.town, postal_code=home.postal_code, country=home.country
    )
    members = {
        m.id: _address(m.country_of_residence, m.name)
        for m in household.members
        if m.country_of_residence != main.country_of_residence
    }
    return RegistryEntry(household, address=address, member_addresses=members)


def cns_registry(households: Iterable[Household]) -> CnsRegistry:
    return CnsRegistry(registry_entry(h) for h in households)


def fund_records(
    fund_id: str, households: Sequence[Household], cns: Institution
) -> list[FundRecord]:
    """What the fund ``fund_id`` knows: members living in its country; former insured (R5)."""
    country = fund_id.split(":", 1)[0]
    out: list[FundRecord] = []
    for household in households:
        entry = registry_entry(household)
        for m in household.members:
            key = f"{entry.key}/{m.id}"
            former = m.former_insurance
            if m.country_of_residence == country and country != "LU":
                try:
                    person, address, status = entitlement_parts(entry, m.id, cns)
                except ValueError:
                    continue
                out.append(FundRecord(key=key, person=person, address=address, status=status))
            elif former is not None and former.fund_id == fund_id and former.foreign_number:
                person, _address_lu, status = entitlement_parts(entry, m.id, cns)
                person = type(person)(
                    family_name=person.family_name,
                    forename=person.forename,
                    birth_date=person.birth_date,
                    sex=person.sex,
                    pins=(Pin(country=country, number=former.foreign_number, sector="06"),),
                )
                until = former.until or m.arrived_on
                periods = (
                    ()
                    if until is None
                    else (
                        InsurancePeriod(
                            period=FixedPeriod(start=until - timedelta(days=10 * 365), end=until),
                            insurance=InsuranceType.COMPULSORY,
                        ),
                    )
                )
                home = _address(country, m.name)
                out.append(
                    FundRecord(
                        key=key,
                        person=person,
                        address=ResidenceAddress(address=home),
                        status=status,
                        insurance_periods=periods,
                    )
                )
    return out
