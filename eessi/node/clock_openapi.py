"""The OpenAPI description of the clock routes (``GET``/``POST /api/clock``).

Merged into ``GET /api/openapi.json`` through :func:`eessi.node.openapi.add_openapi_paths`, as
any route set mounted beside the admin API's own is (see :mod:`eessi.node.clock_control`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["clock_paths", "clock_schemas"]

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _list_of(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "object", "required": required, "properties": props},
    }


def clock_schemas() -> dict[str, Any]:
    """``ClockState``, ``ClockMove`` (the request) and ``ClockMoved`` (what became due)."""
    return {
        "ClockState": {
            "type": "object",
            "required": ["virtual", "now", "start", "institutions"],
            "properties": {
                "virtual": {
                    "type": "boolean",
                    "description": "false: the wall clock (started without --virtual-clock)",
                },
                "now": _TIME,
                "start": {**_NSTR, "format": "date-time"},
                "institutions": {
                    "type": "array",
                    "items": _STR,
                    "description": "the institutions that move with this clock",
                },
            },
        },
        "ClockMove": {
            "type": "object",
            "description": "one of the two: advance by an ISO 8601 duration (P2M, P1Y2M10D,"
            " PT1H, P1DT12H; months the calendar way), or go to an ISO 8601 date-time (an"
            " offset-less one is UTC); never backwards",
            "oneOf": [
                {"required": ["advance"], "not": {"required": ["to"]}},
                {"required": ["to"], "not": {"required": ["advance"]}},
            ],
            "properties": {
                "advance": {"type": "string", "examples": ["P2M", "PT1H"]},
                "to": {"type": "string", "examples": ["2026-03-05T09:00:00Z"]},
            },
            "additionalProperties": False,
        },
        "ClockMoved": {
            "type": "object",
            "required": [
                "virtual",
                "start",
                "before",
                "now",
                "reminders",
                "deadlines",
                "released",
                "messages",
                "events",
                "settled",
            ],
            "properties": {
                "virtual": {"type": "boolean"},
                "start": _TIME,
                "before": _TIME,
                "now": _TIME,
                "reminders": _list_of(
                    {
                        "institution": _STR,
                        "sed": {"type": "string", "enum": ["X009"]},
                        "case_id": _STR,
                        "counterparty": _NSTR,
                        "document_id": _STR,
                        "awaited_sed": _STR,
                    },
                    ["institution", "sed", "case_id", "counterparty", "document_id"],
                ),
                "deadlines": _list_of(
                    {
                        "institution": _STR,
                        "case_id": _NSTR,
                        "kind": {"type": "string", "enum": ["reply", "escalation"]},
                        "awaited_sed": _STR,
                        "document_id": _STR,
                        "due": _TIME,
                    },
                    ["institution", "case_id", "kind", "awaited_sed", "due"],
                ),
                "released": _list_of(
                    {"institution": _STR, "message_id": _STR}, ["institution", "message_id"]
                ),
                "messages": _list_of(
                    {"institution": _STR, "message_id": _STR}, ["institution", "message_id"]
                ),
                "events": _list_of(
                    {
                        "institution": _STR,
                        "kind": _STR,
                        "case_id": _NSTR,
                        "data": {"type": "object"},
                    },
                    ["institution", "kind", "case_id", "data"],
                ),
                "settled": {
                    "type": "boolean",
                    "description": "whether everything the move set off was delivered before"
                    " the answer (false: still in flight after 10 s)",
                },
            },
        },
    }


def clock_paths() -> dict[str, Any]:
    """The path items of ``/api/clock`` and ``/api/reset``."""
    return {
        "/api/reset": {
            "post": {
                "summary": "Back to the start: the whole network (eessi up), or this process"
                " (eessi serve)",
                "description": "Every journal emptied (eessi up: every institution's; eessi"
                " serve: this one's), every desk rebuilt from the households, every seeded"
                " generator rewound (IDs, receipts, jitter), mock rules back to their profiles,"
                " the virtual clock back to its start: a fresh start. Waits (at most 10 s) for"
                " what is in flight; 409 network.busy if it does not finish, 409"
                " reset.not-supported on a PostgreSQL journal, 409 reset.not-a-network on a node"
                " without a reset.",
                "operationId": "resetNetwork",
                "requestBody": {"required": False, "content": _json({"type": "object"})},
                "responses": {
                    "200": {
                        "description": "what was reset",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["reset", "clock"],
                                "properties": {
                                    "reset": {"type": "array", "items": _STR},
                                    "clock": {**_NSTR, "format": "date-time"},
                                },
                            }
                        ),
                    },
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "409": _error("Conflict"),
                    "413": _error("TooLarge"),
                    "415": _error("UnsupportedMediaType"),
                },
            }
        },
        "/api/clock": {
            "get": {
                "summary": "The institution's clock: its time, whether it is virtual",
                "operationId": "getClock",
                "responses": {
                    "200": {"description": "the clock", "content": _json(_ref("ClockState"))},
                    "401": _error("Unauthorized"),
                },
            },
            "post": {
                "summary": "Move a virtual clock; what became due (reminders, deadlines)",
                "description": "Moves the clock every institution of the network shares"
                " (eessi up --virtual-clock; with eessi serve --virtual-clock, this process's"
                " only), then releases held messages and ticks every desk, and waits (at most"
                " 10 s) for what that sent to be delivered. 409 clock.not-virtual on the wall"
                " clock, 409 clock.backwards for a time before now.",
                "operationId": "moveClock",
                "requestBody": {"required": True, "content": _json(_ref("ClockMove"))},
                "responses": {
                    "200": {
                        "description": "what became due",
                        "content": _json(_ref("ClockMoved")),
                    },
                    "400": _error("BadRequest"),
                    "401": _error("Unauthorized"),
                    "409": _error("Conflict"),
                    "413": _error("TooLarge"),
                    "415": _error("UnsupportedMediaType"),
                },
            },
        },
    }
