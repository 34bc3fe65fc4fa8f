"""The OpenAPI 3.1 description of the admin API, served at ``GET /api/openapi.json``.

Written by hand (there are few routes) as plain data, so it has no dependency and can be read
in one place. The request bodies of ``POST /api/requests`` are generated from the request-kind
table (:data:`eessi.node.admin_requests.REQUEST_KINDS`), so the body checks and their
description come from one source. ``tests/node/test_admin_openapi.py`` checks that every route
of the API is described here and every path described here is a route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web

from eessi import __version__
from eessi.directory import InstitutionEntry
from eessi.journal import Direction, MessageStatus
from eessi.node.admin_requests import REQUEST_KINDS, Field, RequestKind
from eessi.node.clock_openapi import clock_paths, clock_schemas
from eessi.node.http_api import MAX_DEPTH

#: Most requests in one batch (``POST /api/requests/batch``; the admin API enforces it).
MAX_BATCH = 1000

__all__ = [
    "MAX_BATCH",
    "OPENAPI_EXTENSIONS",
    "OPENAPI_VERSION",
    "add_openapi_paths",
    "openapi_document",
]

OPENAPI_VERSION = "3.1.0"

#: Where other route sets mounted under ``/api/`` (e.g. a mock fund's ``/api/mock/``) leave their
#: OpenAPI paths and schemas, on the node's application; merged into ``/api/openapi.json``.
OPENAPI_EXTENSIONS: web.AppKey[list[Mapping[str, Any]]] = web.AppKey(
    "eessi_openapi_extensions", list
)


def add_openapi_paths(
    app: web.Application,
    paths: Mapping[str, Any],
    schemas: Mapping[str, Any] | None = None,
) -> None:
    """Describe routes another module mounts under ``/api/`` of ``app`` (before it starts).

    ``paths`` are OpenAPI path items keyed by full path (``"/api/mock/rules"``); ``schemas``
    are added to ``components/schemas`` (refer to them as ``#/components/schemas/<name>``).
    ``GET /api/openapi.json`` then describes them with the admin API's own routes.
    """
    if OPENAPI_EXTENSIONS not in app:
        app[OPENAPI_EXTENSIONS] = []
    app[OPENAPI_EXTENSIONS].append({"paths": dict(paths), "schemas": dict(schemas or {})})


_CASE_STATES = [
    "new",
    "awaiting-reply",
    "awaiting-confirmation",
    "completed",
    "rejected",
    "withdrawn",
    "closed",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": _json_content(schema)}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


def _param(
    name: str, where: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": required or where == "path",
        "schema": schema,
    }


_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": "integer", "minimum": 0}

_LIMIT = _param(
    "limit", "query", "page size (default 100)", {"type": "integer", "minimum": 1, "maximum": 1000}
)
_AFTER = _param("after", "query", "the 'next' cursor of the previous page", _STR)
_SINCE = _param("since", "query", "only items at or after this date-time (with offset)", {**_TIME})
_MESSAGE_ID = _param("message_id", "path", "the envelope's MessageId", _STR)
_DIRECTION = _param(
    "direction",
    "query",
    "in or out (a MessageId is unique per direction)",
    {"type": "string", "enum": [d.value for d in Direction]},
)
_COMMON_ERRORS = {"401": _error("Unauthorized"), "400": _error("BadRequest")}


def _schemas() -> dict[str, Any]:
    message_props: dict[str, Any] = {
        "message_id": _STR,
        "direction": {"type": "string", "enum": [d.value for d in Direction]},
        "status": {"type": "string", "enum": [s.value for s in MessageStatus]},
        "sender": _STR,
        "receiver": _STR,
        "case_id": _STR,
        "ref_to_message_id": _NSTR,
        "sed_type": _STR,
        "sed_version": _STR,
        "service": _STR,
        "action": _STR,
        "created_at": _TIME,
        "received_at": _NTIME,
        "sent_at": _NTIME,
        "updated_at": _NTIME,
        "attempts": _INT,
        "next_attempt_at": _NTIME,
        "last_error": _NSTR,
        "duplicates": _INT,
        "payload_bytes": _INT,
        "envelope_bytes": _INT,
    }
    case_props: dict[str, Any] = {
        "case_id": _STR,
        "buc": _NSTR,
        "state": {"type": ["string", "null"], "enum": [*_CASE_STATES, None]},
        "role": {"type": ["string", "null"], "description": "PO (case owner) or CP"},
        "counterparty": _NSTR,
        "opened_at": _NTIME,
        "updated_at": _NTIME,
        "messages": _INT,
        "member": _NSTR,
        "person": _NSTR,
        "waiting_for": {"type": ["object", "null"]},
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "examples": ["admin.bad-request"]},
                        "message": {"type": "string", "description": "what is wrong"},
                        "where": {
                            "type": "string",
                            "description": "where: a JSON pointer into the request body, a"
                            " query parameter, a case or message",
                        },
                        "hint": {"type": "string", "description": "what to do"},
                        "details": {"type": "object"},
                    },
                }
            },
            "additionalProperties": False,
        },
        "Liveness": _closed({"institution": _STR, "live": {"type": "boolean"}}),
        "Readiness": _closed(
            {
                "institution": _STR,
                "ready": {
                    "type": "boolean",
                    "description": "true once the journal is restored and the endpoint is open;"
                    " false while restoring (a network reset) or stopping",
                },
                "why": _STR,
            },
            required=["institution", "ready"],
        ),
        "Health": {
            "type": "object",
            "required": ["institution", "kind", "version", "status", "journal"],
            "properties": {
                "institution": _STR,
                "kind": _STR,
                "version": _STR,
                "status": {
                    "type": "string",
                    "enum": ["ok", "degraded", "unavailable"],
                    "description": "degraded: the worker failed on inbound messages (problems)",
                },
                "problems": {
                    "type": "array",
                    "description": "why the institution is degraded: each inbound message whose"
                    " processing failed (at most 20), with the reason and what to do",
                    "items": {
                        "type": "object",
                        "properties": {
                            "problem": {"type": "string", "enum": ["processing_failed"]},
                            "message_id": _STR,
                            "case_id": _STR,
                            "sed_type": _STR,
                            "sender": _STR,
                            "since": _NTIME,
                            "reason": _NSTR,
                            "hint": _STR,
                        },
                    },
                },
                "now": _TIME,
                "uptime_seconds": {"type": "number"},
                "journal": {"type": "object"},
                "messages_by_status": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                },
                "node": {
                    "type": "object",
                    "description": "the node's counters: inputs and sends in flight, parked"
                    " messages, totals",
                },
            },
            "additionalProperties": False,
        },
        "Institution": {
            "type": "object",
            "description": "the directory entry (never the credential) and the request kinds",
            "required": ["id", "country", "name", "kind"],
            "properties": {
                "id": _STR,
                "country": _STR,
                "name": _STR,
                "kind": {"type": "string", "enum": ["cns", "mock", "external"]},
                "roles": {"type": "array", "items": _STR},
                "endpoint": _STR,
                "admin": _NSTR,
                "eessi": {"type": "boolean"},
                "bucs": {"type": "array", "items": _STR},
                "versions": {"type": "array", "items": _STR},
                "languages": {"type": "array", "items": _STR},
                "requests": {"type": "array", "items": _STR},
            },
            "additionalProperties": False,
        },
        "Message": _closed(
            {
                **message_props,
                "links": {
                    "type": "object",
                    "description": "(one message) URLs of its raw bytes and validation",
                },
            },
            required=list(message_props),
        ),
        "MessagePage": _page_schema("Message"),
        "Case": _closed(case_props, required=("case_id", "state")),
        "CasePage": _page_schema("Case"),
        "TimelineEntry": {
            "type": "object",
            "required": ["type", "at"],
            "description": "a message (with the Message fields) or a case event",
            "properties": {
                **message_props,
                "type": {"type": "string", "enum": ["message", "event"]},
                "at": _TIME,
                "seq": {"type": "integer"},
                "kind": _STR,
                "data": {"type": "object"},
                "message_id": _NSTR,
            },
            "additionalProperties": False,
        },
        "CaseDetail": _closed(
            {
                **case_props,
                "snapshot": {"type": ["object", "null"]},
                "timeline": {"type": "array", "items": _ref("TimelineEntry")},
            },
            required=("case_id", "state", "timeline"),
        ),
        "ValidationReport": {
            "type": "object",
            "required": ["message_id", "ok", "errors"],
            "properties": {
                "message_id": _STR,
                "direction": _STR,
                "sed": _NSTR,
                "version": _NSTR,
                "ok": {"type": "boolean"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": _STR,
                            "message": _STR,
                            "xpath": _NSTR,
                            "line": {"type": ["integer", "null"]},
                            "column": {"type": ["integer", "null"]},
                        },
                    },
                },
            },
            "additionalProperties": False,
        },
        "Event": {
            "type": "object",
            "required": ["seq", "at", "kind", "data"],
            "properties": {
                "seq": {"type": "string", "description": "position in the log (a cursor)"},
                "at": _TIME,
                "kind": _STR,
                "data": {"type": "object"},
                "message_id": _NSTR,
            },
            "additionalProperties": False,
        },
        "EventPage": _page_schema("Event"),
        "Household": {
            "type": "object",
            "required": ["key"],
            "properties": {
                "key": _STR,
                "main_insured": {"type": "array", "items": {"type": "object"}},
                "members": {"type": "array", "items": {"type": "object"}},
            },
            "additionalProperties": False,
        },
        "HouseholdPage": _page_schema("Household"),
        "Record": {
            "type": "object",
            "required": ["key"],
            "properties": {
                "key": _STR,
                "person": {"type": "object"},
                "status": {"type": "string", "description": "the person's status (its class)"},
            },
            "additionalProperties": False,
        },
        "RecordPage": _page_schema("Record"),
        "BatchResult": {
            "type": "object",
            "required": ["accepted", "refused", "results"],
            "properties": {
                "accepted": {"type": "integer"},
                "refused": {"type": "integer"},
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["index", "pointer", "status"],
                        "properties": {
                            "index": {"type": "integer"},
                            "pointer": {
                                "type": "string",
                                "description": "JSON pointer to the request in the batch",
                            },
                            "status": {
                                "type": "integer",
                                "description": "202, or the status POST /api/requests gives",
                            },
                            "result": _ref("StepResult"),
                            "error": {
                                "type": "object",
                                "required": ["code", "message"],
                                "description": "as the `error` of an Error answer",
                            },
                        },
                    },
                },
            },
            "additionalProperties": False,
        },
        "StepResult": {
            "type": "object",
            "required": ["kind", "cases", "messages", "events"],
            "properties": {
                "kind": _STR,
                "at": _TIME,
                "cases": {"type": "array", "items": _STR},
                "messages": {
                    "type": "array",
                    "items": _STR,
                    "description": "IDs of the outgoing messages journaled",
                },
                "outgoing": {"type": "array", "items": {"type": "object"}},
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kind", "data"],
                        "properties": {
                            "kind": _STR,
                            "case_id": _NSTR,
                            "data": {"type": "object"},
                        },
                    },
                    "description": "the domain events, as the journal stores them",
                },
            },
            "additionalProperties": False,
        },
    }


def _page_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next": {"type": ["string", "null"], "description": "pass as 'after' for more"},
        },
        "additionalProperties": False,
    }


def _closed(props: dict[str, Any], required: Iterable[str] | None = None) -> dict[str, Any]:
    """An object with these keys only (``required``: default all of them)."""
    return {
        "type": "object",
        "required": list(props if required is None else required),
        "properties": props,
        "additionalProperties": False,
    }


def _field_schema(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"description": f.description}
    if f.type == "boolean":
        schema["type"] = "boolean"
    elif f.type == "date":
        schema.update(type="string", format="date")
    else:
        schema.update(type="string", minLength=1)
    if f.choices:
        schema["enum"] = list(f.choices)
    if not f.required:
        schema["default"] = f.default
    return schema


def _kind_schema(kind: RequestKind) -> dict[str, Any]:
    return {
        "type": "object",
        "title": kind.name,
        "description": f"({'CNS' if kind.desk == 'cns' else 'foreign fund'}) {kind.summary}",
        "required": ["kind", *(f.name for f in kind.fields if f.required)],
        "additionalProperties": False,
        "properties": {
            "kind": {"const": kind.name},
            **{f.name: _field_schema(f) for f in kind.fields},
        },
    }


def _paths(kinds: list[RequestKind]) -> dict[str, Any]:
    request_schema = {"oneOf": [_kind_schema(k) for k in kinds]} if kinds else {"type": "object"}
    not_found = {"404": _error("NotFound")}
    return {
        "/api/health/live": {
            "get": {
                "summary": "Liveness: the process serves HTTP (for a container's health check)",
                "operationId": "live",
                "responses": {"200": _ok("alive", _ref("Liveness")), **_COMMON_ERRORS},
            }
        },
        "/api/health/ready": {
            "get": {
                "summary": "Readiness: the journal is restored and the endpoint is open",
                "operationId": "ready",
                "responses": {
                    "200": _ok("ready to take messages", _ref("Readiness")),
                    "503": _ok(
                        "restoring or stopping: not yet (or no longer) ready", _ref("Readiness")
                    ),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/health": {
            "get": {
                "summary": "Health: institution, version, journal, messages by status, uptime",
                "operationId": "health",
                "responses": {
                    "200": _ok("healthy", _ref("Health")),
                    "503": _ok("the journal cannot be read", _ref("Health")),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/institution": {
            "get": {
                "summary": "This institution's directory entry (without its credential)",
                "operationId": "institution",
                "responses": {"200": _ok("the entry", _ref("Institution")), **_COMMON_ERRORS},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This description",
                "operationId": "openapi",
                "responses": {
                    "200": _ok("OpenAPI 3.1 document", {"type": "object"}),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/cases": {
            "get": {
                "summary": "List cases, filtered, by case ID",
                "operationId": "listCases",
                "parameters": [
                    _param(
                        "state",
                        "query",
                        "case states, comma-separated",
                        {"type": "string", "examples": ["awaiting-reply,completed"]},
                    ),
                    _param(
                        "buc", "query", "BUC name", {"type": "string", "examples": ["S_BUC_01"]}
                    ),
                    _param("counterparty", "query", "IR ID of the other side", _STR),
                    _SINCE,
                    _LIMIT,
                    _AFTER,
                ],
                "responses": {"200": _ok("a page of cases", _ref("CasePage")), **_COMMON_ERRORS},
            }
        },
        "/api/cases/{case_id}": {
            "get": {
                "summary": "A case: state and timeline (events and messages in order)",
                "operationId": "getCase",
                "parameters": [_param("case_id", "path", "the case (conversation) ID", _STR)],
                "responses": {
                    "200": _ok("the case", _ref("CaseDetail")),
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/messages": {
            "get": {
                "summary": "List messages in journal order, filtered",
                "operationId": "listMessages",
                "parameters": [
                    _param("case", "query", "case (conversation) ID", _STR),
                    _param(
                        "direction",
                        "query",
                        "in or out",
                        {"type": "string", "enum": [d.value for d in Direction]},
                    ),
                    _param(
                        "status",
                        "query",
                        "statuses, comma-separated: " + ", ".join(s.value for s in MessageStatus),
                        _STR,
                    ),
                    _param("sed", "query", "SED types, comma-separated (S071,S072)", _STR),
                    _param("counterparty", "query", "IR ID of the sender or receiver", _STR),
                    _SINCE,
                    _LIMIT,
                    _AFTER,
                ],
                "responses": {
                    "200": _ok("a page of messages", _ref("MessagePage")),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/messages/{message_id}": {
            "get": {
                "summary": "A message's metadata and status",
                "operationId": "getMessage",
                "parameters": [_MESSAGE_ID, _DIRECTION],
                "responses": {
                    "200": _ok("the message", _ref("Message")),
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/messages/{message_id}/raw": {
            "get": {
                "summary": "The SED payload byte-exact (or the envelope with part=envelope)",
                "operationId": "getMessageRaw",
                "parameters": [
                    _MESSAGE_ID,
                    _DIRECTION,
                    _param(
                        "part",
                        "query",
                        "payload (default) or envelope",
                        {"type": "string", "enum": ["payload", "envelope"]},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "the exact bytes journaled",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/messages/{message_id}/validation": {
            "get": {
                "summary": "Validate the stored payload against its SED schema",
                "operationId": "validateMessage",
                "parameters": [_MESSAGE_ID, _DIRECTION],
                "responses": {
                    "200": _ok("the validation report", _ref("ValidationReport")),
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/events": {
            "get": {
                "summary": "The desk's events that belong to no case (eligibility decisions,"
                " documents requested, referrals), in order",
                "operationId": "listDeskEvents",
                "parameters": [
                    _param("kind", "query", "event kinds, comma-separated", _STR),
                    _SINCE,
                    _LIMIT,
                    _AFTER,
                ],
                "responses": {
                    "200": _ok("a page of events", _ref("EventPage")),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/households": {
            "get": {
                "summary": "(CNS) The households of the registry, with registrations",
                "operationId": "listHouseholds",
                "parameters": [_LIMIT, _AFTER],
                "responses": {
                    "200": _ok("a page of households", _ref("HouseholdPage")),
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/records": {
            "get": {
                "summary": "(foreign fund) The people the fund knows (keys for requests)",
                "operationId": "listRecords",
                "parameters": [_LIMIT, _AFTER],
                "responses": {
                    "200": _ok("a page of fund records", _ref("RecordPage")),
                    **_COMMON_ERRORS,
                    **not_found,
                },
            }
        },
        "/api/requests": {
            "post": {
                "summary": "Start a request (journaled and sent like any other step)",
                "operationId": "submitRequest",
                "requestBody": {"required": True, "content": _json_content(request_schema)},
                "responses": {
                    "202": _ok(
                        "accepted: the cases touched and messages queued", _ref("StepResult")
                    ),
                    **_COMMON_ERRORS,
                    "409": _error("Conflict"),
                    "413": _error("TooLarge"),
                    "415": _error("UnsupportedMediaType"),
                    "422": _error("Unprocessable"),
                },
            }
        },
        "/api/requests/batch": {
            "post": {
                "summary": "Start several requests at once (each checked and answered alone)",
                "description": f"A JSON list of at most {MAX_BATCH} request bodies, each as for"
                " POST /api/requests. Answered 202 with one result per item, in order: 202 and"
                " the step, or the status and error that POST /api/requests would have given;"
                " an error's `where` is a JSON pointer into the whole batch (`/3/member`).",
                "operationId": "submitRequests",
                "requestBody": {
                    "required": True,
                    "content": _json_content(
                        {"type": "array", "maxItems": MAX_BATCH, "items": request_schema}
                    ),
                },
                "responses": {
                    "202": _ok("one result per request, in order", _ref("BatchResult")),
                    **_COMMON_ERRORS,
                    "413": _error("TooLarge"),
                    "415": _error("UnsupportedMediaType"),
                },
            }
        },
        "/api/tick": {
            "post": {
                "summary": "Process due timers now (reminders)",
                "operationId": "tick",
                "responses": {
                    "200": _ok("what the timers did", _ref("StepResult")),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/retry-failed": {
            "post": {
                "summary": "Process again the inbound messages the worker failed on",
                "description": "Messages in status processing_failed (see GET /api/health) go"
                " back to received and to the desk, those of one case if the body names it."
                " Remove the cause first (the reason is in each message's last_error).",
                "operationId": "retryFailed",
                "requestBody": {
                    "required": False,
                    "content": _json_content(
                        {
                            "type": "object",
                            "properties": {"case": _STR},
                            "additionalProperties": False,
                        }
                    ),
                },
                "responses": {
                    "202": _ok(
                        "the IDs of the messages handed to the desk again",
                        {
                            "type": "object",
                            "properties": {
                                "retried": {"type": "array", "items": _STR},
                                "case": _NSTR,
                            },
                        },
                    ),
                    **_COMMON_ERRORS,
                    "413": _error("TooLarge"),
                    "415": _error("UnsupportedMediaType"),
                },
            }
        },
    }


def openapi_document(
    entry: InstitutionEntry | None = None, extensions: Iterable[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The OpenAPI 3.1 document; for ``entry``'s desk only its request kinds are listed.

    ``extensions``: what :func:`add_openapi_paths` registered (paths and schemas of routes
    other modules mount under ``/api/``).
    """
    desk = None if entry is None else ("cns" if entry.kind == "cns" else "fund")
    kinds = [k for k in REQUEST_KINDS.values() if desk is None or k.desk == desk]
    title = "eessi-sim admin API" + (f" ({entry.id}, {entry.name})" if entry else "")
    error = {"content": _json_content(_ref("Error"))}
    paths = {**_paths(kinds), **clock_paths()}
    if desk == "cns":  # each desk serves one of the two listings; the other is a 404
        del paths["/api/records"]
    elif desk == "fund":
        del paths["/api/households"]
    schemas = {**_schemas(), **clock_schemas()}
    for ext in extensions:
        paths.update(ext.get("paths", {}))
        schemas.update(ext.get("schemas", {}))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": __version__,
            "description": "JSON admin API of one simulated EESSI institution. Errors are"
            ' {"error": {"code", "message", "where", "hint"}}. See docs/admin-api.md.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "required when the server is not bound to loopback, and"
                    " whenever a token is set",
                }
            },
            "schemas": schemas,
            "responses": {
                "BadRequest": {
                    "description": "malformed request: not JSON, nested more than"
                    f" {MAX_DEPTH} levels deep (admin.too-deep), a wrong argument or query"
                    " parameter",
                    **error,
                },
                "Unauthorized": {"description": "missing or wrong token", **error},
                "NotFound": {"description": "unknown route, case or message", **error},
                "Conflict": {"description": "the case's state does not allow it", **error},
                "TooLarge": {"description": "request body too large", **error},
                "UnsupportedMediaType": {
                    "description": "the request body's Content-Type is not JSON",
                    **error,
                },
                "Unprocessable": {"description": "the core refuses it", **error},
            },
        },
    }
