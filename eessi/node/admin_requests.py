"""The requests an operator can start through the admin API, as data.

``POST /api/requests`` takes a JSON object naming a ``kind`` and its arguments. Each kind is a
:class:`RequestKind`: which desk accepts it (the CNS or a foreign fund), its fields with their
types and allowed values, and how to turn a checked body into the core input the node submits.
Kinds are data so that the body checks, the error messages and the OpenAPI description all come
from the same table and cannot drift apart.

Every refusal is a :class:`RequestError` that says what is wrong, where (a JSON pointer into the
body: ``/member``, or ``""`` for the whole body) and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from eessi.core.facts import DocumentKind
from eessi.core.messages import (
    Channel,
    CoInsuranceRequested,
    DocumentProvided,
    IssueEntitlement,
    ServiceDecision,
    WithdrawEntitlement,
)
from eessi.errors import AdminError, DomainError
from eessi.node.inputs import (
    CloseCase,
    InvalidateDocument,
    RegisterEntitlement,
    RejectDocument,
    RequestClarification,
    RequestEntitlement,
)
from eessi.sed.documents import RejectionReason

__all__ = [
    "REQUEST_KINDS",
    "DeskKind",
    "Field",
    "RequestError",
    "RequestKind",
    "kinds_for",
    "parse_request",
]

#: Which desk a request kind is for: the CNS's or a foreign fund's.
DeskKind = Literal["cns", "fund"]
FieldType = Literal["string", "boolean", "date"]


class RequestError(AdminError):
    """A request body the admin API cannot accept; ``where`` is a JSON pointer into the body."""

    code = "admin.bad-request"


@dataclass(frozen=True, slots=True)
class Field:
    """One argument of a request kind."""

    name: str
    type: FieldType
    description: str
    required: bool = True
    #: Allowed values (strings), if the field is an enumeration.
    choices: tuple[str, ...] = ()
    #: The value used when the field is absent (only for optional fields).
    default: str | bool | None = None


@dataclass(frozen=True, slots=True)
class RequestKind:
    """A request an operator may start, for one kind of desk."""

    name: str
    desk: DeskKind
    summary: str
    fields: tuple[Field, ...]
    #: Builds the core input from the checked arguments (defaults filled in).
    build: Callable[[Mapping[str, Any]], object]


_PIN = Field(
    "main_insured_pin",
    "string",
    "Luxembourg PIN (13-digit matricule) of the main insured who asks",
)
_MEMBER = Field("member", "string", "the family member's id in the household file")
_DOCUMENTS = tuple(
    k.value
    for k in DocumentKind
    if k
    not in (
        DocumentKind.S041,
        DocumentKind.S071,
        DocumentKind.S072,
        DocumentKind.S073,
        DocumentKind.CNS_SERVICE_DECISION,
    )
)


def _co_insurance(args: Mapping[str, Any]) -> object:
    return CoInsuranceRequested(args["main_insured_pin"], args["member"], Channel(args["channel"]))


def _document(args: Mapping[str, Any]) -> object:
    return DocumentProvided(
        args["main_insured_pin"], args["member"], DocumentKind(args["document"])
    )


def _decision(args: Mapping[str, Any]) -> object:
    return ServiceDecision(
        args["main_insured_pin"], args["member"], args["approved"], DocumentKind(args["document"])
    )


def _withdraw(args: Mapping[str, Any]) -> object:
    return WithdrawEntitlement(args["case_id"], args["reason"])


def _issue(args: Mapping[str, Any]) -> object:
    household, sep, person = str(args["person"]).partition("/")
    if not sep or not household or not person or "/" in person:
        raise RequestError(
            f"issue_entitlement: 'person' must be household/id, not {args['person']!r}",
            where="/person",
            hint="give the household key and the main insured's or member's id: martin/luc",
        )
    return IssueEntitlement(household, person, args["to"])


#: Every request kind, by name. The CNS's build the core's own inputs; a fund's build the
#: node's fund commands (:mod:`eessi.node.inputs`).
REQUEST_KINDS: dict[str, RequestKind] = {
    k.name: k
    for k in (
        RequestKind(
            "co_insurance_request",
            "cns",
            "The main insured asks the CNS to co-insure a family member (R3, R4, R5, R18).",
            (
                _PIN,
                _MEMBER,
                Field(
                    "channel",
                    "string",
                    "how the request reached the CNS",
                    required=False,
                    choices=tuple(c.value for c in Channel),
                    default=Channel.FORM.value,
                ),
            ),
            _co_insurance,
        ),
        RequestKind(
            "document_provided",
            "cns",
            "A document arrived outside EESSI (civil-status certificates, BL1/BL6, declaration"
            " on honour, former fund details...).",
            (
                _PIN,
                _MEMBER,
                Field("document", "string", "which document arrived", choices=_DOCUMENTS),
            ),
            _document,
        ),
        RequestKind(
            "issue_entitlement",
            "cns",
            "The CNS sends the S072 unasked (S_BUC_01A) to the fund of the person's country of"
            " residence: for a cross-border worker, or for an eligible family member (R13);"
            " one S072 per person.",
            (
                Field(
                    "person",
                    "string",
                    "household/id: the main insured's id (the cross-border worker himself) or"
                    " a family member's id in the household file",
                ),
                Field(
                    "to",
                    "string",
                    "IR ID of the fund of residence (default: the CNS's configured fund for"
                    " the country of residence)",
                    required=False,
                ),
            ),
            _issue,
        ),
        RequestKind(
            "service_decision",
            "cns",
            "The CNS Service Coassurance et signalétique decided (R18; R11 authorisation).",
            (
                _PIN,
                _MEMBER,
                Field("approved", "boolean", "whether the service approved"),
                Field(
                    "document",
                    "string",
                    "a service decision (R18) or an authorisation (R11, approved only)",
                    required=False,
                    choices=(
                        DocumentKind.CNS_SERVICE_DECISION.value,
                        DocumentKind.CNS_AUTHORISATION.value,
                    ),
                    default=DocumentKind.CNS_SERVICE_DECISION.value,
                ),
            ),
            _decision,
        ),
        RequestKind(
            "withdraw_entitlement",
            "cns",
            "The CNS invalidates (X008) the S072 it sent in a case.",
            (
                Field("case_id", "string", "the S_BUC_01 case whose S072 is withdrawn"),
                Field(
                    "reason",
                    "string",
                    "free text for the X008",
                    required=False,
                    default="entitlement document withdrawn by the CNS",
                ),
            ),
            _withdraw,
        ),
    )
}


def _fund_kinds() -> tuple[RequestKind, ...]:
    case = Field("case_id", "string", "the case (conversation) ID")

    def sed(default: str | None, what: str) -> Field:
        if default is None:
            return Field("sed", "string", what)
        return Field("sed", "string", what, required=False, default=default)

    return (
        RequestKind(
            "request_entitlement",
            "fund",
            "Open an S_BUC_01 case asking the CNS for the S072 (entitlement document) of a"
            " person the fund knows (R17).",
            (
                Field(
                    "person",
                    "string",
                    "the fund's key for the person: household/member (GET /api/records)",
                ),
                Field(
                    "to",
                    "string",
                    "IR ID of the institution asked (default: the directory's CNS)",
                    required=False,
                ),
                Field(
                    "start",
                    "date",
                    "start of the requested period (default: today)",
                    required=False,
                ),
            ),
            lambda a: RequestEntitlement(a["person"], a["to"], a["start"]),
        ),
        RequestKind(
            "register_entitlement",
            "fund",
            "Send the S073 for the confirmed S072 of a case (when not automatic).",
            (case,),
            lambda a: RegisterEntitlement(a["case_id"]),
        ),
        RequestKind(
            "invalidate_document",
            "fund",
            "Invalidate (X008) one of our documents in a case.",
            (case, sed(None, "the SED type of our document, e.g. S071 or S073")),
            lambda a: InvalidateDocument(a["case_id"], a["sed"]),
        ),
        RequestKind(
            "reject_document",
            "fund",
            "Reject (X011) the peer's document in a case.",
            (
                case,
                sed("S072", "the SED type of the peer's document"),
                Field(
                    "reason",
                    "string",
                    "the X011 reason code: 01 not competent, 02 wrong case, 03 person unknown,"
                    " 04 content incorrect, 05 duplicate, 99 other",
                    required=False,
                    choices=tuple(r.value for r in RejectionReason),
                    default=RejectionReason.CONTENT_INCORRECT.value,
                ),
            ),
            lambda a: RejectDocument(a["case_id"], a["sed"], RejectionReason(a["reason"])),
        ),
        RequestKind(
            "request_clarification",
            "fund",
            "Ask (X012) about the peer's document in a case.",
            (
                case,
                sed("S072", "the SED type of the peer's document"),
                Field(
                    "question",
                    "string",
                    "the question",
                    required=False,
                    default="Please confirm.",
                ),
            ),
            lambda a: RequestClarification(a["case_id"], a["sed"], a["question"]),
        ),
        RequestKind(
            "close_case",
            "fund",
            "Close a case (X001).",
            (case,),
            lambda a: CloseCase(a["case_id"]),
        ),
    )


REQUEST_KINDS.update((k.name, k) for k in _fund_kinds())


def kinds_for(desk: DeskKind, kinds: Mapping[str, RequestKind] | None = None) -> list[str]:
    """Names of the request kinds a desk of this kind accepts, sorted."""
    table = REQUEST_KINDS if kinds is None else kinds
    return sorted(name for name, k in table.items() if k.desk == desk)


_JSON_TYPE = {"string": str, "boolean": bool, "date": str}


def parse_request(
    body: object, desk: DeskKind, kinds: Mapping[str, RequestKind] | None = None
) -> tuple[RequestKind, object]:
    """Check a decoded JSON body and build the core input it asks for.

    Raises :class:`RequestError` naming the JSON pointer of the first problem found.
    """
    table = REQUEST_KINDS if kinds is None else kinds
    accepted = kinds_for(desk, table)
    if not isinstance(body, dict):
        raise RequestError(
            f"the request body must be a JSON object, not {_json_name(body)}",
            where="",
            hint='send {"kind": "...", ...arguments}; kinds here: ' + ", ".join(accepted),
        )
    if "kind" not in body:
        raise RequestError(
            "the request body has no 'kind'",
            where="/kind",
            hint="name the request: one of " + ", ".join(accepted),
        )
    name = body["kind"]
    kind = table.get(name) if isinstance(name, str) else None
    if kind is None:
        raise RequestError(
            f"unknown request kind {name!r}",
            where="/kind",
            hint="use one of " + ", ".join(accepted),
            details={"accepted": accepted},
        )
    if kind.desk != desk:
        owner = "the CNS" if kind.desk == "cns" else "a foreign fund"
        here = "the CNS" if desk == "cns" else "a foreign fund"
        raise RequestError(
            f"request kind {name!r} is for {owner}; this institution is {here}",
            where="/kind",
            hint="send it to the admin API of " + owner + "; kinds here: " + ", ".join(accepted),
            code="admin.wrong-desk",
        )
    known = {f.name for f in kind.fields}
    for key in body:
        if key != "kind" and key not in known:
            raise RequestError(
                f"{name} has no argument {key!r}",
                where=_pointer(key),
                hint=f"{name} takes: " + ", ".join(f.name for f in kind.fields),
            )
    args: dict[str, Any] = {}
    for f in kind.fields:
        if f.name not in body:
            if f.required:
                raise RequestError(
                    f"{name} needs {f.name!r} ({f.description})",
                    where=_pointer(f.name),
                    hint=_expect(f),
                )
            args[f.name] = f.default
            continue
        args[f.name] = _check(name, f, body[f.name])
    try:
        return kind, kind.build(args)
    except DomainError as exc:
        raise RequestError(
            f"{name} cannot be made from these arguments: {exc.message}",
            where="",
            hint=exc.hint or "correct the arguments named in the message",
        ) from None
    except ValueError as exc:
        raise RequestError(
            f"{name} cannot be made from these arguments: {exc}",
            where="",
            hint="correct the arguments named in the message",
        ) from None


def _check(kind: str, f: Field, value: object) -> object:
    if not isinstance(value, _JSON_TYPE[f.type]) or (f.type == "string" and not value):
        raise RequestError(
            f"{kind}: {f.name!r} must be {_article(f)}, not {_json_name(value)}",
            where=_pointer(f.name),
            hint=_expect(f),
        )
    if f.choices and value not in f.choices:
        raise RequestError(
            f"{kind}: {f.name!r} cannot be {value!r}",
            where=_pointer(f.name),
            hint=_expect(f),
            details={"accepted": list(f.choices)},
        )
    if f.type == "date":
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise RequestError(
                f"{kind}: {f.name!r} is not a date: {value!r}",
                where=_pointer(f.name),
                hint=_expect(f),
            ) from None
    return value


def _article(f: Field) -> str:
    return {
        "string": "a non-empty string",
        "boolean": "true or false",
        "date": "a date (YYYY-MM-DD)",
    }[f.type]


def _expect(f: Field) -> str:
    text = f"give {f.name!r} as {_article(f)}"
    if f.choices:
        text += ": one of " + ", ".join(f.choices)
    return text


def _json_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _pointer(key: str) -> str:
    """A JSON pointer (RFC 6901) to a top-level key."""
    return "/" + key.replace("~", "~0").replace("/", "~1")
