"""Common value types of the SEDs, and the declarative XML mapping they carry.

Why declarative: thirteen SEDs share a handful of building blocks (a person with PINs, EU and
world addresses, fixed or open periods, coded ``<value>`` elements). Each dataclass field says,
in its ``metadata``, which XML element it maps to and what the schema allows there (see
:func:`xml`); one generic encoder/decoder in :mod:`eessi.sed.codec` walks those fields in
declaration order, which **is** the schema's sequence order. The same metadata lets every
model check itself on construction (:class:`Node`), so a document that exists in memory can
always be encoded.

This module does not import lxml: the domain core imports these dataclasses and must stay pure.

Element paths: ``"PersonIdentification/familyName"`` means the value sits in ``familyName``
inside a ``PersonIdentification`` wrapper. Consecutive fields with the same wrapper share one
wrapper element; a wrapper is written only when one of its fields has a value.

Code lists (the ``<value>`` contents) follow the official CDM 4.4 where we mirror it:

- sex: ``01`` male, ``02`` female, ``98`` unknown (:class:`Sex`);
- sector: ``01`` AWOD … ``06`` sickness … ``07`` unemployment (:data:`SECTORS`);
- open period type: ``01`` open-ended, ``98`` end date unknown (:class:`OpenPeriodType`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from eessi.errors import SedModelError

__all__ = [
    "EU_EFTA_COUNTRIES",
    "INSTITUTION_ID_RE",
    "MEDIUM",
    "NAME",
    "PERIOD_CHOICE",
    "SECTORS",
    "SHORT",
    "TINY",
    "VERY_LONG",
    "Address",
    "BirthDetails",
    "EuAddress",
    "FixedPeriod",
    "Institution",
    "Node",
    "OpenPeriod",
    "OpenPeriodType",
    "OptionalPeriod",
    "Period",
    "Person",
    "PersonAddress",
    "Pin",
    "PlaceOfBirth",
    "ResidenceAddress",
    "Sex",
    "XmlField",
    "version_at_least",
    "xml",
    "xml_fields",
]

#: Countries of the EU/EFTA code list (the official list writes Greece ``EL``, the UK ``UK``).
EU_EFTA_COUNTRIES: Final[tuple[str, ...]] = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "EL", "HU", "IS", "IE",
    "IT", "LV", "LI", "LT", "LU", "MT", "NL", "NO", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "CH", "UK",
)  # fmt: skip

#: Institution ID: an EU/EFTA country (or ``EU``), a colon, 4 to 10 letters or digits.
INSTITUTION_ID_RE: Final[re.Pattern[str]] = re.compile(
    r"(?:" + "|".join((*EU_EFTA_COUNTRIES, "EU")) + r"):[a-zA-Z0-9]{4,10}"
)

#: Sector codes: 01 AWOD, 02 family benefits, 03 all, 04 pensions, 05 recovery,
#: 06 sickness, 07 unemployment benefits.
SECTORS: Final[frozenset[str]] = frozenset({"01", "02", "03", "04", "05", "06", "07"})

#: World country codes: checked by shape only here (two upper-case letters); the schema holds
#: the list.
_WORLD_COUNTRY_RE: Final[re.Pattern[str]] = re.compile(r"[A-Z]{2}")
#: Historic countries (place of birth) add ISO 3166-3 four-letter codes (``YUCS``, ``SUHH``).
_HISTORIC_COUNTRY_RE: Final[re.Pattern[str]] = re.compile(r"[A-Z]{2}|[A-Z]{4}")
#: Characters XML 1.0 cannot carry (lxml refuses them); a model never holds them.
_XML_ILLEGAL_RE: Final[re.Pattern[str]] = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
)

#: String lengths of the CDM types: person names and medium strings, short strings (town,
#: PIN), tiny strings (postal code), very long strings (free text).
NAME: Final = 155
MEDIUM: Final = 155
SHORT: Final = 65
TINY: Final = 25
VERY_LONG: Final = 500


@dataclass(frozen=True, slots=True)
class XmlField:
    """How one dataclass field maps to XML and what values it accepts.

    ``kind`` is ``"text"`` (a string; ``codes`` and ``pattern`` restrict it), ``"date"``,
    ``"datetime"``, ``"int"`` (at least ``min_value``), ``"yesno"`` (a bool written ``01`` for
    yes, ``02`` for no), an :class:`Enum` subclass (its value as text), or a :class:`Node` subclass
    (a nested element). Coded values name their ``value`` element in the path
    (``"sex/value"``). ``many`` repeats the last path step once per item (``min_items`` to
    ``max_items`` of them). ``choice`` lists ``(element name, Node subclass)`` pairs: the value's
    class picks the element, placed inside the wrappers of ``path`` (with ``many``, inside one
    repeated last path step per item). ``since`` is the first CDM version that has the element.
    """

    path: tuple[str, ...]
    kind: Any
    optional: bool = False
    many: bool = False
    choice: tuple[tuple[str, type[Node]], ...] = ()
    since: str | None = None
    min_len: int = 1
    max_len: int | None = None
    codes: frozenset[str] | None = None
    pattern: re.Pattern[str] | None = None
    min_value: int | None = None
    min_items: int = 0
    max_items: int | None = None

    @property
    def name(self) -> str:
        """The element's own name (last path step); for a choice, the last wrapper or ''."""
        return self.path[-1] if self.path else ""


def xml(
    path: str,
    kind: Any = "text",
    *,
    optional: bool = False,
    many: bool = False,
    choice: Mapping[str, type[Node]] | None = None,
    since: str | None = None,
    min_len: int = 1,
    max_len: int | None = None,
    codes: frozenset[str] | tuple[str, ...] | None = None,
    pattern: re.Pattern[str] | str | None = None,
    min_value: int | None = None,
    min_items: int = 0,
    max_items: int | None = None,
) -> dict[str, XmlField]:
    """Field metadata: ``field(metadata=xml("familyName", max_len=NAME))``.

    For a ``choice``, ``path`` names the wrapper elements around the chosen element (``""`` if
    the chosen element sits directly in the parent).
    """
    if isinstance(pattern, str):
        pattern = re.compile(pattern)
    return {
        "xml": XmlField(
            path=tuple(p for p in path.split("/") if p),
            kind=kind,
            optional=optional,
            many=many,
            choice=tuple((choice or {}).items()),
            since=since,
            min_len=min_len,
            max_len=max_len,
            codes=frozenset(codes) if codes is not None else None,
            pattern=pattern,
            min_value=min_value,
            min_items=min_items,
            max_items=max_items,
        )
    }


_FIELDS_CACHE: dict[type, tuple[tuple[str, XmlField], ...]] = {}


def xml_fields(cls: type) -> tuple[tuple[str, XmlField], ...]:
    """The ``(attribute name, XmlField)`` pairs of a model class, in schema order."""
    try:
        return _FIELDS_CACHE[cls]
    except KeyError:
        pairs = tuple(
            (f.name, f.metadata["xml"]) for f in dataclasses.fields(cls) if "xml" in f.metadata
        )
        _FIELDS_CACHE[cls] = pairs
        return pairs


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def version_at_least(version: str, since: str) -> bool:
    """``True`` if ``version`` (``"4.3"``) is ``since`` or later."""
    return _version_tuple(version) >= _version_tuple(since)


class Node:
    """Base of every model class: checks each field against its :class:`XmlField` on
    construction, so invalid values fail where they are made (not later in the encoder).

    Subclasses add cross-field rules in :meth:`_invariants`. Lists given for repeated fields
    are frozen into tuples.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        # The common case, a model built with values of the right types, passes one
        # precompiled check per field (exactly as strict as the general check below: a value
        # either passes both or fails both). Anything else, including a list to freeze into a
        # tuple, goes through the general check, which says what is wrong.
        checks = _CHECKS.get(type(self)) or _checks_of(type(self))
        for name, many, optional, low, high, check in checks:
            value = getattr(self, name)
            if many:
                if (
                    type(value) is not tuple
                    or len(value) < low
                    or (high is not None and len(value) > high)
                ):
                    break
                if check is not None and not all(check(v) for v in value):
                    break
            elif value is None:
                if not optional:
                    break
            elif check is not None and not check(value):
                break
        else:
            self._invariants()
            return
        self._check_fields()

    def _check_fields(self) -> None:
        """Every field against its :class:`XmlField`, with the error of the first that fails."""
        for name, spec in xml_fields(type(self)):
            value = getattr(self, name)
            where = f"{type(self).__name__}.{name}"
            if spec.many:
                if isinstance(value, list):
                    value = tuple(value)
                    object.__setattr__(self, name, value)
                if not isinstance(value, tuple):
                    raise SedModelError(
                        f"{where} must be a tuple, got {type(value).__name__}",
                        where=where,
                        hint="pass a tuple (or list) of values; () for none",
                    )
                if len(value) < spec.min_items or (
                    spec.max_items is not None and len(value) > spec.max_items
                ):
                    upper = spec.max_items if spec.max_items is not None else "n"
                    raise SedModelError(
                        f"{where} has {len(value)} items, allowed {spec.min_items}..{upper}",
                        where=where,
                        hint="add or remove items",
                    )
                for i, item in enumerate(value):
                    _check_value(spec, item, f"{where}[{i}]")
            elif value is None:
                if not spec.optional:
                    raise SedModelError(f"{where} is required", where=where, hint="give it a value")
            else:
                _check_value(spec, value, where)
        self._invariants()

    def _invariants(self) -> None:
        """Cross-field rules of a subclass; raise :class:`SedModelError` when broken."""


_Check = tuple[str, bool, bool, int, int | None, Callable[[Any], bool] | None]
_CHECKS: dict[type, tuple[_Check, ...]] = {}


def _checks_of(cls: type) -> tuple[_Check, ...]:
    """Per field of ``cls``: name, many, optional, item bounds and the value check."""
    checks = tuple(
        (name, spec.many, spec.optional, spec.min_items, spec.max_items, _value_check(spec))
        for name, spec in xml_fields(cls)
    )
    _CHECKS[cls] = checks
    return checks


def _value_check(spec: XmlField) -> Callable[[Any], bool] | None:
    """``True`` exactly when :func:`_check_value` accepts the value (``None``: never fails)."""
    kind = spec.kind
    if spec.choice:
        classes = tuple(c for _, c in spec.choice)
        return lambda v: isinstance(v, classes)
    if kind == "date":
        return lambda v: isinstance(v, _dt.date) and not isinstance(v, _dt.datetime)
    if kind == "datetime":
        return lambda v: isinstance(v, _dt.datetime) and v.tzinfo is not None
    if kind == "yesno":
        return lambda v: isinstance(v, bool)
    if kind == "int":
        low = spec.min_value
        return lambda v: (
            isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low)
        )
    if isinstance(kind, type):  # an Enum or a Node subclass
        return lambda v: isinstance(v, kind)
    codes, lo, hi, pattern = spec.codes, spec.min_len, spec.max_len, spec.pattern
    match = pattern.fullmatch if pattern is not None else None
    illegal = _XML_ILLEGAL_RE.search

    def check(v: Any) -> bool:
        return (
            isinstance(v, str)
            and (codes is None or v in codes)
            and lo <= len(v)
            and (hi is None or len(v) <= hi)
            and (match is None or match(v) is not None)
            and illegal(v) is None
        )

    return check


def _fail(where: str, message: str, hint: str) -> SedModelError:
    return SedModelError(f"{where}: {message}", where=where, hint=hint)


def _check_value(spec: XmlField, value: object, where: str) -> None:
    kind = spec.kind
    if spec.choice:
        classes = tuple(c for _, c in spec.choice)
        if not isinstance(value, classes):
            names = ", ".join(c.__name__ for c in classes)
            raise _fail(where, f"got {type(value).__name__}", f"use one of: {names}")
        return
    if kind == "date":
        if not isinstance(value, _dt.date) or isinstance(value, _dt.datetime):
            raise _fail(where, f"expected a date, got {value!r}", "use datetime.date(...)")
        return
    if kind == "datetime":
        if not isinstance(value, _dt.datetime) or value.tzinfo is None:
            raise _fail(
                where,
                f"expected a time-zone aware datetime, got {value!r}",
                "use datetime.datetime(..., tzinfo=datetime.UTC)",
            )
        return
    if kind == "yesno":
        if not isinstance(value, bool):
            raise _fail(where, f"expected True or False, got {value!r}", "")
        return
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, f"expected an integer, got {value!r}", "")
        if spec.min_value is not None and value < spec.min_value:
            raise _fail(where, f"{value} is below {spec.min_value}", "")
        return
    if isinstance(kind, type) and issubclass(kind, Enum):
        if not isinstance(value, kind):
            raise _fail(
                where,
                f"expected {kind.__name__}, got {value!r}",
                f"use one of: {', '.join(m.name for m in kind)}",
            )
        return
    if isinstance(kind, type):
        if not isinstance(value, kind):
            raise _fail(where, f"expected {kind.__name__}, got {type(value).__name__}", "")
        return
    _check_text(spec, value, where)


def _check_text(spec: XmlField, value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {type(value).__name__}", "")
    if spec.codes is not None and value not in spec.codes:
        raise _fail(
            where,
            f"{value!r} is not an allowed code",
            f"use one of: {', '.join(sorted(spec.codes))}",
        )
    if len(value) < spec.min_len or (spec.max_len is not None and len(value) > spec.max_len):
        upper = spec.max_len if spec.max_len is not None else "any"
        raise _fail(
            where,
            f"length {len(value)} is out of range {spec.min_len}..{upper}",
            "shorten or fill the value",
        )
    if spec.pattern is not None and spec.pattern.fullmatch(value) is None:
        raise _fail(
            where, f"{value!r} does not match {spec.pattern.pattern}", "fix the value's format"
        )
    bad = _XML_ILLEGAL_RE.search(value)
    if bad is not None:
        raise _fail(
            where,
            f"contains a character XML cannot carry (U+{ord(bad.group()):04X})",
            "remove control characters",
        )


def _country(
    path: str, *, optional: bool = False, eu: bool = True, historic: bool = False
) -> dict[str, XmlField]:
    if eu:
        return xml(path, optional=optional, codes=EU_EFTA_COUNTRIES)
    pattern = _HISTORIC_COUNTRY_RE if historic else _WORLD_COUNTRY_RE
    return xml(path, optional=optional, pattern=pattern)


# --- code lists -------------------------------------------------------------------------


class Sex(Enum):
    """Sex of a person (CDM code list)."""

    #: ``01``
    MALE = "01"
    #: ``02``
    FEMALE = "02"
    #: ``98``
    UNKNOWN = "98"


class OpenPeriodType(Enum):
    """Why a period has no end date."""

    #: ``01`` open-ended period (e.g. until cancelled).
    OPEN_ENDED = "01"
    #: ``98`` the end date is not known.
    END_UNKNOWN = "98"


# --- building blocks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Institution(Node):
    """An institution as named in a SED: its IR ID (``FR:CPAM57``) and name."""

    id: str = field(metadata=xml("institutionID", pattern=INSTITUTION_ID_RE))
    name: str = field(metadata=xml("institutionName", max_len=MEDIUM))


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin(Node):
    """A personal identification number given by one country (and optionally institution)."""

    country: str = field(metadata=_country("country/value"))
    number: str = field(metadata=xml("personalIdentificationNumber", max_len=SHORT))
    #: Sector code (see :data:`SECTORS`), e.g. ``"06"`` sickness.
    sector: str | None = field(
        default=None, metadata=xml("sector/value", optional=True, codes=SECTORS)
    )
    institution: Institution | None = field(
        default=None, metadata=xml("Institution", Institution, optional=True)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOfBirth(Node):
    """Town, region and country of birth (the country may be historic, e.g. ``YU``)."""

    town: str = field(metadata=xml("town", max_len=SHORT))
    region: str | None = field(default=None, metadata=xml("region", optional=True, max_len=SHORT))
    country: str = field(metadata=_country("country/value", eu=False, historic=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class BirthDetails(Node):
    """Extra identification when a PIN is not given for every institution."""

    place_of_birth: PlaceOfBirth | None = field(
        default=None, metadata=xml("PlaceBirth", PlaceOfBirth, optional=True)
    )
    father_family_name_at_birth: str | None = field(
        default=None, metadata=xml("fatherFamilyNameAtBirth", optional=True, max_len=NAME)
    )
    father_forename: str | None = field(
        default=None, metadata=xml("forenameFather", optional=True, max_len=NAME)
    )
    mother_family_name_at_birth: str | None = field(
        default=None, metadata=xml("motherFamilyNameAtBirth", optional=True, max_len=NAME)
    )
    mother_forename: str | None = field(
        default=None, metadata=xml("forenameMother", optional=True, max_len=NAME)
    )


_PI = "PersonIdentification/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Person(Node):
    """A person as the CDM's ``SPersonFullInfoType``: identification, PINs, nationalities.

    Flattened: the ``PersonIdentification`` and ``AdditionalInformationPerson`` wrappers are
    implied by the element paths.
    """

    family_name: str = field(metadata=xml(_PI + "familyName", max_len=NAME))
    forename: str = field(metadata=xml(_PI + "forename", max_len=NAME))
    birth_date: _dt.date = field(metadata=xml(_PI + "dateBirth", "date"))
    sex: Sex = field(metadata=xml(_PI + "sex/value", Sex))
    family_name_at_birth: str | None = field(
        default=None, metadata=xml(_PI + "familyNameAtBirth", optional=True, max_len=NAME)
    )
    forename_at_birth: str | None = field(
        default=None, metadata=xml(_PI + "forenameAtBirth", optional=True, max_len=NAME)
    )
    pins: tuple[Pin, ...] = field(
        default=(),
        metadata=xml(
            _PI + "PINPersonInEachInstitution/PersonalIdentificationNumber", Pin, many=True
        ),
    )
    birth_details: BirthDetails | None = field(
        default=None,
        metadata=xml(
            _PI + "IfPINNotProvidedForEveryInstitutionPleaseProvide", BirthDetails, optional=True
        ),
    )
    #: Nationalities (country codes, no duplicates).
    nationalities: tuple[str, ...] = field(
        default=(),
        metadata=xml(
            "AdditionalInformationPerson/nationality/value",
            many=True,
            pattern=_HISTORIC_COUNTRY_RE,
        ),
    )

    def _invariants(self) -> None:
        if len(set(self.nationalities)) != len(self.nationalities):
            raise _fail("Person.nationalities", "duplicate nationality", "list each once")

    def pin_for(self, country: str) -> Pin | None:
        """The first PIN issued by ``country``, if any."""
        return next((p for p in self.pins if p.country == country), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class EuAddress(Node):
    """An address in an EU/EFTA country (``EESSIAddressEUType``)."""

    street: str | None = field(default=None, metadata=xml("street", optional=True, max_len=MEDIUM))
    building: str | None = field(
        default=None, metadata=xml("buildingName", optional=True, max_len=MEDIUM)
    )
    town: str = field(metadata=xml("town", max_len=SHORT))
    postal_code: str | None = field(
        default=None, metadata=xml("postalCode", optional=True, max_len=TINY)
    )
    region: str | None = field(default=None, metadata=xml("region", optional=True, max_len=SHORT))
    country: str = field(metadata=_country("country/value"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Address(Node):
    """An address anywhere in the world (``EESSIAddressWorldType``)."""

    street: str | None = field(default=None, metadata=xml("street", optional=True, max_len=MEDIUM))
    building: str | None = field(
        default=None, metadata=xml("buildingName", optional=True, max_len=MEDIUM)
    )
    town: str = field(metadata=xml("town", max_len=SHORT))
    postal_code: str | None = field(
        default=None, metadata=xml("postalCode", optional=True, max_len=TINY)
    )
    region: str | None = field(default=None, metadata=xml("region", optional=True, max_len=SHORT))
    country: str = field(metadata=_country("country/value", eu=False))


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidenceAddress(Node):
    """A person's EU/EFTA address and since when they live in that country.

    ``residence_since`` exists from CDM 4.4 on; a 4.3 document cannot carry it.
    """

    address: EuAddress = field(metadata=xml("Address", EuAddress))
    residence_since: _dt.date | None = field(
        default=None,
        metadata=xml("residenceInThisCountrySince", "date", optional=True, since="4.4"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonAddress(Node):
    """A person's address anywhere in the world, and since when (4.4 only) they live there."""

    address: Address = field(metadata=xml("Address", Address))
    residence_since: _dt.date | None = field(
        default=None,
        metadata=xml("residenceInThisCountrySince", "date", optional=True, since="4.4"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedPeriod(Node):
    """A period with a start and an end date (both included)."""

    start: _dt.date = field(metadata=xml("startDate", "date"))
    end: _dt.date = field(metadata=xml("endDate", "date"))

    def _invariants(self) -> None:
        if self.end < self.start:
            raise _fail(
                "FixedPeriod",
                f"end {self.end} is before start {self.start}",
                "swap the dates or use an OpenPeriod",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenPeriod(Node):
    """A period from a start date with no end date (open-ended, or end unknown)."""

    type: OpenPeriodType = field(metadata=xml("typeOpenPeriod/value", OpenPeriodType))
    start: _dt.date = field(metadata=xml("startDate", "date"))


#: A period: fixed (start and end) or open (start only).
Period = FixedPeriod | OpenPeriod

#: The choice of ``EESSIOngoingPeriodType``, for fields that hold a :data:`Period`.
PERIOD_CHOICE: Final[dict[str, type[Node]]] = {"FixedPeriod": FixedPeriod, "OpenPeriod": OpenPeriod}


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionalPeriod(Node):
    """A period whose start and end dates are both optional (S041 employment periods)."""

    start: _dt.date | None = field(default=None, metadata=xml("startDate", "date", optional=True))
    end: _dt.date | None = field(default=None, metadata=xml("endDate", "date", optional=True))

    def _invariants(self) -> None:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise _fail("OptionalPeriod", f"end {self.end} is before start {self.start}", "")
