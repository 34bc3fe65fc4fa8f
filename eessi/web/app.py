"""The dashboard's HTTP side: the pages, and the JSON they read, under ``/ui/``.

The pages are static files (``eessi/web/static``); everything they show comes from JSON routes
under ``/ui/data/``, on the admin stack of :mod:`eessi.node.http_api` (the same auth rule as
``/api/``: the node's bearer token, or loopback only without one; errors as
``{"error": {...}}``):

=======================================  ==========================================================
``GET /ui/data/network``                 the institutions of the network (CNS and mocks told
                                         apart), the demo if one plays, the conformance reports
``GET /ui/data/stream``                  server-sent events: one ``arrow`` per message as it
                                         moves or changes status, for the live sequence diagram
                                         (``clear`` when the network was reset)
``* /ui/data/node/{id}/{path}``          the admin API of institution ``id`` (``/api/{path}``),
                                         passed through: one page talks to every node
``GET /ui/data/xml/{id}/{dir}/{msg}``    a message's SED as lines, with its validation errors
                                         placed at their line
``GET /ui/data/copies/{msg}``            every copy of a message in the network's journals
``GET /ui/data/buc/{buc}?role=PO|CP``    a BUC's state machine for one role (states, edges)
``GET /ui/data/demo``, ``POST .../{a}``  the demo's state; ``next``, ``play``, ``pause``
``GET /ui/data/reports/{file}``          a conformance report from the report directory
=======================================  ==========================================================

The live stream reads the journals of the nodes in this process (every few tenths of a second,
only while a page listens): every message a node handles is journaled, so nothing in the node
has to tell the dashboard anything (docs/decisions.md D110). Each stream reads only what is
new (:class:`Follower`: a ``since`` cursor per journal, and the messages not settled yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from aiohttp import web

from eessi.core.buc_table import TRANSITIONS, CaseState
from eessi.directory import InstitutionEntry
from eessi.errors import EessiError
from eessi.journal import Direction, Journal, MessageRecord, MessageStatus
from eessi.node.http_api import AdminAuth, ApiError, admin_auth, admin_subapp
from eessi.sed.catalogue import Role
from eessi.web.xmlview import xml_view

if TYPE_CHECKING:
    from eessi.web.demo import DemoPlayer

__all__ = [
    "DASHBOARD",
    "POLL_SECONDS",
    "REPORT_DIR_ENV",
    "SINCE_MARGIN",
    "STATIC",
    "Dashboard",
    "DashboardNode",
    "Follower",
    "add_dashboard",
    "dashboard_app",
    "join_network",
    "redirect_to_ui",
    "serve_root",
]

#: The page files shipped with the package.
STATIC = Path(__file__).with_name("static")
#: How often the live stream looks at the journals while a page listens.
POLL_SECONDS = 0.25
#: Where conformance reports (``eessi conformance --report-dir``) are looked for by default.
REPORT_DIR_ENV = "EESSI_REPORT_DIR"
_PROXIED = ("Authorization", "Content-Type", "Accept")


class DashboardNode(Protocol):
    """What the dashboard needs of a node (an :class:`~eessi.node.institution.Institution`)."""

    @property
    def entry(self) -> InstitutionEntry: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def url(self) -> str | None: ...

    @property
    def app(self) -> web.Application: ...


class Dashboard:
    """The dashboard over the nodes of ``nodes`` (a live mapping: IR ID -> node).

    ``here`` is the node that serves it (``None``: a dashboard of its own, ``eessi demo --web``);
    ``report_dir`` holds conformance reports (default: ``$EESSI_REPORT_DIR``); ``demo`` is the
    scenario played step by step, if any."""

    def __init__(
        self,
        nodes: Mapping[str, Any],
        *,
        here: str | None = None,
        report_dir: str | Path | None = None,
        demo: DemoPlayer | None = None,
    ) -> None:
        self.nodes: Mapping[str, Any] = nodes
        self.here = here
        env = os.environ.get(REPORT_DIR_ENV)
        self.report_dir = Path(report_dir) if report_dir else Path(env) if env else None
        self.demo = demo
        self._session: aiohttp.ClientSession | None = None
        self._closing = asyncio.Event()

    # ---- the network

    def node(self, ir_id: str) -> Any:
        node = self.nodes.get(ir_id)
        if node is None:
            raise ApiError(
                404,
                f"{ir_id} does not run in this network",
                where=f"institution {ir_id}",
                hint=f"institutions here: {', '.join(self.nodes) or '(none)'}",
                code="ui.unknown-institution",
            )
        return node

    def ordered(self) -> list[Any]:
        """The nodes, the CNS first (the lifelines' order), then in the network's order."""
        nodes = list(self.nodes.values())
        return sorted(nodes, key=lambda n: 0 if n.entry.kind == "cns" else 1)

    def institutions(self) -> list[dict[str, Any]]:
        return [
            {
                "id": n.entry.id,
                "kind": n.entry.kind,
                "name": n.entry.name,
                "country": n.entry.country,
                "url": n.url,
                "mock_api": _has_mock_routes(n),
                "here": n.entry.id == self.here,
            }
            for n in self.ordered()
        ]

    def reports(self) -> list[str]:
        if self.report_dir is None or not self.report_dir.is_dir():
            return []
        return sorted(p.name for p in self.report_dir.iterdir() if p.suffix in (".html", ".htm"))

    # ---- the live flow

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        shown: dict[str, str] = {}
        follow = Follower(self.nodes)
        demo_seen = -1
        idle = 0.0
        try:
            await resp.write(_sse("network", {"institutions": self.institutions()}))
            while not self._closing.is_set():
                cleared, arrows = await follow.changes()
                if cleared:  # a journal was replaced: a reset
                    shown.clear()
                    await resp.write(_sse("clear", {}))
                for arrow in arrows:
                    sig = json.dumps(arrow, sort_keys=True)
                    if shown.get(arrow["key"]) != sig:
                        shown[arrow["key"]] = sig
                        await resp.write(_sse("arrow", arrow))
                        idle = 0.0
                if self.demo is not None and self.demo.version != demo_seen:
                    demo_seen = self.demo.version
                    await resp.write(_sse("demo", self.demo.state()))
                idle += POLL_SECONDS
                if idle >= 15:  # a comment now and then keeps proxies from closing the stream
                    await resp.write(b": still here\n\n")
                    idle = 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), POLL_SECONDS)
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away
        return resp

    # ---- routes

    async def network(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "here": self.here,
                "institutions": self.institutions(),
                "demo": self.demo is not None,
                "reports": self.reports(),
            }
        )

    async def proxy(self, request: web.Request) -> web.Response:
        node = self.node(request.match_info["ir_id"])
        if not node.url:
            raise ApiError(
                503,
                f"{node.entry.id} serves no HTTP (not started, or on the in-memory transport)",
                where=f"institution {node.entry.id}",
                hint="wait until it has started; a network on the in-memory twin transport has"
                " no admin API to read: run it over HTTP (eessi up does)",
                code="ui.not-serving",
            )
        url = f"{node.url}/api/{request.match_info['tail']}"
        headers = {h: request.headers[h] for h in _PROXIED if h in request.headers}
        body = await request.read() if request.can_read_body else None
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.request(
            request.method, url, params=request.query, data=body, headers=headers
        ) as resp:
            data = await resp.read()
            return web.Response(body=data, status=resp.status, content_type=resp.content_type)

    async def xml(self, request: web.Request) -> web.Response:
        node = self.node(request.match_info["ir_id"])
        direction = request.match_info["direction"]
        if direction not in ("in", "out"):
            raise ApiError(
                400,
                f"direction is 'in' or 'out', not {direction!r}",
                where="path",
                hint="GET /ui/data/xml/{institution}/in/{message ID}",
                code="ui.bad-direction",
            )
        message_id = request.match_info["message_id"]
        record = await node.journal.message(message_id, Direction(direction))
        if record is None:
            raise ApiError(
                404,
                f"no {direction}bound message {message_id!r} at {node.entry.id}",
                where=f"message {message_id}",
                hint="list the messages on the Messages page",
                code="ui.unknown-message",
            )
        view = await asyncio.to_thread(xml_view, record.payload)
        return web.json_response({"message_id": message_id, **view})

    async def copies(self, request: web.Request) -> web.Response:
        """Every copy of a message in the network's journals (the sender's, the receiver's)."""
        message_id = request.match_info["message_id"]
        found = []
        for node in self.ordered():
            for direction in Direction:
                rec = await node.journal.message(message_id, direction)
                if rec is not None:
                    found.append(
                        {
                            "institution": node.entry.id,
                            "direction": direction.value,
                            "status": rec.status.value,
                            "attempts": rec.attempts,
                            "last_error": rec.last_error,
                        }
                    )
        return web.json_response({"message_id": message_id, "copies": found})

    async def buc(self, request: web.Request) -> web.Response:
        name = request.match_info["buc"]
        role_value = request.query.get("role", Role.CASE_OWNER.value)
        roles = {r.value: r for r in Role}
        if name not in TRANSITIONS or role_value not in roles:
            raise ApiError(
                404,
                f"no state diagram for BUC {name!r} as {role_value!r}",
                where="path",
                hint=f"BUCs: {', '.join(TRANSITIONS)}; role: PO (case owner) or CP",
                code="ui.unknown-buc",
            )
        return web.json_response(buc_graph(name, roles[role_value]))

    async def demo_state(self, request: web.Request) -> web.Response:
        return web.json_response(self._demo().state())

    async def demo_action(self, request: web.Request) -> web.Response:
        demo = self._demo()
        action = request.match_info["action"]
        if action not in ("next", "play", "pause"):
            raise ApiError(
                404,
                f"no demo action {action!r}",
                where="path",
                hint="POST /ui/data/demo/next, /play or /pause",
                code="ui.unknown-action",
            )
        getattr(demo, action)()
        return web.json_response(demo.state())

    def _demo(self) -> DemoPlayer:
        if self.demo is None:
            raise ApiError(
                404,
                "no demo plays here",
                where="GET /ui/data/demo",
                hint="start one with: eessi demo --web",
                code="ui.no-demo",
            )
        return self.demo

    async def report(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if self.report_dir is None or name not in self.reports():
            raise ApiError(
                404,
                f"no conformance report {name!r}",
                where="report directory",
                hint=f"write one with eessi conformance --report-dir DIR and set {REPORT_DIR_ENV}",
                code="ui.unknown-report",
            )
        return web.FileResponse(self.report_dir / name)

    # ---- lifecycle

    async def _shutdown(self, app: web.Application) -> None:
        self._closing.set()  # live streams end: the server need not wait for them

    async def _cleanup(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


#: Where an application keeps its dashboard (``app[DASHBOARD]``).
DASHBOARD = web.AppKey("eessi.dashboard", Dashboard)


def dashboard_app(dashboard: Dashboard, auth: AdminAuth) -> web.Application:
    """The ``/ui/`` sub-application of ``dashboard``: the pages, and the data behind ``auth``."""
    ui = web.Application()
    data = admin_subapp(auth, routes="/api/openapi.json")
    for method, path, handler in (
        ("GET", "/network", dashboard.network),
        ("GET", "/stream", dashboard.stream),
        ("GET", "/xml/{ir_id}/{direction}/{message_id}", dashboard.xml),
        ("GET", "/copies/{message_id}", dashboard.copies),
        ("GET", "/buc/{buc}", dashboard.buc),
        ("GET", "/demo", dashboard.demo_state),
        ("POST", "/demo/{action}", dashboard.demo_action),
        ("GET", "/reports/{name}", dashboard.report),
        ("*", "/node/{ir_id}/{tail:.*}", dashboard.proxy),
    ):
        data.router.add_route(method, path, handler)
    ui.add_subapp("/data/", data)
    ui.router.add_get("/", _page)
    ui.router.add_static("/static/", STATIC, append_version=False)
    ui.on_shutdown.append(dashboard._shutdown)
    ui.on_cleanup.append(dashboard._cleanup)
    return ui


async def _page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def add_dashboard(app: web.Application, node: Any, *, host: str | None = None) -> Dashboard:
    """Serve the dashboard of ``node`` at ``/ui/`` of ``app`` (before it starts), behind the
    admin API's auth rule; ``/`` leads there. Alone it shows ``node``; :func:`join_network`
    widens it to a network."""
    dashboard = Dashboard({node.entry.id: node}, here=node.entry.id)
    auth = admin_auth(app, host=host, token=None)
    app[DASHBOARD] = dashboard
    app.add_subapp("/ui/", dashboard_app(dashboard, auth))
    serve_root(app)
    return dashboard


def serve_root(app: web.Application) -> None:
    """``/`` leads to the dashboard; ``/favicon.ico`` is its icon (a page the dashboard links to,
    such as a conformance report, has the browser ask for it)."""
    taken = {r.canonical for r in app.router.resources()}
    if "/" not in taken:
        app.router.add_get("/", redirect_to_ui)
    if "/favicon.ico" not in taken:
        app.router.add_get("/favicon.ico", _favicon)


async def _favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "favicon.svg",
        headers={"Content-Type": "image/svg+xml", "Cache-Control": "max-age=86400"},
    )


async def redirect_to_ui(request: web.Request) -> web.Response:
    """``/``: the dashboard."""
    raise web.HTTPFound("/ui/")


def join_network(node: Any, nodes: Mapping[str, Any]) -> None:
    """Let the dashboard of ``node`` (if it has one) show every node of ``nodes`` (a live
    mapping: the nodes a network adds later are shown too)."""
    app = getattr(node, "app", None)
    dashboard = app.get(DASHBOARD) if isinstance(app, web.Application) else None
    if dashboard is not None:
        dashboard.nodes = nodes


def buc_graph(name: str, role: Role) -> dict[str, Any]:
    """The states and transitions of BUC ``name`` seen by ``role`` (as the state diagrams of
    docs/state-diagrams.md): ``{"states": [...], "edges": [{"from", "to", "steps"}]}``."""
    table = TRANSITIONS[name][role]
    edges: dict[tuple[str, str], list[str]] = {}
    for state, steps in table.items():
        for step, target in steps.items():
            if target is not state:
                edges.setdefault((state.value, target.value), []).append(str(step))
    return {
        "buc": name,
        "role": role.value,
        "states": [s.value for s in CaseState],
        "edges": [{"from": a, "to": b, "steps": s} for (a, b), s in edges.items()],
    }


#: Statuses a message does not leave: once read in one, it is not read again.
_SETTLED = frozenset(
    {
        MessageStatus.PROCESSED,
        MessageStatus.REJECTED,
        MessageStatus.REFUSED,
        MessageStatus.ACKNOWLEDGED,
        MessageStatus.FAILED,
    }
)


#: How far before its cursor a stream reads again (see :meth:`Follower._read`).
SINCE_MARGIN = timedelta(seconds=5)


class Follower:
    """What one live stream has read of the journals, to read only what is new each time.

    Per node: a ``since`` cursor (the latest time a message was received or created that it
    read: the next read asks for messages at or after it) and the messages not settled yet
    (queued, sending, waiting for a receipt, received...: read again one by one until they
    settle). A node whose journal object changed was reset: everything is read again and the
    stream told to clear. On a virtual clock that stands still, the messages of that one
    instant are read at each poll (the cursor cannot pass them), and on the wall clock those
    of the last :data:`SINCE_MARGIN`."""

    def __init__(self, nodes: Mapping[str, Any]) -> None:
        self.nodes = nodes
        self._journals: dict[str, Journal] = {}
        self._since: dict[str, datetime] = {}
        self._open: dict[str, dict[tuple[str, Direction], MessageRecord]] = {}
        #: The sender's and the receiver's record of each message, by (receiver, message ID).
        self._sent: dict[tuple[str, str], MessageRecord] = {}
        self._got: dict[tuple[str, str], MessageRecord] = {}
        #: How many records the last :meth:`changes` read (for tests and benchmarks).
        self.read = 0

    async def _read(self, ir_id: str, journal: Journal) -> list[MessageRecord]:
        since = self._since.get(ir_id)
        # A little earlier than the newest time read: a transaction that began before it
        # may commit after the read (its records carry the earlier time).
        records = await journal.messages(since=since - SINCE_MARGIN if since else None)
        again = self._open.setdefault(ir_id, {})
        fresh = {(r.message_id, r.direction) for r in records}
        for key in [k for k in again if k not in fresh]:
            rec = await journal.message(*key)
            if rec is not None:
                records.append(rec)
        for rec in records:
            key = (rec.message_id, rec.direction)
            if rec.status in _SETTLED:
                again.pop(key, None)
            else:
                again[key] = rec
            at = rec.received_at or rec.created_at
            if since is None or at > since:
                since = at
        if since is not None:
            self._since[ir_id] = since
        return records

    async def changes(self) -> tuple[bool, list[dict[str, Any]]]:
        """(whether a journal was reset, the arrows of the messages read now)."""
        cleared = False
        changed: dict[tuple[str, str], None] = {}
        self.read = 0
        for ir_id, node in list(self.nodes.items()):
            journal = node.journal
            if self._journals.get(ir_id) is not journal:
                if ir_id in self._journals:
                    cleared = True
                self._journals[ir_id] = journal
            if cleared:
                continue
            try:
                records = await self._read(ir_id, journal)
            except (EessiError, ValueError, AttributeError):  # closed while a reset restores
                continue
            self.read += len(records)
            for rec in records:
                key = (rec.receiver, rec.message_id)
                kept = self._sent if rec.direction is Direction.OUT else self._got
                if _state(kept.get(key)) != _state(rec):  # read again, unchanged: no arrow
                    kept[key] = rec
                    changed[key] = None
        if cleared:  # start again from nothing (the next poll reads the new journals)
            self._journals.clear()
            self._since.clear()
            self._open.clear()
            self._sent.clear()
            self._got.clear()
            return True, []
        here = set(self.nodes)
        out = []
        for key in changed:
            sent, got = self._sent.get(key), self._got.get(key)
            if sent is not None:
                out.append(_arrow(sent, got))
            elif got is not None and got.sender not in here:  # from a system not run here
                out.append(_arrow(None, got))
        return False, _causal(out)


def _state(rec: MessageRecord | None) -> tuple[Any, ...] | None:
    """What of a record an arrow shows and may change."""
    if rec is None:
        return None
    return (rec.status, rec.attempts, rec.last_error, rec.updated_at, rec.duplicates)


def _arrow(sent: MessageRecord | None, got: MessageRecord | None) -> dict[str, Any]:
    rec = sent if sent is not None else got
    assert rec is not None
    status = got.status.value if got is not None else rec.status.value
    return {
        "key": f"{rec.sender}>{rec.message_id}",
        "message_id": rec.message_id,
        "sender": rec.sender,
        "receiver": rec.receiver,
        "sed": rec.sed_type,
        "version": rec.sed_version,
        "case": rec.conversation_id,
        "ref": rec.ref_to_message_id,
        "status": status,
        "sent_status": sent.status.value if sent is not None else None,
        "received_status": got.status.value if got is not None else None,
        "attempts": sent.attempts if sent is not None else 0,
        "error": (got.last_error if got is not None else None)
        or (sent.last_error if sent is not None else None),
        "at": _time(rec.created_at),
        # Where to open it: the receiver's copy when it arrived here (its validation is the
        # one that counted), else the sender's.
        "open": {"institution": rec.receiver, "direction": "in"}
        if got is not None
        else {"institution": rec.sender, "direction": "out"},
    }


def _causal(arrows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``arrows`` by the envelope's time; at one time (a virtual clock that does not move) an
    answer after the document it answers, each sender's in its journal order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for a in arrows:
        groups.setdefault(a["at"] or "", []).append(a)
    out: list[dict[str, Any]] = []
    for at in sorted(groups):
        group = groups[at]
        pending = {a["message_id"] for a in group}
        while group:
            pick = next(
                (i for i, a in enumerate(group) if a["ref"] not in pending or a["ref"] is None),
                0,
            )
            arrow = group.pop(pick)
            pending.discard(arrow["message_id"])
            out.append(arrow)
    return out


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _has_mock_routes(node: Any) -> bool:
    app = getattr(node, "app", None)
    if not isinstance(app, web.Application):
        return False
    return any(r.canonical.startswith("/api/mock") for r in app.router.resources())
