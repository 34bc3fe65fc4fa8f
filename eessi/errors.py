"""The one exception hierarchy of eessi-sim.

Every error a user can meet says **what** went wrong, **where** (file, case, message, XPath,
line) and **what to do**. Third-party errors (lxml, xmlschema, aiohttp, sqlite) are translated
into these at the boundary of the module that calls them, so none leak to users.

The whole tree, every exception class of the package. A class defined in another module is
named by its module under ``eessi`` (``node.http_api.ApiError``); an underscored one is
internal control flow that never leaves its module. ``tests/test_errors.py`` imports every
module and checks that this drawing and the classes agree, parent by parent::

    EessiError
    ├── ConfigError                      a directory, household or scenario file is wrong
    ├── SedError                         a document cannot be accepted
    │   ├── XmlSyntaxError               empty, not XML, not well-formed
    │   ├── HostileXmlError              DTD, entities, too large, too deep
    │   ├── UnknownSedError              root element / namespace names no SED we know
    │   ├── UnsupportedVersionError      a SED version this side does not support
    │   ├── SchemaError                  a schema is missing or does not compile
    │   ├── SedInvalidError              the document breaks its schema (carries the issues)
    │   └── SedModelError                a model value breaks a rule of its field
    │       ├── sed.codec._Bad           internal: a leaf's text cannot be read
    │       └── sed.codec._Irregular     internal: the one-pass decoder hands over
    ├── DomainError                      the co-insurance core refuses a step
    │   ├── ProtocolError                an illegal step in a BUC / case (changes nothing)
    │   └── core.eligibility._Refused    internal: carries a refusal out of nested checks
    ├── TransportError                   moving a message between peers failed
    │   ├── PeerUnreachableError
    │   ├── MessageRefusedError          the peer answered with an error signal
    │   ├── EnvelopeError                an envelope is malformed, spoofed or oversized
    │   ├── transport.limits.BodyTimeout internal: the body did not arrive in time (a 408)
    │   ├── transport.poster.PostFailure an HTTP exchange broke (reset, cut short, not HTTP)
    │   │   └── transport.poster.ConnectFailure  the peer could not be reached
    │   └── transport.endpoint.Rejection internal: stop the checks, answer an error signal
    │       ├── transport.hmac_endpoint._Reject  the HMAC envelope's
    │       └── as4.transport._Refuse            the AS4 endpoint's
    ├── JournalError                     the durable store failed or is inconsistent
    ├── TraceError                       a trace file cannot be read or written
    └── AdminError                       an admin API (node or mock) refuses a request
        ├── node.http_api.ApiError             an admin request (node or mock), with its status
        └── node.admin_requests.RequestError   a request body it cannot take (JSON pointer)

Each error has a stable ``code`` (``"sed.unknown-type"``), a ``message``, an optional
``where`` and ``hint``, and ``details`` for machines; ``to_dict()`` gives the JSON form used by
``--json`` outputs and the admin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AdminError",
    "ConfigError",
    "DomainError",
    "EessiError",
    "EnvelopeError",
    "HostileXmlError",
    "JournalError",
    "MessageRefusedError",
    "PeerUnreachableError",
    "ProtocolError",
    "SchemaError",
    "SedError",
    "SedInvalidError",
    "SedModelError",
    "TraceError",
    "TransportError",
    "UnknownSedError",
    "UnsupportedVersionError",
    "XmlSyntaxError",
]


class EessiError(Exception):
    """Root of every error eessi-sim raises on purpose."""

    code: ClassVar[str] = "eessi.error"

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        if code is not None:
            self.code = code  # type: ignore[misc]
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        parts = [self.message]
        if self.where:
            parts.append(f"(at {self.where})")
        text = " ".join(parts)
        if self.hint:
            text += f"; {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.where is not None:
            out["where"] = self.where
        if self.hint is not None:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class ConfigError(EessiError):
    code = "config.invalid"


class SedError(EessiError):
    code = "sed.error"


class XmlSyntaxError(SedError):
    code = "sed.not-xml"


class HostileXmlError(SedError):
    code = "sed.hostile"


class UnknownSedError(SedError):
    code = "sed.unknown-type"


class UnsupportedVersionError(SedError):
    code = "sed.unsupported-version"


class SchemaError(SedError):
    code = "sed.schema"


class SedInvalidError(SedError):
    code = "sed.invalid"


class DomainError(EessiError):
    code = "domain.error"


class ProtocolError(DomainError):
    code = "protocol.illegal-step"


class TransportError(EessiError):
    code = "transport.error"


class PeerUnreachableError(TransportError):
    code = "transport.unreachable"


class MessageRefusedError(TransportError):
    code = "transport.refused"


class EnvelopeError(TransportError):
    code = "transport.envelope"


class JournalError(EessiError):
    code = "journal.error"


class SedModelError(SedError):
    """A SED model value breaks a rule of its field (length, code, pattern, cross-field)."""

    code = "sed.model"


class TraceError(EessiError):
    """A trace file cannot be read (truncated, corrupted, another format) or written."""

    code = "trace.invalid"


class AdminError(EessiError):
    """An admin API (node or mock) refuses a request; the subclasses carry the HTTP status."""

    code = "admin.error"
