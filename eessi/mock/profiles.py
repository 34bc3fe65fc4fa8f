"""Mock fund profiles: who a mock fund is, whom it knows, and how it behaves by default.

A profile is a TOML file (format: ``docs/mock-behaviours.md``). It names the fund (its IR ID:
for an EESSI fund the directory entry it animates), its kind, the persons it knows (the
:class:`~eessi.core.fund.FundRecord` its desk answers from and writes S071s about), its
:class:`~eessi.core.fund.FundPolicy` switches, the documents it provides outside EESSI (BL1/BL6,
the bilateral 104, a declaration on honour) and its default behaviour rules (the same shape as
the admin API's, see :mod:`eessi.mock.behaviour`). A supplementary insurer's profile describes
its product instead (:class:`~eessi.core.supplementary.SupplementaryInsurer`, S1-S4).

The profiles that ship are package data (``eessi/mock/profiles/*.toml``, found after any
install); in a checkout ``mock_institutions/profiles`` links to that directory.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final, Literal

from eessi.core.facts import DocumentKind
from eessi.core.fund import FundPolicy, FundRecord
from eessi.core.supplementary import Audience, Category, Cover, Period, SupplementaryInsurer
from eessi.directory import IR_ID_PATTERN, Directory
from eessi.errors import ConfigError, DomainError, SedModelError
from eessi.mock.behaviour import Rule, parse_rules
from eessi.sed.documents import (
    FamilyMemberStatus,
    InsurancePeriod,
    InsuranceType,
    InsuredStatus,
    StatusFamilyMember,
    StatusPerson,
)
from eessi.sed.model import (
    Address,
    EuAddress,
    FixedPeriod,
    Person,
    Pin,
    ResidenceAddress,
    Sex,
)

__all__ = [
    "FORMAT_VERSION",
    "PROFILE_KINDS",
    "Profile",
    "ProfileKind",
    "check_against_directory",
    "default_profiles_dir",
    "load_default_profiles",
    "load_profile",
    "load_profiles",
    "parse_profile",
]

FORMAT_VERSION: Final = 1
ProfileKind = Literal["eessi", "bilateral", "no-agreement", "supplementary"]
#: ``eessi``: a fund reached over EESSI (runs a FundDesk); ``bilateral``: a fund of an R6
#: country, outside EESSI (its forms are documents); ``no-agreement``: R7, no peer at all;
#: ``supplementary``: a Luxembourg mutual insurer (S1-S4), not an EESSI institution.
PROFILE_KINDS: Final[tuple[ProfileKind, ...]] = (
    "eessi",
    "bilateral",
    "no-agreement",
    "supplementary",
)

_FUND_KEYS = (
    "id", "kind", "name", "country", "languages", "summary", "exercises", "documents", "seed",
)  # fmt: skip
_SEX = {"male": Sex.MALE, "female": Sex.FEMALE, "unknown": Sex.UNKNOWN}
_SICKNESS = "06"


@dataclass(frozen=True, slots=True)
class Profile:
    """One mock fund, as loaded from its profile file."""

    id: str
    kind: ProfileKind
    name: str
    country: str
    summary: str
    #: Seed of the RNG behind its random delays.
    seed: int
    languages: tuple[str, ...] = ()
    #: BUCs and SED flows it is meant to exercise (informative: ``"S_BUC_01A"``, ``"BL1"``).
    exercises: tuple[str, ...] = ()
    records: tuple[FundRecord, ...] = ()
    policy: FundPolicy = field(default_factory=FundPolicy)
    #: Documents it provides outside EESSI (R6 104, R7 declaration, BL1/BL6 for R16).
    documents: tuple[DocumentKind, ...] = ()
    rules: tuple[Rule, ...] = ()
    #: The products, for a supplementary insurer (the first is its default product).
    products: tuple[SupplementaryInsurer, ...] = ()
    source: str | None = None

    @property
    def in_eessi(self) -> bool:
        return self.kind == "eessi"

    @property
    def insurer(self) -> SupplementaryInsurer | None:
        """The default (first) product of a supplementary insurer, else None."""
        return self.products[0] if self.products else None

    def product(self, code: str | None = None) -> SupplementaryInsurer:
        """The product ``code`` (default: the first); a :class:`ConfigError` names the others."""
        for p in self.products:
            if code is None or p.product == code:
                return p
        offered = ", ".join(p.product for p in self.products) or "none"
        raise ConfigError(
            f"{self.id} has no product {code!r}" if self.products else f"{self.id} sells nothing",
            code="mock.unknown-product",
            where=self.source,
            hint=f"products of {self.id}: {offered}",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "country": self.country,
            "summary": self.summary,
            "seed": self.seed,
            "languages": list(self.languages),
            "exercises": list(self.exercises),
            "records": [r.key for r in self.records],
            "documents": [d.value for d in self.documents],
            "rules": [r.to_dict() for r in self.rules],
            "products": [
                {"id": p.product, "name": p.name, "waiting_period": p.waiting_period.iso()}
                for p in self.products
            ],
        }


def default_profiles_dir() -> Path:
    """The profiles that ship with eessi-sim (package data)."""
    return Path(__file__).resolve().parent / "profiles"


def load_default_profiles() -> dict[str, Profile]:
    return load_profiles(default_profiles_dir())


def load_profiles(directory: str | Path) -> dict[str, Profile]:
    """Every ``*.toml`` profile of ``directory``, by fund ID (an error if an ID repeats)."""
    out: dict[str, Profile] = {}
    for path in sorted(Path(directory).glob("*.toml")):
        profile = load_profile(path)
        if profile.id in out:
            raise ConfigError(
                f"two profiles are for {profile.id}",
                code="mock.bad-profile",
                where=str(path),
                hint=f"also in {out[profile.id].source}; keep one profile per fund",
            )
        out[profile.id] = profile
    return out


def load_profile(path: str | Path) -> Profile:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no profile file at {str(p)!r}", code="mock.bad-profile", where=str(p), hint=""
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"the profile is not valid UTF-8 TOML: {exc}",
            code="mock.bad-profile",
            where=str(p),
            hint="fix the TOML at the line and column named; see docs/mock-behaviours.md",
        ) from None
    return parse_profile(doc, source=str(p))


def check_against_directory(
    profiles: Mapping[str, Profile], directory: Directory, *, require_all: bool = True
) -> None:
    """An EESSI or bilateral profile must animate a ``mock`` entry of the directory.

    With ``require_all=False``, profiles of funds the directory does not list are ignored
    (a smaller network uses some of the profiles); one listed with another kind is still an
    error."""
    for profile in profiles.values():
        if profile.kind not in ("eessi", "bilateral"):
            continue
        entry = directory.find(profile.id)
        if entry is None and not require_all:
            continue
        if entry is None or entry.kind != "mock":
            raise ConfigError(
                f"profile {profile.id} has no mock entry in the directory",
                code="mock.bad-profile",
                where=profile.source,
                hint=f'add {profile.id} with kind = "mock" to the directory'
                f" ({directory.source or 'in memory'})",
            )
        if entry.eessi != profile.in_eessi:
            raise ConfigError(
                f"profile {profile.id} is {profile.kind} but the directory says eessi ="
                f" {str(entry.eessi).lower()}",
                code="mock.bad-profile",
                where=profile.source,
                hint="an eessi profile needs eessi = true, a bilateral one eessi = false",
            )


# --------------------------------------------------------------------------- parsing


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(
        self, where: str, message: str, hint: str = "see docs/mock-behaviours.md"
    ) -> ConfigError:
        return ConfigError(
            message,
            code="mock.bad-profile",
            where=f"{self.source}: {where}" if where else self.source,
            hint=hint,
        )

    def table(self, doc: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(f"{where}{key}", f"{key} must be a table")
        return value

    def string(
        self, doc: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = doc.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(
                f"{where}{key}", f"{key} must be a non-empty string", f'write {key} = "..."'
            )
        return value

    def strings(self, doc: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}{key}", f"{key} must be a list of strings")
        return tuple(value)

    def day(self, doc: Mapping[str, Any], key: str, where: str) -> _dt.date:
        value = doc.get(key)
        if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
            return value
        raise self.fail(f"{where}{key}", f"{key} must be a TOML date", f"write {key} = 1986-01-30")


def parse_profile(doc: Mapping[str, Any], *, source: str = "<profile>") -> Profile:
    """Check a parsed profile document and build the :class:`Profile`."""
    c = _Ctx(source)
    unknown = sorted(set(doc) - {"format", "fund", "policy", "record", "rule", "supplementary"})
    if unknown:
        raise c.fail(unknown[0], f"unknown top-level key {unknown[0]!r}")
    if doc.get("format", FORMAT_VERSION) != FORMAT_VERSION:
        raise c.fail(
            "format", f"profile format {doc.get('format')!r} is not supported", "write format = 1"
        )
    fund = c.table(doc, "fund", "")
    if not fund:
        raise c.fail("fund", "the profile has no [fund] table")
    unknown = sorted(set(fund) - set(_FUND_KEYS))
    if unknown:
        raise c.fail(
            f"fund.{unknown[0]}", f"unknown key {unknown[0]!r}", f"use: {', '.join(_FUND_KEYS)}"
        )
    fund_id = c.string(fund, "id", "fund.")
    m = IR_ID_PATTERN.match(fund_id)
    if m is None:
        raise c.fail("fund.id", f"{fund_id!r} is not an IR ID", "e.g. FR:CPAM5701")
    country = m.group(1)
    if fund.get("country", country) != country:
        raise c.fail(
            "fund.country",
            f"country {fund.get('country')!r} does not match the ID {fund_id}",
            f"set country = {country!r} or leave it out",
        )
    kind = fund.get("kind", "eessi")
    if kind not in PROFILE_KINDS:
        raise c.fail(
            "fund.kind", f"unknown kind {kind!r}", f"use one of: {', '.join(PROFILE_KINDS)}"
        )
    seed = fund.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise c.fail("fund.seed", "seed must be a whole number")
    documents: list[DocumentKind] = []
    for name in c.strings(fund, "documents", "fund."):
        try:
            documents.append(DocumentKind(name))
        except ValueError:
            raise c.fail(
                "fund.documents",
                f"unknown document kind {name!r}",
                f"use: {', '.join(k.value for k in DocumentKind)}",
            ) from None
    name = c.string(fund, "name", "fund.")
    records = tuple(
        _record(c, r, i, country, fund_id, name) for i, r in enumerate(_list(c, doc, "record"), 1)
    )
    if len({r.key for r in records}) != len(records):
        raise c.fail("record", "two records have the same key", "give every record its own key")
    if kind != "eessi" and (records or doc.get("rule") or doc.get("policy")):
        raise c.fail(
            "fund.kind",
            f"a {kind} profile has no records, rules or policy",
            "they need an EESSI desk",
        )
    products: tuple[SupplementaryInsurer, ...] = ()
    if kind == "supplementary":
        products = _products(c, c.table(doc, "supplementary", ""), fund_id, name)
    elif "supplementary" in doc:
        raise c.fail("supplementary", "only a supplementary profile has a [supplementary] table")
    return Profile(
        id=fund_id,
        kind=kind,
        name=name,
        country=country,
        summary=c.string(fund, "summary", "fund."),
        seed=seed,
        languages=c.strings(fund, "languages", "fund."),
        exercises=c.strings(fund, "exercises", "fund."),
        records=records,
        policy=_policy(c, c.table(doc, "policy", "")),
        documents=tuple(documents),
        rules=parse_rules(_list(c, doc, "rule"), where=source, origin="profile"),
        products=products,
        source=source,
    )


def _list(c: _Ctx, doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise c.fail(key, f"{key} must be an array of tables", f"write [[{key}]]")
    return value


_POLICY_KEYS = (
    "auto_register",
    "close_after_refusal",
    "answer_s040",
    "answer_reminders",
    "answer_clarifications",
)


def _policy(c: _Ctx, raw: Mapping[str, Any]) -> FundPolicy:
    for key, value in raw.items():
        if key not in _POLICY_KEYS:
            raise c.fail(
                f"policy.{key}", f"unknown policy switch {key!r}", f"use: {', '.join(_POLICY_KEYS)}"
            )
        if not isinstance(value, bool):
            raise c.fail(f"policy.{key}", f"{key} must be true or false")
    return FundPolicy(**raw)


def _person(c: _Ctx, raw: Mapping[str, Any], where: str, pins: tuple[Pin, ...]) -> Person:
    sex = raw.get("sex")
    if sex not in _SEX:
        raise c.fail(f"{where}sex", f"unknown sex {sex!r}", "use male, female or unknown")
    return Person(
        family_name=c.string(raw, "family_name", where),
        forename=c.string(raw, "forename", where),
        birth_date=c.day(raw, "birth_date", where),
        sex=_SEX[sex],
        pins=pins,
    )


_ADDRESS_KEYS = {"street", "building", "town", "postal_code", "region", "country"}


def _address_parts(c: _Ctx, raw: Any, where: str, country: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise c.fail(
            where, "an address must be a table", '{ town = "Thionville", postal_code = "57100" }'
        )
    unknown = sorted(set(raw) - _ADDRESS_KEYS)
    if unknown:
        raise c.fail(f"{where}.{unknown[0]}", f"unknown address key {unknown[0]!r}")
    parts = {k: raw[k] for k in ("street", "building", "town", "postal_code", "region") if k in raw}
    parts["country"] = raw.get("country", country)
    if "town" not in parts:
        raise c.fail(f"{where}.town", "an address needs a town")
    return parts


def _record(
    c: _Ctx, raw: Any, index: int, country: str, fund_id: str, fund_name: str
) -> FundRecord:
    where = f"record #{index}, key "
    if not isinstance(raw, Mapping):
        raise c.fail(f"record #{index}", "a record must be a table")
    allowed = {
        "key", "family_name", "forename", "birth_date", "sex", "pin", "address",
        "main_insured", "insurance_periods",
    }  # fmt: skip
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise c.fail(
            f"{where}{unknown[0]!r}",
            f"unknown record key {unknown[0]!r}",
            f"use: {', '.join(sorted(allowed))}",
        )
    try:
        pins: tuple[Pin, ...] = ()
        if "pin" in raw:
            pins = (Pin(country=country, number=c.string(raw, "pin", where), sector=_SICKNESS),)
        person = _person(c, raw, where, pins)
        address = ResidenceAddress(
            address=EuAddress(**_address_parts(c, raw.get("address"), f"{where}address", country))
        )
        status: StatusFamilyMember | StatusPerson
        if "main_insured" in raw:
            mi = raw["main_insured"]
            mwhere = f"{where}main_insured."
            if not isinstance(mi, Mapping):
                raise c.fail(f"{where}main_insured", "main_insured must be a table")
            mpins = (Pin(country="LU", number=c.string(mi, "lu_pin", mwhere), sector=_SICKNESS),)
            main = _person(c, {k: v for k, v in mi.items() if k != "lu_pin"}, mwhere, mpins)
            status = StatusFamilyMember(
                status=FamilyMemberStatus.OF_INSURED_PERSON,
                main_insured=main,
                main_insured_address=Address(
                    **_address_parts(c, mi.get("address"), f"{mwhere}address", country)
                ),
            )
        else:
            status = StatusPerson(status=InsuredStatus.INSURED_PERSON)
        periods = []
        for j, p in enumerate(raw.get("insurance_periods", []), 1):
            pwhere = f"{where}insurance_periods #{j}: "
            if not isinstance(p, Mapping):
                raise c.fail(
                    pwhere, "a period must be a table", "{ start = 2015-01-01, end = 2026-01-31 }"
                )
            periods.append(
                InsurancePeriod(
                    period=FixedPeriod(
                        start=c.day(p, "start", pwhere), end=c.day(p, "end", pwhere)
                    ),
                    insurance=InsuranceType(p.get("insurance", "01")),
                )
            )
        return FundRecord(
            key=c.string(raw, "key", where),
            person=person,
            address=address,
            status=status,
            insurance_periods=tuple(periods),
        )
    except (SedModelError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, SedModelError) else str(exc)
        raise c.fail(
            f"record #{index}", f"the record is not a valid SED person: {message}"
        ) from None


def _money(c: _Ctx, raw: Mapping[str, Any], key: str, where: str) -> Decimal:
    value = raw[key]
    try:
        amount = (
            Decimal(str(value))
            if isinstance(value, str | int) and not isinstance(value, bool)
            else None
        )
    except InvalidOperation:
        amount = None
    if amount is None:
        raise c.fail(
            f"{where}{key}", f"{key} must be an amount as a string", f'write {key} = "0.80"'
        )
    return amount


_PRODUCT_KEYS = frozenset({"id", "name", "waiting_period", "audiences", "cover"})
_INSURER_KEYS = frozenset({"covers_luxembourg_costs", "state_recognised", "product"})


def _products(
    c: _Ctx, raw: Mapping[str, Any], fund_id: str, name: str
) -> tuple[SupplementaryInsurer, ...]:
    """The insurer's products: ``[[supplementary.product]]`` tables, or the
    ``[supplementary]`` table itself as the one product ``standard``."""
    if not raw:
        raise c.fail("supplementary", "a supplementary profile needs a [supplementary] table")
    if "waiting_period_days" in raw:
        days = raw["waiting_period_days"]
        raise c.fail(
            "supplementary.waiting_period_days",
            "waiting_period_days is replaced by waiting_period, an ISO 8601 duration",
            f'write waiting_period = "P{days}D" (or "P3M", "P6M", "P1Y")',
        )
    recognised = bool(raw.get("state_recognised", True))
    lu_costs = bool(raw.get("covers_luxembourg_costs", True))
    if "product" not in raw:
        return (_product(c, raw, "supplementary.", fund_id, name, lu_costs, recognised),)
    unknown = sorted(set(raw) - _INSURER_KEYS)
    if unknown:
        raise c.fail(
            f"supplementary.{unknown[0]}",
            f"{unknown[0]} belongs to a product when [[supplementary.product]] tables are given",
            "move it into each [[supplementary.product]]",
        )
    products = _list(c, raw, "product")
    out = tuple(
        _product(c, p, f"supplementary.product #{i}, key ", fund_id, name, lu_costs, recognised)
        for i, p in enumerate(products, 1)
    )
    codes = [p.product for p in out]
    if not out or len(set(codes)) != len(codes):
        raise c.fail(
            "supplementary.product", "products need distinct ids", "give each product its own id"
        )
    return out


def _product(
    c: _Ctx,
    raw: Mapping[str, Any],
    where: str,
    fund_id: str,
    name: str,
    lu_costs: bool,
    recognised: bool,
) -> SupplementaryInsurer:
    if not isinstance(raw, Mapping):
        raise c.fail(
            where.removesuffix(", key ").removesuffix("."),
            "a product is a table",
            "write [[supplementary.product]]",
        )
    if where != "supplementary.":
        unknown = sorted(set(raw) - _PRODUCT_KEYS)
        if unknown:
            raise c.fail(
                f"{where}{unknown[0]}",
                f"unknown product key {unknown[0]!r}",
                f"use: {', '.join(sorted(_PRODUCT_KEYS))}",
            )
    covers: list[Cover] = []
    for i, cover in enumerate(raw.get("cover", []), 1):
        at = f"{where}cover #{i}, key "
        try:
            category = Category(cover.get("category"))
        except ValueError:
            raise c.fail(
                f"{at}category",
                f"unknown category {cover.get('category')!r}",
                f"use: {', '.join(k.value for k in Category)}",
            ) from None
        ceiling = _money(c, cover, "ceiling", at) if "ceiling" in cover else None
        rate = _money(c, cover, "rate", at) if "rate" in cover else Decimal(1)
        try:
            covers.append(Cover(category, rate, ceiling))
        except DomainError as exc:
            raise c.fail(f"{at}rate", exc.message, exc.hint or "") from None
    audiences: list[Audience] = []
    for a in c.strings(raw, "audiences", where):
        try:
            audiences.append(Audience(a))
        except ValueError:
            raise c.fail(
                f"{where}audiences",
                f"unknown audience {a!r}",
                f"use: {', '.join(x.value for x in Audience)}",
            ) from None
    waiting = raw.get("waiting_period", "P0D")
    try:
        period = Period.parse(waiting) if isinstance(waiting, str) else None
    except DomainError:
        period = None
    if period is None:
        raise c.fail(
            f"{where}waiting_period",
            f"waiting_period {waiting!r} is not an ISO 8601 date period",
            'write waiting_period = "P90D", "P3M", "P6M" or "P1Y"',
        )
    code = raw.get("id", "standard")
    if not isinstance(code, str) or not code:
        raise c.fail(f"{where}id", "a product id is a non-empty string", 'write id = "optimum"')
    label = raw.get("name", name)
    try:
        return SupplementaryInsurer(
            id=fund_id,
            name=label if isinstance(label, str) else name,
            covers=tuple(covers),
            waiting_period=period,
            audiences=frozenset(audiences) if audiences else frozenset(Audience),
            covers_luxembourg_costs=bool(raw.get("covers_luxembourg_costs", lu_costs)),
            state_recognised=bool(raw.get("state_recognised", recognised)),
            product=code,
        )
    except DomainError as exc:
        raise c.fail(
            where.removesuffix(", key ").removesuffix(".") or "supplementary",
            exc.message,
            exc.hint or "",
        ) from None
