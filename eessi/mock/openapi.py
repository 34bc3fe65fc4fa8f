"""The OpenAPI 3.1 description of the mock routes (``/api/mock/``) and the JSON Schema of a rule.

Served at ``GET /api/mock/openapi.json``. The rule schema is built from the tables of
:mod:`eessi.mock.behaviour` (effects, their parameters, match keys, code lists), so the schema,
the parser and the docs cannot drift apart; :data:`MOCK_ROUTES` is the list the routes are
mounted from (a test checks both ways).
"""

from __future__ import annotations

from typing import Any, Final

from eessi.mock.behaviour import EFFECT_PARAMETERS, FAIL_MODES, MALFORMED_KINDS
from eessi.mock.received_page import DEFAULT_LIMIT, MAX_LIMIT
from eessi.sed.catalogue import BUCS, SEDS

__all__ = ["MOCK_ROUTES", "mock_openapi_document", "mock_schemas", "rule_schema"]

#: (method, path under /api/mock, handler name, summary): what :func:`add_mock_routes` mounts.
MOCK_ROUTES: Final[tuple[tuple[str, str, str, str], ...]] = (
    ("GET", "/profile", "profile", "The fund's profile and the rules in force"),
    ("GET", "/rules", "rules", "The rules in force, in the order they were added"),
    ("POST", "/rules", "add_rules", "Add a rule, or {rules: [...]} (all checked first)"),
    ("DELETE", "/rules/{rule_id}", "delete_rule", "Remove one rule"),
    ("POST", "/reset", "reset", "Back to the profile ({}), or forget one case ({case})"),
    ("GET", "/cases", "cases", "Cases with per-case state or rules"),
    ("GET", "/cases/{case_id}", "case", "A case's counters, rules and log"),
    ("DELETE", "/cases/{case_id}", "forget_case", "Forget one case (rules, counters, log)"),
    ("GET", "/log", "log", "What the interceptors did (failed deliveries, answers)"),
    ("GET", "/received", "received", "Inbound messages, filtered; long-poll with wait"),
    ("GET", "/openapi.json", "openapi", "This description"),
)

_PARAM_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "overrides": {
        "type": "object",
        "description": "top-level fields of the answer SED and their values (text, codes,"
        " dates YYYY-MM-DD, numbers, true/false, null), checked when the rule is made against"
        " the SEDs the fund may send in reaction to match.sed (any SED without it): 422"
        " mock.bad-override otherwise",
    },
    "seconds": {"type": "number", "minimum": 0},
    "min": {"type": "number", "minimum": 0},
    "max": {"type": "number", "minimum": 0},
    "x011": {"type": "string", "pattern": "^[0-9]+$", "description": "X011 rejection reason"},
    "code": {"type": "string", "pattern": "^[0-9]+$", "description": "refusal code"},
    "times": {"type": "integer", "minimum": 0},
    "malformed": {"type": "string", "enum": list(MALFORMED_KINDS)},
    "version": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$"},
    "mode": {"type": "string", "enum": list(FAIL_MODES)},
    "template": {
        "type": "string",
        "minLength": 1,
        "description": "send: the SED as XML, with placeholders {case}, {message_id},"
        " {answers}, {today}, {now}, {sender}, {receiver}, {family_name}, {forename},"
        " {birth_date}, {pin}; validated against its SED schema when the rule is made"
        " (422 mock.bad-template) unless invalid",
    },
    "file": {
        "type": "string",
        "minLength": 1,
        "description": "send: a file holding the template (instead of template)",
    },
    "invalid": {
        "type": "boolean",
        "description": "send: the template is broken on purpose: not validated, sent as is,"
        " marked in the log",
    },
}


def rule_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of one rule, as profiles and ``POST /api/mock/rules`` take it."""
    match_props: dict[str, Any] = {
        "fund": {"type": "string", "pattern": "^[A-Z]{2}:[A-Za-z0-9]{4,10}$"},
        "buc": {"type": "string", "enum": sorted(BUCS)},
        "sed": {"type": "string", "enum": sorted(SEDS)},
        "case": {"type": "string", "minLength": 1},
        "nth": {"type": "integer", "minimum": 1},
        "person": {
            "type": "string",
            "minLength": 1,
            "description": "a PIN of the SED's person (any country), or the key of the fund's"
            " record the case is about (household/member)",
        },
        "counterparty": {
            "type": "string",
            "minLength": 1,
            "description": "IR ID of the other institution",
        },
        "xpath": {
            "type": "string",
            "minLength": 1,
            "description": "a prefix-insensitive XPath over the SED the fund reacts to (prefixes"
            " sed and the SED type are bound); not on fail rules",
        },
    }
    effects: list[dict[str, Any]] = []
    for kind, params in EFFECT_PARAMETERS.items():
        props: dict[str, Any] = {"kind": {"const": kind}}
        props.update({p: _PARAM_SCHEMAS[p] for p in params})
        effects.append({"type": "object", "properties": props, "required": ["kind"],
                        "additionalProperties": False})  # fmt: skip
        effects.append({"const": kind})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mock behaviour rule",
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "match": {"type": "object", "properties": match_props, "additionalProperties": False},
            "effect": {"oneOf": effects},
        },
        "required": ["effect"],
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_STR: Final = {"type": "string"}
_NSTR: Final = {"type": ["string", "null"]}
_COUNTS: Final = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}


def mock_schemas() -> dict[str, Any]:
    """The schemas the mock routes refer to (``Error`` aside: the admin API's own)."""
    rule = rule_schema()
    listed = {
        "type": "object",
        "description": "a rule in force, with where it came from",
        "required": ["id", "match", "effect", "origin", "added_at"],
        "properties": {
            "id": rule["properties"]["id"],
            "match": rule["properties"]["match"],
            "effect": rule["properties"]["effect"],
            "origin": {
                "type": "string",
                "description": "profile, api (journaled: survives a restart), scenario, test",
            },
            "added_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "the node's time it was added; null: a profile's rule",
            },
        },
        "additionalProperties": False,
    }
    rule_list = {"type": "array", "items": _ref("MockRuleListed")}
    case_state = {
        "case": _STR,
        "seen": {**_COUNTS, "description": "documents counted per SED type (nth)"},
        "failures": {**_COUNTS, "description": "deliveries failed per fail rule"},
    }
    return {
        "Rule": rule,
        "MockRuleListed": listed,
        "MockRules": _closed({"fund": _STR, "rules": rule_list}),
        "MockProfile": _closed(
            {"fund": _STR, "profile": {"type": ["object", "null"]}, "rules": rule_list}
        ),
        "MockAdded": _closed({"added": rule_list}),
        "MockReset": _closed(
            {
                "reset": {"type": "string", "enum": ["fund", "case"]},
                "case": _NSTR,
                "rules": rule_list,
                "retried": {"type": "array", "items": _STR},
            }
        ),
        "MockCaseState": _closed(case_state),
        "MockCases": _closed({"cases": {"type": "array", "items": _ref("MockCaseState")}}),
        "MockCase": _closed(
            {
                **case_state,
                "rules": rule_list,
                "log": {"type": "array", "items": {"type": "object"}},
            }
        ),
        "MockLog": _closed(
            {
                "log": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["what"],
                        "properties": {"what": _STR, "case": _NSTR},
                    },
                }
            }
        ),
        "MockReceivedMessage": _closed(
            {
                "seq": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "the message's journal position (a cursor for after)",
                },
                "message_id": _STR,
                "sender": _STR,
                "case": _STR,
                "ref_to_message_id": _NSTR,
                "sed_type": _STR,
                "sed_version": _STR,
                "status": _STR,
                "received_at": {"type": ["string", "null"], "format": "date-time"},
                "last_error": _NSTR,
                "payload": _STR,
                "values": {"type": "array", "items": _STR},
            },
            optional=("values",),
        ),
        "MockReceived": _closed(
            {
                "fund": _STR,
                "received": {
                    "type": "array",
                    "items": _ref("MockReceivedMessage"),
                    "maxItems": MAX_LIMIT,
                    "description": "one page, in arrival order",
                },
                "next": {
                    "type": ["integer", "null"],
                    "description": "pass as after (same filters) for the next page;"
                    " null: this is the last",
                },
            }
        ),
    }


def _closed(props: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly these keys (all present but ``optional``)."""
    return {
        "type": "object",
        "required": [k for k in props if k not in optional],
        "properties": props,
        "additionalProperties": False,
    }


#: The answer schema of each route (by handler name); DELETEs answer 204 without a body.
_ANSWERS: Final[dict[str, str]] = {
    "profile": "MockProfile",
    "rules": "MockRules",
    "reset": "MockReset",
    "cases": "MockCases",
    "case": "MockCase",
    "log": "MockLog",
    "received": "MockReceived",
}


def _error() -> dict[str, Any]:
    return {
        "description": "an error: what, where, what to do",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


_QUERY = (
    ("case", "only this case (ConversationId)"),
    ("sed", "only this SED type"),
    ("xpath", "keep documents this XPath matches (prefixes sed and the SED type are bound)"),
    ("select", "an XPath whose string values are returned per message"),
    ("ns", "prefix=uri, repeatable: extra namespaces for xpath and select"),
    ("status", "received, processed, rejected or refused; repeatable"),
    ("wait", "long-poll up to this many seconds (at most 60)"),
    ("count", "with wait: answer once this many messages match (default 1, at most limit)"),
)
#: The received route's paging parameters (whole numbers; 400 admin.bad-query otherwise).
_PAGING = (
    (
        "limit",
        f"messages per page: 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}, or count if larger)",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    (
        "after",
        "the next cursor of the previous page: only messages after this journal seq",
        {"type": "integer", "minimum": 0},
    ),
)


def mock_openapi_document(fund: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the mock routes (of ``fund``, if given)."""
    obj: dict[str, Any] = {"type": "object"}
    paths: dict[str, Any] = {}
    for method, path, name, summary in MOCK_ROUTES:
        op: dict[str, Any] = {
            "summary": summary,
            "operationId": f"mock_{name}",
            "responses": {"400": _error(), "401": _error()},
        }
        params = [
            {"name": p[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for p in path.split("/")
            if p.startswith("{")
        ]
        if name == "received":
            params += [
                {"name": n, "in": "query", "required": False, "description": d,
                 "schema": {"type": "string"}}
                for n, d in _QUERY
            ]  # fmt: skip
            params += [
                {"name": n, "in": "query", "required": False, "description": d, "schema": sch}
                for n, d, sch in _PAGING
            ]
            op["responses"]["408"] = _error()
        if params:
            op["parameters"] = params
        if method == "POST":  # the admin stack's body reader (eessi.node.http_api)
            op["responses"]["413"] = _error()
            op["responses"]["415"] = _error()
        if name == "add_rules":
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Rule"},
                                {
                                    "type": "object",
                                    "properties": {
                                        "rules": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Rule"},
                                            "minItems": 1,
                                        }
                                    },
                                    "required": ["rules"],
                                },
                            ]
                        }
                    }
                },
            }
            op["responses"]["201"] = _ok("the rules added, with their IDs", _ref("MockAdded"))
            op["responses"]["422"] = {
                **_error(),
                "description": "an override the answer cannot take (mock.bad-override):"
                " where names the field, hint and details.allowed what it takes",
            }
        elif method == "DELETE":
            op["responses"]["204"] = _ok("done")
            op["responses"]["404"] = _error()
        elif name in _ANSWERS:
            op["responses"]["200"] = _ok("the answer", _ref(_ANSWERS[name]))
        else:
            op["responses"]["200"] = _ok("the answer", obj)
        paths.setdefault(f"/api/mock{path}", {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"eessi-sim mock fund {fund}" if fund else "eessi-sim mock fund",
            "version": "1",
            "description": "Scriptable behaviours of a mock foreign fund (docs/mock-behaviours.md)",
        },
        "paths": paths,
        "components": {
            "schemas": {
                **mock_schemas(),
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "where": {"type": "string"},
                                "hint": {"type": "string"},
                            },
                            "required": ["code", "message"],
                        }
                    },
                    "required": ["error"],
                },
            }
        },
    }
