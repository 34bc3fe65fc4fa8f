"""What a mock fund sends instead of its desk's answer: changed, refused, broken documents.

Each function takes the desk's answer (a SED document value, or its bytes) and returns the
document or bytes the behaviour asks for. Documents are rebuilt through the SED model, so an
overridden or refused answer is still schema-valid; only :func:`malformed` and
:func:`relabel_version` (for versions nobody supports) work on raw bytes, on purpose.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, Final

from lxml import etree

from eessi.errors import ConfigError, EessiError
from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS
from eessi.sed.documents import (
    DOCUMENTS,
    S041,
    S072,
    S073,
    X001,
    X011,
    ClosureReason,
    Document,
    NotConfirmed,
    NotConfirmedReason,
    RejectionReason,
    S041Reply,
    SedReference,
)

__all__ = [
    "NOT_XML",
    "answer_types",
    "check_overrides",
    "closure",
    "malformed",
    "overridable",
    "override",
    "refused_answer",
    "rejection",
    "relabel_version",
    "with_version",
]

#: The bytes of a "not-xml" answer.
NOT_XML: Final = b"%PDF-1.4\n% mock fund: this is not an XML document\n"


def override(doc: Document, overrides: Mapping[str, Any]) -> Document:
    """``doc`` with top-level fields replaced (``{"reply": "03"}``), values converted to the
    field's type (code lists from their code, dates from ISO text, booleans, numbers, text)."""
    if not overrides:
        return doc
    hints = typing.get_type_hints(type(doc))
    names = {f.name for f in dataclasses.fields(doc)}
    changes: dict[str, Any] = {}
    for name, raw in overrides.items():
        if name not in names:
            raise ConfigError(
                f"{doc.code} has no field {name!r}",
                code="mock.bad-override",
                where=f"overrides.{name}",
                hint=f"fields of {doc.code}: {', '.join(sorted(names - {'version'}))}",
            )
        changes[name] = _convert(hints[name], raw, f"{doc.code}.{name}")
    try:
        return dataclasses.replace(doc, **changes)
    except EessiError as exc:
        raise ConfigError(
            f"the overrides make an invalid {doc.code}: {exc.message}",
            code="mock.bad-override",
            where="overrides",
            hint=exc.hint or "check the values against the SED's code lists",
        ) from None


def answer_types(sed: str | None) -> tuple[str, ...]:
    """The SED types a fund may send when reacting to ``sed`` (a rule's ``match.sed``): the
    ones that answer it in the catalogue, and ``sed`` itself (a SED the fund sends on its own
    is matched by its own type). ``None``: any SED type."""
    if sed is None:
        return tuple(DOCUMENTS)
    answers = [code for code, kind in SEDS.items() if sed in kind.answers]
    return tuple(code for code in (sed, *answers) if code in DOCUMENTS)


def overridable(code: str) -> dict[str, Any]:
    """The top-level fields of SED ``code`` an override can set (text, codes, dates, numbers,
    yes/no; ``version`` is the node's to choose), with their types."""
    cls = DOCUMENTS[code]
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name]
        for f in dataclasses.fields(cls)
        if f.name != "version" and _settable(hints[f.name])
    }


def _options(hint: Any) -> tuple[Any, ...]:
    return typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)


def _settable(hint: Any) -> bool:
    return all(
        option is type(None)
        or option in (bool, int, str, _dt.date)
        or (isinstance(option, type) and issubclass(option, Enum))
        for option in _options(hint)
    )


def _allowed(hint: Any) -> list[str]:
    """What a field of type ``hint`` takes, as a list (codes, or the kind of value)."""
    out: list[str] = []
    for option in _options(hint):
        if option is type(None):
            out.append("null")
        elif isinstance(option, type) and issubclass(option, Enum):
            out.extend(str(m.value) for m in option)
        else:
            out.append(
                {bool: "true or false", int: "a whole number", str: "text"}.get(
                    option, "a date YYYY-MM-DD"
                )
            )
    return out


def check_overrides(overrides: Mapping[str, Any], sed: str | None, *, where: str) -> None:
    """Check the overrides of a rule matching ``sed`` when the rule is made, not when it is
    applied: each field must be one an override can set in a SED the fund may send then
    (:func:`answer_types`), and its value must fit the field in each of them. Raises
    :class:`~eessi.errors.ConfigError` (``mock.bad-override``) naming the field (``where``,
    ``details.key``) and what is allowed (``hint``, ``details.allowed``)."""
    codes = answer_types(sed)
    fields = {code: overridable(code) for code in codes}
    reacting = f"the answers to {sed} ({', '.join(codes)})" if sed else "any SED"
    for name, raw in overrides.items():
        key = f"effect.overrides.{name}"
        having = {code: f[name] for code, f in fields.items() if name in f}
        if not having:
            allowed = sorted({n for f in fields.values() for n in f})
            raise ConfigError(
                f"{reacting}: no field {name!r} an override can set",
                code="mock.bad-override",
                where=f"{where}, key {key!r}",
                hint=f"fields: {', '.join(allowed)}",
                details={"key": key, "field": name, "allowed": allowed},
            )
        for code, hint in having.items():
            try:
                _convert(hint, raw, f"{code}.{name}")
            except ConfigError:
                allowed = _allowed(hint)
                raise ConfigError(
                    f"{raw!r} is not a value of {code}.{name}",
                    code="mock.bad-override",
                    where=f"{where}, key {key!r}",
                    hint=f"{code}.{name} takes: {', '.join(allowed)}",
                    details={"key": key, "field": name, "sed": code, "allowed": allowed},
                ) from None


def _convert(hint: Any, raw: Any, where: str) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if raw is None and type(None) in options:
        return None
    for option in options:
        if isinstance(option, type) and issubclass(option, Enum):
            try:
                return option(raw)
            except ValueError:
                codes = ", ".join(str(m.value) for m in option)
                raise ConfigError(
                    f"{raw!r} is not a code of {where}",
                    code="mock.bad-override",
                    where=where,
                    hint=f"use one of: {codes}",
                ) from None
        if option is bool and isinstance(raw, bool):
            return raw
        if option is int and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if option is _dt.date and isinstance(raw, str):
            try:
                return _dt.date.fromisoformat(raw)
            except ValueError:
                break
        if option is str and isinstance(raw, str):
            return raw
    raise ConfigError(
        f"cannot set {where} to {raw!r}",
        code="mock.bad-override",
        where=where,
        hint="only text, code, date, number and yes/no fields can be overridden",
    )


def refused_answer(doc: Document, code: str) -> Document | None:
    """The refusal form of an answer, or ``None`` if this SED has none.

    S041: reply ``code`` (``01`` no periods, ``03`` cannot confirm) without periods; S072: not
    confirmed with reason ``code``; S073: registration not confirmed.
    """
    try:
        if isinstance(doc, S041):
            return dataclasses.replace(
                doc,
                reply=S041Reply(code),
                insurance_periods=(),
                employment_periods=(),
                self_employment_periods=(),
                residence_periods=(),
            )
        if isinstance(doc, S072):
            return dataclasses.replace(
                doc,
                confirmed=False,
                period=None,
                not_confirmed=NotConfirmed(
                    reason=NotConfirmedReason(code), details="refused by the mock fund"
                ),
            )
        if isinstance(doc, S073):
            return dataclasses.replace(doc, registered=False, registration_date=None)
    except ValueError:
        raise ConfigError(
            f"{code!r} is not a refusal code of {doc.code}",
            code="mock.bad-override",
            where="effect.code",
            hint="S041: 01 or 03; S072: 01, 02, 03, 04, 99",
        ) from None
    return None


def rejection(
    version: str, sed_type: str, sed_id: str, reason: str, *, text: str | None = None
) -> X011:
    """An X011 rejecting document ``sed_id`` (of ``sed_type``) with reason code ``reason``."""
    try:
        why = RejectionReason(reason)
    except ValueError:
        raise ConfigError(
            f"{reason!r} is not an X011 rejection reason",
            code="mock.bad-override",
            where="effect.x011",
            hint=", ".join(r.value for r in RejectionReason),
        ) from None
    return X011(
        version=version,
        rejected=SedReference(sed_type=sed_type, sed_id=sed_id),
        reason=why,
        additional_information=text or "rejected by the mock fund",
    )


def closure(version: str) -> X001:
    """An X001 closing the case (business completed)."""
    return X001(version=version, reason=ClosureReason.BUSINESS_COMPLETED)


def with_version(doc: Document, version: str) -> bytes:
    """``doc`` encoded in another supported version, or relabelled bytes for any other."""
    if version in SUPPORTED_VERSIONS:
        return dataclasses.replace(doc, version=version).to_xml()
    return relabel_version(doc.to_xml(), version)


def relabel_version(payload: bytes, version: str) -> bytes:
    """The payload with its root namespace naming ``version`` (``.../ns/3_9/S041``)."""
    major, _, minor = version.partition(".")
    return payload.replace(b"/eessi/ns/4_4/", f"/eessi/ns/{major}_{minor}/".encode()).replace(
        b"/eessi/ns/4_3/", f"/eessi/ns/{major}_{minor}/".encode()
    )


def malformed(payload: bytes, kind: str) -> bytes:
    """Broken bytes: ``truncated`` (cut in the middle), ``not-xml``, or ``schema-invalid``
    (well-formed, with an element the schema does not allow as the root's first child)."""
    if kind == "truncated":
        return payload[: max(1, len(payload) // 2)]
    if kind == "not-xml":
        return NOT_XML
    if kind == "schema-invalid":
        root = etree.fromstring(payload)
        intruder = etree.Element("unexpectedElement")
        intruder.text = "inserted by the mock fund"
        root.insert(0, intruder)
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    raise ConfigError(
        f"unknown malformed kind {kind!r}",
        code="mock.bad-rule",
        hint="truncated, not-xml or schema-invalid",
    )
