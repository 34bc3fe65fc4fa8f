"""The household file format (JSON), read and written. See ``docs/household-format.md``.

Testers write these files by hand, so every mistake is reported as a
:class:`~eessi.errors.ConfigError` saying **what** is wrong, **where** (the file and a JSON
pointer such as ``household.json#/members/1/date_of_birth``) and **what to do**. Unknown keys
are errors too (with a "did you mean" hint): a misspelt ``rnpp_registred`` must not silently
become ``false``.

This module is pure: it turns text into a :class:`HouseholdFile` and back. Reading the file is
the caller's job (the CLI), so the core still does no I/O.

Numbers are parsed as :class:`~decimal.Decimal` (never floats); amounts may be written as JSON
numbers or strings (``"1234.56"``).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NoReturn, TypeVar, cast

from eessi.core.countries import is_country_code
from eessi.core.facts import DocumentKind, Fact, Facts, S041Reply, S041Summary
from eessi.core.household import (
    ChildKind,
    FamilyMember,
    FormerInsurance,
    Household,
    InsuranceBasis,
    MainInsured,
    MainInsuredKind,
    Relation,
)
from eessi.core.rules import DEFAULT_PARAMETERS, DatedAmount, DatedAmounts, RuleParameters
from eessi.errors import ConfigError, EessiError

__all__ = [
    "FACT_FIELDS",
    "FORMAT",
    "FORMER_INSURANCE_FIELDS",
    "MAIN_INSURED_FIELDS",
    "MEMBER_FIELDS",
    "PARAMETERS_FIELDS",
    "TOP_FIELDS",
    "HouseholdFile",
    "dumps_household",
    "household_to_dict",
    "loads_household",
    "parse_household",
]

#: Value of the ``format`` key; a later incompatible format gets a new number.
FORMAT = "eessi-household/1"

TOP_FIELDS = ("format", "id", "description", "on", "main_insured", "members", "facts", "parameters")
MAIN_INSURED_FIELDS = (
    "id",
    "pin",
    "name",
    "date_of_birth",
    "kind",
    "affiliated_since",
    "affiliation_end",
    "exit_notice_received",
    "country_of_residence",
    "belgian_mutual",
)
MEMBER_FIELDS = (
    "id",
    "name",
    "relation",
    "date_of_birth",
    "related_to",
    "child_kind",
    "tax_moderation",
    "relation_since",
    "partnership_registered_in",
    "partnership_registered_in_lu",
    "monthly_resources",
    "higher_education",
    "cns_authorisation",
    "lives_with",
    "maintained_by",
    "country_of_residence",
    "born_in_lu",
    "arrived_on",
    "rnpp_registered",
    "documents",
    "former_insurance",
    "insured_in_country_of_residence",
)
FORMER_INSURANCE_FIELDS = ("country", "basis", "fund_id", "foreign_number", "until")
FACT_FIELDS = ("kind", "member", "institution", "on", "s041", "approved")
S041_FIELDS = ("reply", "insured_until")
PARAMETERS_FIELDS = ("resources_threshold",)
AMOUNT_FIELDS = ("valid_from", "amount")

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_PIN = re.compile(r"^\d{13}$")
_INSTITUTION = re.compile(r"^[A-Z]{2}:[A-Za-z0-9]{4,10}$")

E = TypeVar("E", bound=Enum)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HouseholdFile:
    """Everything a household file holds."""

    household: Household
    #: Facts already learnt (documents, SEDs), for trying situations.
    facts: Facts = field(default_factory=Facts)
    #: Default decision date of the file (``--on`` overrides it).
    on: date | None = None
    #: Rule parameters (the defaults, with the file's overrides).
    parameters: RuleParameters = DEFAULT_PARAMETERS
    description: str = ""


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


#: Each enum's members by value, made when a household file first names one (a walk over the
#: members per choice was 1 % of an offline replay, which parses its households once, D342).
_MEMBERS: dict[type[Enum], dict[object, Enum]] = {}


class _Reader:
    """Reads one JSON object, remembering its pointer, refusing unknown keys."""

    def __init__(self, data: Any, pointer: str, source: str, fields: tuple[str, ...]) -> None:
        self.source = source
        self.pointer = pointer
        if not isinstance(data, dict):
            self.fail(pointer, f"expected an object, found {_kind(data)}", "write {...} here")
        self.data: dict[str, Any] = data
        for key in data:
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(fields)}"
                )
                self.fail(self.at(key), f"unknown key {key!r}", hint)

    def at(self, key: str | int) -> str:
        return f"{self.pointer}/{_escape(str(key))}"

    def fail(self, pointer: str, message: str, hint: str) -> NoReturn:
        raise ConfigError(
            message,
            where=f"{self.source}#{pointer or '/'}",
            hint=hint,
            code="config.household",
            details={"file": self.source, "pointer": pointer or "/"},
        )

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, required: bool) -> Any:
        if key not in self.data or self.data[key] is None:
            if required:
                self.fail(self.pointer, f"missing required key {key!r}", f'add "{key}": ...')
            return None
        return self.data[key]

    def text(
        self,
        key: str,
        *,
        required: bool = False,
        pattern: re.Pattern[str] | None = None,
        what: str = "",
    ) -> str | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(
                self.at(key),
                f"expected a non-empty string, found {_kind(value)}",
                f'write "{key}": "..."',
            )
        if pattern is not None and not pattern.match(value):
            self.fail(self.at(key), f"{value!r} is not {what}", f"write {what}")
        return value

    def req_text(self, key: str, **kw: Any) -> str:
        value = self.text(key, required=True, **kw)
        assert value is not None
        return value

    def country(self, key: str, *, default: str | None = None) -> str | None:
        value = self.text(key)
        if value is None:
            return default
        if not is_country_code(value):
            self.fail(
                self.at(key),
                f"{value!r} is not a country code",
                "use two upper-case letters in EESSI spelling: LU, BE, DE, FR, EL, UK",
            )
        return value

    def day(self, key: str, *, required: bool = False) -> date | None:
        value = self.raw(key, required)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(
            self.at(key), f"{value!r} is not a date", 'write an ISO date such as "2026-03-01"'
        )

    def req_day(self, key: str) -> date:
        value = self.day(key, required=True)
        assert value is not None
        return value

    def flag(self, key: str) -> bool:
        return bool(self.opt_flag(key))

    def opt_flag(self, key: str) -> bool | None:
        """``true``/``false``, or None when left out (the model derives it)."""
        value = self.raw(key, False)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.fail(
                self.at(key),
                f"expected true or false, found {_kind(value)}",
                f'write "{key}": true',
            )
        return bool(value)

    def amount(self, key: str, *, required: bool = False) -> Decimal | None:
        value = self.raw(key, required)
        if value is None:
            return None
        found: Decimal | None = None
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            found = Decimal(value)
        elif isinstance(value, str):
            try:
                found = Decimal(value)
            except InvalidOperation:
                found = None
        if found is None or not found.is_finite() or found < 0:
            self.fail(
                self.at(key),
                f"{value!r} is not an amount of euros >= 0",
                'write euros as a number or a string: 1234.56 or "1234.56"',
            )
        return found

    def choice(self, key: str, enum: type[E], *, default: E | None = None) -> E | None:
        value = self.raw(key, False)
        if value is None:
            return default
        if isinstance(value, str):  # every value of these enums is a string
            table = _MEMBERS.get(enum)
            if table is None:
                table = _MEMBERS[enum] = {member.value: member for member in enum}
            found = table.get(value)
            if found is not None:
                return cast(E, found)
        allowed = ", ".join(repr(m.value) for m in enum)
        return self.fail(
            self.at(key), f"{value!r} is not one of {allowed}", f"use one of {allowed}"
        )

    def req_choice(self, key: str, enum: type[E]) -> E:
        self.raw(key, True)
        value = self.choice(key, enum)
        assert value is not None
        return value

    def items(self, key: str) -> list[tuple[str, Any]]:
        value = self.raw(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(
                self.at(key), f"expected a list, found {_kind(value)}", f'write "{key}": [...]'
            )
        return [(f"{self.at(key)}/{i}", v) for i, v in enumerate(value)]

    def ids(self, key: str) -> tuple[str, ...]:
        out = []
        for pointer, v in self.items(key):
            if not isinstance(v, str) or not _ID.match(v):
                self.fail(pointer, f"{v!r} is not an id", "write the id of a main insured")
            out.append(v)
        return tuple(out)

    def obj(self, key: str, fields: tuple[str, ...]) -> _Reader | None:
        value = self.raw(key, False)
        if value is None:
            return None
        return _Reader(value, self.at(key), self.source, fields)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def loads_household(text: str, source: str = "<household>") -> HouseholdFile:
    """Parse the text of a household file; ``source`` names it in error messages."""
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not valid JSON: {exc.msg}",
            where=f"{source}:{exc.lineno}:{exc.colno}",
            hint="fix the JSON syntax (a missing comma or quote, a trailing comma...)",
            code="config.household",
            details={"file": source, "line": exc.lineno, "column": exc.colno},
        ) from None
    return parse_household(data, source)


def parse_household(data: Any, source: str = "<household>") -> HouseholdFile:
    """Build a :class:`HouseholdFile` from already-decoded JSON (a dict)."""
    top = _Reader(data, "", source, TOP_FIELDS)
    fmt = top.req_text("format")
    if fmt != FORMAT:
        top.fail(top.at("format"), f"unsupported format {fmt!r}", f'write "format": "{FORMAT}"')
    mains_raw = top.items("main_insured")
    if not 1 <= len(mains_raw) <= 2:
        top.fail(
            top.at("main_insured"),
            f"{len(mains_raw)} main insured persons",
            "give one or two main insured persons",
        )
    mains = [_main(_Reader(v, p, source, MAIN_INSURED_FIELDS)) for p, v in mains_raw]
    main_ids = {m.id for m in mains}
    seen: dict[str, str] = {}
    for (p, _), m in zip(mains_raw, mains, strict=True):
        _unique(top, seen, m.id, p)
    members = []
    for p, v in top.items("members"):
        r = _Reader(v, p, source, MEMBER_FIELDS)
        member = _guard(r, lambda r=r: _member(r, main_ids))  # type: ignore[misc]
        _unique(top, seen, member.id, p)
        members.append(member)
    household = _guard(
        top,
        lambda: Household(tuple(mains), tuple(members), top.text("id") or ""),
    )
    facts = Facts(
        tuple(_fact(_Reader(v, p, source, FACT_FIELDS), seen) for p, v in top.items("facts"))
    )
    params = DEFAULT_PARAMETERS
    pr = top.obj("parameters", PARAMETERS_FIELDS)
    if pr is not None and pr.has("resources_threshold"):
        params = params.with_(resources_threshold=_table(pr), label=f"{source} (parameters)")
    return HouseholdFile(household, facts, top.day("on"), params, top.text("description") or "")


def _unique(top: _Reader, seen: dict[str, str], ident: str, pointer: str) -> None:
    if ident in seen:
        top.fail(
            f"{pointer}/id",
            f"id {ident!r} is already used at {seen[ident]}",
            "give every main insured and member its own id",
        )
    seen[ident] = pointer


def _guard(reader: _Reader, build: Callable[[], T]) -> T:
    """Turn a model invariant error into a ConfigError pointing at the object."""
    try:
        return build()
    except ConfigError:
        raise
    except EessiError as exc:
        # Point at the last field the model names (``details["fields"]``) if the file has it.
        named = [f for f in exc.details.get("fields", ()) if reader.has(f)]
        pointer = reader.at(named[-1]) if named else reader.pointer
        reader.fail(pointer, exc.message, exc.hint or "fix this object")


def _main(r: _Reader) -> MainInsured:
    def build() -> MainInsured:
        return MainInsured(
            id=r.req_text("id", pattern=_ID, what="an id (letters, digits, _ . -)"),
            pin=r.req_text("pin", pattern=_PIN, what="a 13-digit Luxembourg matricule"),
            name=r.req_text("name"),
            date_of_birth=r.req_day("date_of_birth"),
            affiliated_since=r.req_day("affiliated_since"),
            kind=r.choice("kind", MainInsuredKind, default=MainInsuredKind.WORKER)
            or MainInsuredKind.WORKER,
            affiliation_end=r.day("affiliation_end"),
            exit_notice_received=r.flag("exit_notice_received"),
            country_of_residence=r.country("country_of_residence", default="LU") or "LU",
            belgian_mutual=r.text(
                "belgian_mutual", pattern=_INSTITUTION, what="an IR ID like BE:MUT0001"
            ),
        )

    return _guard(r, build)


def _member(r: _Reader, main_ids: set[str]) -> FamilyMember:
    relation = r.req_choice("relation", Relation)
    child_kind = r.choice("child_kind", ChildKind)
    if relation is Relation.CHILD and child_kind is None:
        r.fail(
            r.pointer,
            "a child needs a child_kind",
            'add "child_kind": legitimate, legitimated, natural, adopted or taken_in',
        )
    if relation is not Relation.CHILD and child_kind is not None:
        r.fail(
            r.at("child_kind"),
            f"child_kind given for a {relation.value}",
            'remove child_kind, or set "relation": "child"',
        )
    refs = {}
    for key in ("related_to", "lives_with", "maintained_by"):
        refs[key] = r.ids(key)
        for i, ref in enumerate(refs[key]):
            if ref not in main_ids:
                r.fail(
                    f"{r.at(key)}/{i}",
                    f"{ref!r} is not a main insured of this household",
                    f"use one of {', '.join(sorted(main_ids))}",
                )
    if relation is Relation.CHILD and not (refs["lives_with"] or refs["maintained_by"]):
        r.fail(
            r.pointer,
            "a child must live with or be maintained by a main insured (R10)",
            'add "lives_with": ["<main insured id>"] or "maintained_by": [...]',
        )
    if (
        relation in (Relation.SPOUSE, Relation.PARTNER)
        and len(main_ids) > 1
        and len(refs["related_to"]) != 1
    ):
        r.fail(
            r.pointer,
            f"with two main insured, a {relation.value} needs related_to",
            'add "related_to": ["<the main insured they are married/partnered to>"]',
        )
    documents = []
    for p, v in r.items("documents"):
        kind = next((k for k in DocumentKind if k.value == v), None)
        if kind is None:
            allowed = ", ".join(k.value for k in DocumentKind)
            r.fail(p, f"{v!r} is not a document kind", f"use one of {allowed}")
        documents.append(kind)
    former = None
    fr = r.obj("former_insurance", FORMER_INSURANCE_FIELDS)
    if fr is not None:
        country = fr.country("country")
        if country is None:
            fr.fail(fr.pointer, "missing required key 'country'", 'add "country": "DE"')
        former = FormerInsurance(
            country=country or "",
            basis=fr.choice("basis", InsuranceBasis, default=InsuranceBasis.PERSONAL)
            or InsuranceBasis.PERSONAL,
            fund_id=fr.text("fund_id", pattern=_INSTITUTION, what="an IR ID like DE:TKK00001"),
            foreign_number=fr.text("foreign_number"),
            until=fr.day("until"),
        )
    return FamilyMember(
        id=r.req_text("id", pattern=_ID, what="an id (letters, digits, _ . -)"),
        name=r.req_text("name"),
        relation=relation,
        date_of_birth=r.req_day("date_of_birth"),
        related_to=refs["related_to"],
        child_kind=child_kind,
        tax_moderation=r.flag("tax_moderation"),
        relation_since=r.day("relation_since"),
        partnership_registered_in=r.country("partnership_registered_in"),
        partnership_registered_in_lu=r.flag("partnership_registered_in_lu"),
        monthly_resources=r.amount("monthly_resources") or Decimal(0),
        higher_education=r.flag("higher_education"),
        cns_authorisation=r.flag("cns_authorisation"),
        lives_with=refs["lives_with"],
        maintained_by=refs["maintained_by"],
        country_of_residence=r.country("country_of_residence", default="LU") or "LU",
        born_in_lu=r.flag("born_in_lu"),
        arrived_on=r.day("arrived_on"),
        rnpp_registered=r.opt_flag("rnpp_registered"),
        documents=frozenset(documents),
        former_insurance=former,
        insured_in_country_of_residence=r.flag("insured_in_country_of_residence"),
    )


def _fact(r: _Reader, seen: Mapping[str, str]) -> Fact:
    kind = r.req_choice("kind", DocumentKind)
    member = r.text("member")
    if member is not None and member not in seen:
        r.fail(
            r.at("member"),
            f"{member!r} is not an id of this household",
            f"use one of {', '.join(seen)}, or leave member out for the whole household",
        )
    s041 = None
    sr = r.obj("s041", S041_FIELDS)
    if sr is not None:
        if kind is not DocumentKind.S041:
            r.fail(
                r.at("s041"), f"s041 content on a {kind.value} fact", "remove it or set kind S041"
            )
        s041 = S041Summary(sr.req_choice("reply", S041Reply), sr.day("insured_until"))
    approved = None
    if kind is DocumentKind.CNS_SERVICE_DECISION:
        if "approved" not in r.data or not isinstance(r.data["approved"], bool):
            r.fail(
                r.pointer,
                "a cns_service_decision fact needs approved: true or false",
                'add "approved": true',
            )
        approved = r.flag("approved")
    elif "approved" in r.data:
        r.fail(r.at("approved"), "approved is only for cns_service_decision facts", "remove it")
    return Fact(
        kind=kind,
        member=member,
        institution=r.text("institution", pattern=_INSTITUTION, what="an IR ID like DE:TKK00001"),
        on=r.day("on"),
        s041=s041,
        approved=approved,
    )


def _table(pr: _Reader) -> DatedAmounts:
    entries = []
    rows = pr.items("resources_threshold")
    if not rows:
        pr.fail(
            pr.at("resources_threshold"),
            "the threshold table is empty",
            'give at least one {"valid_from": ..., "amount": ...}',
        )
    for p, v in rows:
        er = _Reader(v, p, pr.source, AMOUNT_FIELDS)
        amount = er.amount("amount", required=True)
        assert amount is not None
        entries.append(DatedAmount(er.req_day("valid_from"), amount))
    return _guard(pr, lambda: DatedAmounts(tuple(entries)))


# --- writing ---------------------------------------------------------------------------------


def _d(day: date | None) -> str | None:
    return day.isoformat() if day else None


def household_to_dict(hf: HouseholdFile) -> dict[str, Any]:
    """The JSON form of ``hf`` (keys whose value is false, empty or null are left out)."""
    h = hf.household
    out: dict[str, Any] = {"format": FORMAT}
    if h.id:
        out["id"] = h.id
    if hf.description:
        out["description"] = hf.description
    if hf.on:
        out["on"] = hf.on.isoformat()
    out["main_insured"] = [
        _prune(
            {
                "id": p.id,
                "pin": p.pin,
                "name": p.name,
                "date_of_birth": _d(p.date_of_birth),
                "kind": p.kind.value,
                "affiliated_since": _d(p.affiliated_since),
                "affiliation_end": _d(p.affiliation_end),
                "exit_notice_received": p.exit_notice_received,
                "country_of_residence": p.country_of_residence,
                "belgian_mutual": p.belgian_mutual,
            }
        )
        for p in h.main_insured
    ]
    out["members"] = [_member_dict(m) for m in h.members]
    if len(hf.facts):
        out["facts"] = [_fact_dict(f) for f in hf.facts.items]
    if hf.parameters.resources_threshold != DEFAULT_PARAMETERS.resources_threshold:
        out["parameters"] = {"resources_threshold": hf.parameters.resources_threshold.to_list()}
    return out


def _member_dict(m: FamilyMember) -> dict[str, Any]:
    former = m.former_insurance
    return _prune(
        {
            "id": m.id,
            "name": m.name,
            "relation": m.relation.value,
            "date_of_birth": _d(m.date_of_birth),
            "related_to": list(m.related_to),
            "child_kind": m.child_kind.value if m.child_kind else None,
            "tax_moderation": m.tax_moderation,
            "relation_since": _d(m.relation_since),
            "partnership_registered_in": m.partnership_registered_in,
            "partnership_registered_in_lu": m.partnership_registered_in_lu,
            "monthly_resources": str(m.monthly_resources) if m.monthly_resources else None,
            "higher_education": m.higher_education,
            "cns_authorisation": m.cns_authorisation,
            "lives_with": list(m.lives_with),
            "maintained_by": list(m.maintained_by),
            "country_of_residence": m.country_of_residence,
            "born_in_lu": m.born_in_lu,
            "arrived_on": _d(m.arrived_on),
            "rnpp_registered": m.rnpp_registered,
            "documents": sorted(k.value for k in m.documents),
            "former_insurance": None
            if former is None
            else _prune(
                {
                    "country": former.country,
                    "basis": former.basis.value,
                    "fund_id": former.fund_id,
                    "foreign_number": former.foreign_number,
                    "until": _d(former.until),
                }
            ),
            "insured_in_country_of_residence": m.insured_in_country_of_residence,
        }
    )


def _fact_dict(f: Fact) -> dict[str, Any]:
    s041 = None
    if f.s041 is not None:
        s041 = _prune({"reply": f.s041.reply.value, "insured_until": _d(f.s041.insured_until)})
    return _prune(
        {
            "kind": f.kind.value,
            "member": f.member,
            "institution": f.institution,
            "on": _d(f.on),
            "s041": s041,
            "approved": f.approved,
        }
    )


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, False, [], "")}


def dumps_household(hf: HouseholdFile) -> str:
    """The file text for ``hf`` (2-space indented JSON, trailing newline)."""
    return json.dumps(household_to_dict(hf), indent=2, ensure_ascii=False) + "\n"
