"""Admin routes of a mock fund: set and reset behaviours at run time, ask what it received.

Mounted by :func:`add_mock_routes` as a sub-application at ``/api/mock/`` of the node's
application (next to the node's own admin API at ``/api/``), with the same conventions: JSON
in and out, errors as ``{"error": {"code", "message", "where", "hint"}}``, and the same bearer
token (``EESSI_ADMIN_TOKEN``) required when the server is not bound to loopback.

===========================  ================================================================
``GET /api/mock/profile``    the fund's profile (``null`` if it has none) and its rules
``GET /api/mock/rules``      the rules in force, in precedence order of addition
``POST /api/mock/rules``     add a rule (or ``{"rules": [...]}``); same shape as in profiles
``DELETE /api/mock/rules/{id}``  remove one rule
``POST /api/mock/reset``     ``{}``: back to the profile; ``{"case": ID}``: forget one case
``GET /api/mock/cases``      cases with per-case state or rules
``GET /api/mock/cases/{id}`` a case's counters, rules and log
``DELETE /api/mock/cases/{id}``  forget one case (its rules, counters and log)
``GET /api/mock/log``        what the interceptors did (``?case=``)
``GET /api/mock/received``   inbound messages (``?case= &sed= &xpath= &status= &select=
                             &ns=prefix=uri &wait=seconds &count=n``)
``GET /api/mock/openapi.json``  the OpenAPI description of these routes
===========================  ================================================================

``received`` with ``wait`` long-polls: it answers as soon as ``count`` (default 1) matching
messages are in the journal (already received ones count: nothing that arrived before the
question is lost), or 408 after ``wait`` seconds (at most 60).
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from eessi.errors import AdminError, ConfigError, EessiError
from eessi.journal import MessageRecord, MessageStatus
from eessi.mock.behaviour import parse_rule
from eessi.mock.controller import MockController, MockHost
from eessi.mock.journal_query import select
from eessi.mock.openapi import MOCK_ROUTES, mock_openapi_document

__all__ = ["MAX_WAIT", "TOKEN_ENV", "add_mock_routes"]

#: Where the bearer token is read from (the node's admin API uses the same variable).
TOKEN_ENV = "EESSI_ADMIN_TOKEN"
#: Longest long-poll of ``GET /api/mock/received?wait=``, in seconds.
MAX_WAIT = 60.0
_MAX_BODY = 64 * 1024
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class _ApiError(AdminError):
    code = "mock.api"

    def __init__(self, status: int, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


def _status(exc: EessiError) -> int:
    if isinstance(exc, _ApiError):
        return exc.status
    if isinstance(exc, ConfigError):
        return 400
    return 422


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except EessiError as exc:
        return web.json_response({"error": exc.to_dict()}, status=_status(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = EessiError(
            exc.reason,
            code="mock.http",
            where=f"{request.method} {request.path}",
            hint="see docs/mock-behaviours.md for the routes",
        )
        return web.json_response({"error": err.to_dict()}, status=exc.status)


def _auth(token: str | None) -> Any:
    @web.middleware
    async def auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                err = EessiError(
                    "missing or wrong bearer token",
                    code="admin.unauthorized",
                    where=f"{request.method} {request.path}",
                    hint=f"send Authorization: Bearer <the {TOKEN_ENV} token>",
                )
                return web.json_response(
                    {"error": err.to_dict()}, status=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return await handler(request)

    return auth


async def _body(request: web.Request) -> Any:
    data = await request.content.read(_MAX_BODY + 1)
    if len(data) > _MAX_BODY:
        raise _ApiError(413, "the request body is too large", code="admin.too-large")
    if not data.strip():
        return {}
    try:
        return json.loads(data)
    except ValueError as exc:
        raise _ApiError(
            400,
            f"the request body is not JSON: {exc}",
            code="admin.bad-json",
            where="request body",
            hint='send a rule such as {"match": {"sed": "S072"}, "effect": "silent"}',
        ) from None


def _message_json(m: MessageRecord, values: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "message_id": m.message_id,
        "sender": m.sender,
        "case": m.conversation_id,
        "ref_to_message_id": m.ref_to_message_id,
        "sed_type": m.sed_type,
        "sed_version": m.sed_version,
        "status": m.status.value,
        "received_at": m.received_at.isoformat() if m.received_at else None,
        "last_error": m.last_error,
        "payload": m.payload.decode("utf-8", "replace"),
    }
    if values is not None:
        out["values"] = values
    return out


def _namespaces(request: web.Request) -> dict[str, str]:
    ns: dict[str, str] = {}
    for item in request.query.getall("ns", []):
        prefix, sep, uri = item.partition("=")
        if not sep or not prefix or not uri:
            raise _ApiError(
                400,
                f"ns={item!r} is not prefix=uri",
                code="admin.bad-query",
                where="query ns",
                hint="ns=s=http://ec.europa.eu/eessi/ns/4_4/S072",
            )
        ns[prefix] = uri
    return ns


def _number(request: web.Request, name: str, default: float, top: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= top:
        raise _ApiError(
            400,
            f"{name}={raw!r} is not a number from 0 to {top:g}",
            code="admin.bad-query",
            where=f"query {name}",
            hint=f"e.g. {name}=5",
        )
    return value


class _MockApi:
    def __init__(self, node: MockHost, controller: MockController) -> None:
        self.node = node
        self.controller = controller
        self.fund = node.id

    def _rules(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.controller.book(self.fund).rules]

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(mock_openapi_document(self.fund))

    async def profile(self, request: web.Request) -> web.Response:
        profile = self.controller.profiles.get(self.fund)
        return web.json_response(
            {
                "fund": self.fund,
                "profile": profile.to_dict() if profile is not None else None,
                "rules": self._rules(),
            }
        )

    async def rules(self, request: web.Request) -> web.Response:
        return web.json_response({"fund": self.fund, "rules": self._rules()})

    async def add_rules(self, request: web.Request) -> web.Response:
        body = await _body(request)
        items = body["rules"] if isinstance(body, Mapping) and "rules" in body else [body]
        if not isinstance(items, list) or not items:
            raise _ApiError(
                400, "rules must be a non-empty list", code="mock.bad-rule", where="/rules"
            )
        book = self.controller.book(self.fund)
        parsed = [
            parse_rule(item, where=f"rule #{i}", origin="api", default_id=book.next_id())
            for i, item in enumerate(items, start=1)
        ]
        for rule in parsed:  # all checked before any is added
            book.add(rule)
        return web.json_response({"added": [r.to_dict() for r in parsed]}, status=201)

    async def delete_rule(self, request: web.Request) -> web.Response:
        rule_id = request.match_info["rule_id"]
        if not self.controller.book(self.fund).remove(rule_id):
            raise _ApiError(
                404,
                f"{self.fund} has no rule {rule_id!r}",
                code="mock.unknown-rule",
                hint="GET /api/mock/rules lists them",
            )
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        body = await _body(request)
        case = body.get("case") if isinstance(body, Mapping) else None
        if case is not None and (not isinstance(case, str) or not case):
            raise _ApiError(400, "case must be a case ID", code="admin.bad-request", where="/case")
        self.controller.reset(self.fund, case=case)
        return web.json_response(
            {"reset": "case" if case else "fund", "case": case, "rules": self._rules()}
        )

    async def cases(self, request: web.Request) -> web.Response:
        book = self.controller.book(self.fund)
        return web.json_response({"cases": [book.state(c) for c in book.cases()]})

    async def case(self, request: web.Request) -> web.Response:
        case = request.match_info["case_id"]
        book = self.controller.book(self.fund)
        state = book.state(case)
        state["rules"] = [r.to_dict() for r in book.rules if r.match.case == case]
        state["log"] = self.controller.log(self.fund, case=case)
        return web.json_response(state)

    async def forget_case(self, request: web.Request) -> web.Response:
        self.controller.reset(self.fund, case=request.match_info["case_id"])
        return web.Response(status=204)

    async def log(self, request: web.Request) -> web.Response:
        case = request.query.get("case")
        return web.json_response({"log": self.controller.log(self.fund, case=case)})

    async def received(self, request: web.Request) -> web.Response:
        q = request.query
        ns = _namespaces(request)
        statuses = []
        for s in q.getall("status", []):
            try:
                statuses.append(MessageStatus(s))
            except ValueError:
                raise _ApiError(
                    400,
                    f"unknown status {s!r}",
                    code="admin.bad-query",
                    where="query status",
                    hint="received, processed, rejected, refused",
                ) from None
        wait = _number(request, "wait", 0.0, MAX_WAIT)
        count = int(_number(request, "count", 1, 10_000))
        filters: dict[str, Any] = {
            "case": q.get("case"),
            "sed": q.get("sed"),
            "xpath": q.get("xpath"),
            "namespaces": ns or None,
        }
        if wait > 0:
            try:
                found = await self.controller.wait_received(
                    self.fund, count=count, within=wait, **filters
                )
            except TimeoutError as exc:
                raise _ApiError(
                    408,
                    str(exc),
                    code="mock.not-received",
                    hint="the peer has not sent it (yet): check its journal, or wait longer",
                ) from None
        else:
            found = await self.controller.received(self.fund, statuses=statuses, **filters)
        if statuses:
            found = [m for m in found if m.status in statuses]
        pick = q.get("select")
        return web.json_response(
            {
                "fund": self.fund,
                "received": [
                    _message_json(m, select(m.payload, pick, ns) if pick else None) for m in found
                ],
            }
        )


def add_mock_routes(
    app: web.Application,
    institution: MockHost,
    controller: MockController,
    *,
    token: str | None = None,
    host: str | None = None,
) -> None:
    """Mount the mock routes of ``institution`` at ``/api/mock/`` of ``app`` (before it
    starts). ``token`` defaults to ``EESSI_ADMIN_TOKEN``; without one, ``host`` (where the
    server binds) must be loopback."""
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is None and host is not None and host not in _LOOPBACK:
        raise ConfigError(
            f"the mock admin routes of {institution.id} would be reachable on {host} without a"
            " token",
            code="admin.token-required",
            hint=f"set {TOKEN_ENV}, or bind to 127.0.0.1",
        )
    api = _MockApi(institution, controller)
    sub = web.Application(middlewares=[_errors, _auth(token)])
    for method, path, name, _summary in MOCK_ROUTES:
        sub.router.add_route(method, path, getattr(api, name))
    app.add_subapp("/api/mock/", sub)
