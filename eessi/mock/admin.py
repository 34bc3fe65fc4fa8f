"""Admin routes of a mock fund: set and reset behaviours at run time, ask what it received.

Mounted by :func:`add_mock_routes` as a sub-application at ``/api/mock/`` of the node's
application (next to the node's own admin API at ``/api/``), on the same admin stack
(:mod:`eessi.node.http_api`): JSON in and out, errors as ``{"error": {"code", "message",
"where", "hint"}}``, the same body reader and the same auth rule (the node's bearer token,
``EESSI_ADMIN_TOKEN``; without one, only requests that arrive over loopback are served).

===========================  ================================================================
``GET /api/mock/profile``    the fund's profile (``null`` if it has none) and its rules
``GET /api/mock/rules``      the rules in force, in order of addition, each with its
                             ``origin`` (profile, api, scenario, test) and ``added_at``
``POST /api/mock/rules``     add a rule (or ``{"rules": [...]}``); same shape as in profiles
``DELETE /api/mock/rules/{id}``  remove one rule
``POST /api/mock/reset``     ``{}``: back to the profile; ``{"case": ID}``: forget one case;
                             then the documents the node failed to process are retried
``GET /api/mock/cases``      cases with per-case state or rules
``GET /api/mock/cases/{id}`` a case's counters, rules and log
``DELETE /api/mock/cases/{id}``  forget one case (its rules, counters and log)
``GET /api/mock/log``        what the interceptors did (``?case=``)
``GET /api/mock/received``   inbound messages, a page at a time (``?case= &sed= &xpath=
                             &status= &select= &ns=prefix=uri &limit=n &after=seq
                             &wait=seconds &count=n``)
``GET /api/mock/openapi.json``  the OpenAPI description of these routes
===========================  ================================================================

Rule changes (added, removed, resets of the fund or of a case) are journaled in the node's
journal before they take effect, and restored when the node starts again on the same journal
(:mod:`eessi.mock.rules_log`).

``received`` answers one page (:mod:`eessi.mock.received_page`): at most ``limit`` messages
(default 100, at most 1000) after the journal seq ``after``, in arrival order, and ``next``, the
cursor of the following page (``null`` on the last). With ``wait`` it long-polls: it answers as
soon as ``count`` (default 1, at most ``limit``) matching messages after ``after`` are in the
journal (already received ones count: nothing that arrived before the question is lost), or 408
after ``wait`` seconds (at most 60).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from eessi.errors import ConfigError
from eessi.journal import Journal, MessageRecord, MessageStatus
from eessi.mock.behaviour import parse_rule
from eessi.mock.controller import MockController, MockHost
from eessi.mock.journal_query import select
from eessi.mock.openapi import MOCK_ROUTES, mock_openapi_document, mock_schemas
from eessi.mock.received_page import DEFAULT_LIMIT, MAX_LIMIT, ReceivedPage, read_page
from eessi.node.http_api import ADMIN_TOKEN_ENV, ApiError, admin_auth, admin_subapp, read_json
from eessi.node.openapi import add_openapi_paths

__all__ = ["MAX_WAIT", "TOKEN_ENV", "add_mock_routes"]

#: Where the bearer token is read from (the node's admin API uses the same variable).
TOKEN_ENV = ADMIN_TOKEN_ENV
#: Longest long-poll of ``GET /api/mock/received?wait=``, in seconds.
MAX_WAIT = 60.0
_RULE_HINT = 'send a rule such as {"match": {"sed": "S072"}, "effect": "silent"}'


def _message_json(seq: int, m: MessageRecord, values: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seq": seq,
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
            raise ApiError(
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
        raise ApiError(
            400,
            f"{name}={raw!r} is not a number from 0 to {top:g}",
            code="admin.bad-query",
            where=f"query {name}",
            hint=f"e.g. {name}=5",
        )
    return value


def _whole(request: web.Request, name: str, default: int, low: int, top: int | None) -> int:
    """A whole-number query parameter from ``low`` to ``top`` (no top if ``None``)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if (
        not raw.isascii()
        or not raw.isdigit()
        or int(raw) < low
        or (top is not None and int(raw) > top)
    ):
        span = f"from {low} to {top}" if top is not None else f"of at least {low}"
        hint = (
            f"ask for at most {top} messages a page and follow 'next'"
            if name == "limit"
            else "pass the 'next' value of the previous page (a journal seq), same filters"
        )
        raise ApiError(
            400,
            f"{name}={raw!r} is not a whole number {span}",
            code="admin.bad-query",
            where=f"query {name}",
            hint=hint,
        )
    return int(raw)


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
        body = await read_json(request, empty={}, hint=_RULE_HINT)
        items = body["rules"] if isinstance(body, Mapping) and "rules" in body else [body]
        if not isinstance(items, list) or not items:
            raise ApiError(
                400, "rules must be a non-empty list", code="mock.bad-rule", where="/rules"
            )
        book = self.controller.book(self.fund)
        try:
            parsed = [
                parse_rule(item, where=f"rule #{i}", origin="api", default_id=book.next_id())
                for i, item in enumerate(items, start=1)
            ]
        except ConfigError as exc:
            if exc.code not in ("mock.bad-override", "mock.bad-template"):
                raise  # a malformed rule: 400
            # Well-formed, but an override the answer cannot take (422, with the allowed
            # values), or a template that is not a valid SED (422, with where it breaks).
            raise ApiError(
                422,
                exc.message,
                code=exc.code,
                where=exc.where,
                hint=exc.hint,
                details=exc.details,
            ) from None
        # All checked before any is added; journaled first, so they survive a restart.
        added = await self.controller.add_rules(self.fund, parsed)
        return web.json_response({"added": [r.to_dict() for r in added]}, status=201)

    async def delete_rule(self, request: web.Request) -> web.Response:
        rule_id = request.match_info["rule_id"]
        if not await self.controller.remove_rule(self.fund, rule_id):
            raise ApiError(
                404,
                f"{self.fund} has no rule {rule_id!r}",
                code="mock.unknown-rule",
                hint="GET /api/mock/rules lists them",
            )
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        body = await read_json(request, empty={}, hint='send {} or {"case": "<case ID>"}')
        case = body.get("case") if isinstance(body, Mapping) else None
        if case is not None and (not isinstance(case, str) or not case):
            raise ApiError(400, "case must be a case ID", code="admin.bad-request", where="/case")
        await self.controller.reset_rules(self.fund, case=case)
        retried = await self.controller.retry_failed(self.fund, case=case)
        return web.json_response(
            {
                "reset": "case" if case else "fund",
                "case": case,
                "rules": self._rules(),
                "retried": retried,
            }
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
        case = request.match_info["case_id"]
        await self.controller.reset_rules(self.fund, case=case)
        await self.controller.retry_failed(self.fund, case=case)
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
                raise ApiError(
                    400,
                    f"unknown status {s!r}",
                    code="admin.bad-query",
                    where="query status",
                    hint="received, processed, rejected, refused, processing_failed",
                ) from None
        wait = _number(request, "wait", 0.0, MAX_WAIT)
        count = int(_number(request, "count", 1, MAX_LIMIT))
        limit = _whole(request, "limit", max(DEFAULT_LIMIT, count), 1, MAX_LIMIT)
        after = _whole(request, "after", 0, 0, None)
        if wait > 0 and count > limit:
            raise ApiError(
                400,
                f"count={count} is more than limit={limit}: the answer could not hold them",
                code="admin.bad-query",
                where="query count",
                hint=f"ask for limit={count} too (at most {MAX_LIMIT}), or wait for fewer",
            )
        journal = self.node.journal
        filters: dict[str, Any] = {
            "after": after,
            "limit": limit,
            "case": q.get("case"),
            "sed": q.get("sed"),
            "statuses": statuses,
            "xpath": q.get("xpath"),
            "namespaces": ns or None,
        }
        page = await read_page(journal, **filters)
        if wait > 0 and len(page.messages) < count:
            page = await self._wait(journal, filters, count, wait)
        pick = q.get("select")
        return web.json_response(
            {
                "fund": self.fund,
                "received": [
                    _message_json(seq, m, select(m.payload, pick, ns) if pick else None)
                    for seq, m in page.messages
                ],
                "next": page.next,
            }
        )

    async def _wait(
        self, journal: Journal, filters: dict[str, Any], count: int, within: float
    ) -> ReceivedPage:
        """Look again at each delivery until the page holds ``count`` messages; 408 after
        ``within`` seconds."""
        page = await self.controller.look_until(
            self.fund,
            lambda: read_page(journal, **filters),
            lambda page: len(page.messages) >= count,
            within,
        )
        if len(page.messages) < count:
            shown = ", ".join(f"{k}={filters[k]}" for k in ("case", "sed", "xpath") if filters[k])
            raise ApiError(
                408,
                f"{self.fund} received {len(page.messages)} of the {count} awaited"
                f" message(s) after seq {filters['after']} ({shown or 'any message'})"
                f" within {within:g} s",
                code="mock.not-received",
                hint="the peer has not sent it (yet): check its journal, or wait longer",
            )
        return page


def add_mock_routes(
    app: web.Application,
    institution: MockHost,
    controller: MockController,
    *,
    token: str | None = None,
    host: str | None = None,
) -> None:
    """Mount the mock routes of ``institution`` at ``/api/mock/`` of ``app`` (before it
    starts), with the admin stack of the node's own routes (:mod:`eessi.node.http_api`): the
    same auth rule (the one ``app`` already has, unless ``token`` names another; ``token``
    defaults to ``EESSI_ADMIN_TOKEN``), errors and body reader. Without a token, ``host``
    (where the server binds, if known) must be loopback, and every request must arrive over
    loopback."""
    auth = admin_auth(app, host=host, token=token)
    api = _MockApi(institution, controller)
    sub = admin_subapp(auth, routes="/api/mock/openapi.json")
    for method, path, name, _summary in MOCK_ROUTES:
        sub.router.add_route(method, path, getattr(api, name))
    app.add_subapp("/api/mock/", sub)
    # The node's own document (GET /api/openapi.json) describes these routes too.
    doc = mock_openapi_document(institution.id)
    add_openapi_paths(app, doc["paths"], mock_schemas())
