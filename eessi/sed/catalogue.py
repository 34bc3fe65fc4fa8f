"""The SED catalogue: which documents exist, in which versions and BUCs, and how they relate.

Everything here is **data**. Code elsewhere asks the catalogue ("may X011 reject an S073?",
"what answers an S040?") instead of branching on SED codes, so adding a SED or a version is a
change to this table (and to ``schemas/``), not to the logic.

Sources: ``shared/domain.md`` ("EESSI in brief"). Where the public material is silent (which
horizontal actions apply to which SED), the flags are our choice and are listed in
``schemas/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BUCS",
    "CURRENT_VERSION",
    "SEDS",
    "SUPPORTED_VERSIONS",
    "Buc",
    "Role",
    "SedType",
    "buc",
    "namespace",
    "parse_namespace",
    "sed_type",
]

#: Versions this project has schemas for, oldest first.
SUPPORTED_VERSIONS: tuple[str, ...] = ("4.3", "4.4")
#: The version we produce unless told otherwise.
CURRENT_VERSION = "4.4"

_NS_PREFIX = "http://ec.europa.eu/eessi/ns/"
_NS_RE = re.compile(r"^http://ec\.europa\.eu/eessi/ns/(\d+)_(\d+)/([A-Z]\d{3}[A-Z]?)$")


class Role(Enum):
    """The two sides of every (bilateral) S-sector BUC."""

    #: Case owner: the institution that starts the case with the BUC's first SED.
    CASE_OWNER = "PO"
    #: Counterparty: the institution that receives the first SED and answers it.
    COUNTERPARTY = "CP"


@dataclass(frozen=True, slots=True)
class SedType:
    """One SED type and the rules that apply to it."""

    #: The SED code, also the XML root element name: ``"S071"``.
    code: str
    #: Human title.
    title: str
    #: BUCs in which this SED can travel (empty for horizontal SEDs: they go in any BUC).
    bucs: tuple[str, ...]
    #: SED types this one answers (its ``answers`` link in the case).
    answers: tuple[str, ...] = ()
    #: Horizontal SEDs (X...) can be used in every case.
    horizontal: bool = False
    #: May be rejected by the receiver with X011.
    has_reject: bool = False
    #: May be the subject of a clarification request X012.
    has_clarify: bool = False
    #: May be invalidated by its sender with X008.
    can_invalidate: bool = False
    #: May be re-sent in a new version (an updated document replacing the previous one).
    can_new_version: bool = False
    #: Versions in which this SED exists.
    versions: tuple[str, ...] = SUPPORTED_VERSIONS


@dataclass(frozen=True, slots=True)
class Buc:
    """A Business Use Case: the starter SED, who sends it, and what answers it."""

    #: ``"S_BUC_01"``.
    name: str
    #: BUC version as carried in the document header.
    version: str
    title: str
    #: The SED that opens a case of this BUC (sent by the case owner).
    starter: str
    #: The SEDs of the main flow, in order, starting with ``starter``.
    flow: tuple[str, ...]
    #: Who is the case owner in the domain (which kind of institution starts it).
    owner_is: str


SEDS: dict[str, SedType] = {
    s.code: s
    for s in (
        SedType(
            "S040",
            "Request for insurance periods (sickness, maternity, paternity)",
            bucs=("S_BUC_24",),
            has_reject=True,
            has_clarify=True,
            can_invalidate=True,
        ),
        SedType(
            "S041",
            "Reply on insurance periods (formerly E104)",
            bucs=("S_BUC_24",),
            answers=("S040",),
            has_reject=True,
            has_clarify=True,
            can_invalidate=True,
            can_new_version=True,
        ),
        SedType(
            "S071",
            "Request for an entitlement document for residence",
            bucs=("S_BUC_01",),
            has_reject=True,
            has_clarify=True,
            can_invalidate=True,
        ),
        SedType(
            "S072",
            "Entitlement document - residence (the electronic S1)",
            bucs=("S_BUC_01", "S_BUC_01A"),
            answers=("S071",),
            has_reject=True,
            has_clarify=True,
            can_invalidate=True,
            can_new_version=True,
        ),
        SedType(
            "S073",
            "Notification of registration by the residence institution",
            bucs=("S_BUC_01", "S_BUC_01A"),
            answers=("S072",),
            has_reject=True,
            has_clarify=True,
            can_invalidate=True,
        ),
        SedType("X001", "Request for closure of the case", bucs=(), horizontal=True),
        SedType("X008", "Invalidate a sent SED", bucs=(), horizontal=True),
        SedType("X009", "Reminder", bucs=(), horizontal=True, has_reject=True),
        SedType("X010", "Reply to a reminder", bucs=(), answers=("X009",), horizontal=True),
        SedType("X011", "Rejection of a received SED", bucs=(), horizontal=True),
        SedType("X012", "Request for clarification", bucs=(), horizontal=True),
        SedType(
            "X013",
            "Answer to a request for clarification",
            bucs=(),
            answers=("X012",),
            horizontal=True,
        ),
        SedType("X050", "Business exception", bucs=(), horizontal=True),
    )
}

BUCS: dict[str, Buc] = {
    b.name: b
    for b in (
        Buc(
            "S_BUC_01",
            "v4.2",
            "Request for an entitlement document (residence institution asks the competent one)",
            starter="S071",
            flow=("S071", "S072", "S073"),
            owner_is="institution of the place of residence",
        ),
        Buc(
            "S_BUC_01A",
            "v4.2",
            "Entitlement document sent unasked by the competent institution",
            starter="S072",
            flow=("S072", "S073"),
            owner_is="competent institution",
        ),
        Buc(
            "S_BUC_24",
            "v4.2",
            "Request for insurance periods",
            starter="S040",
            flow=("S040", "S041"),
            owner_is="institution that needs the periods",
        ),
    )
}


def sed_type(code: str) -> SedType:
    """The catalogue entry for ``code``; raises :class:`UnknownSedError` if there is none."""
    try:
        return SEDS[code]
    except KeyError:
        from eessi.errors import UnknownSedError

        raise UnknownSedError(
            f"unknown SED type {code!r}",
            hint=f"known types: {', '.join(sorted(SEDS))}",
            details={"sed": code},
        ) from None


def buc(name: str) -> Buc:
    """The catalogue entry for BUC ``name``; raises :class:`UnknownSedError` if there is none."""
    try:
        return BUCS[name]
    except KeyError:
        from eessi.errors import UnknownSedError

        raise UnknownSedError(
            f"unknown BUC {name!r}",
            code="sed.unknown-buc",
            hint=f"known BUCs: {', '.join(sorted(BUCS))}",
            details={"buc": name},
        ) from None


def namespace(code: str, version: str = CURRENT_VERSION) -> str:
    """The XML namespace of SED ``code`` in ``version``: ``.../ns/4_4/S071``."""
    major, minor = version.split(".")
    return f"{_NS_PREFIX}{major}_{minor}/{code}"


def parse_namespace(ns: str) -> tuple[str, str] | None:
    """``(code, version)`` for an EESSI SED namespace, or ``None`` if it is not one.

    The code and version are returned even if the catalogue does not know them; the caller
    decides whether that is an unknown SED or an unsupported version.
    """
    m = _NS_RE.match(ns)
    if m is None:
        return None
    return m.group(3), f"{m.group(1)}.{m.group(2)}"
