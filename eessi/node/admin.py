"""The admin / REST API of one institution: JSON under ``/api/``, described by OpenAPI.

What an operator (or a test, or the dashboard) can ask an institution: its health and directory
entry, its cases with their timelines, its messages with their exact bytes and validation
reports; and what it can tell it: start a request (``POST /api/requests``), process due timers
now (``POST /api/tick``). The routes are listed in :mod:`eessi.node.openapi`, served at
``GET /api/openapi.json``; ``docs/admin-api.md`` is the guide.

Mounting: :func:`add_admin_routes` adds a sub-application at ``/api/`` to the node's aiohttp
application, so its middlewares (errors as JSON, the token check) touch only ``/api/`` and never
the AS4 endpoint. It reads through a small :class:`AdminTarget` protocol (the
:class:`~eessi.node.institution.Institution` satisfies it), so it has no other tie to the node.

Errors, authentication and request bodies are the admin stack's, shared with a mock fund's
routes (:mod:`eessi.node.http_api`): every error is JSON ``{"error": {"code", "message",
"where", "hint"}}`` with a status that says whose fault it is: 400 a malformed request
(``where`` is a JSON pointer into the body, or the query parameter; a body nested too deep
too), 401 a missing or wrong token, 404 an unknown route, case or message, 405 a wrong method,
409 a step the case's state does not allow, 413 a body too large, 415 a body that is not JSON,
422 a request the core refuses (unknown person), 503 a journal that cannot be read.

Authentication: when the server is bound to anything other than loopback, every ``/api/``
request needs ``Authorization: Bearer <token>``; :func:`require_token` is what the node calls
before binding (it refuses to run exposed without a token). On loopback the token is optional,
but enforced if one is set; without one, a request that did not arrive over loopback (read
from the socket) is refused. Tokens are compared in constant time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web

from eessi import __version__
from eessi.clock import Clock, parse_instant
from eessi.clock import after as moved_by
from eessi.directory import InstitutionEntry
from eessi.errors import ConfigError, EessiError, JournalError
from eessi.journal import CaseEvent as JournalEvent
from eessi.journal import Direction, Journal, MessageRecord, MessageStatus
from eessi.node.admin_requests import REQUEST_KINDS, DeskKind, RequestError, RequestKind, kinds_for
from eessi.node.admin_requests import parse_request as _parse_request
from eessi.node.clock_control import ClockTarget, control_of, reset_of
from eessi.node.http_api import (
    ADMIN_TOKEN_ENV,
    MAX_BODY,
    ApiError,
    admin_auth,
    admin_subapp,
    is_loopback,
    read_json,
    require_token,
    status_of,
)
from eessi.node.openapi import MAX_BATCH, OPENAPI_EXTENSIONS, openapi_document
from eessi.node.records import event_case, event_json, jsonable
from eessi.node.shared_views import views_of
from eessi.sed.validate import validate

__all__ = [
    "ADMIN_TOKEN_ENV",
    "CLOCK_ROUTES",
    "DEFAULT_LIMIT",
    "DESK_LOG",
    "MAX_BATCH",
    "MAX_BATCH_BODY",
    "MAX_BODY",
    "MAX_LIMIT",
    "MAX_PROBLEMS",
    "PSEUDO_CASE_PREFIX",
    "AdminTarget",
    "ApiError",
    "add_admin_routes",
    "is_loopback",
    "require_token",
    "status_counts",
]

#: The largest body ``POST /api/requests/batch`` reads (at most ``MAX_BATCH`` requests).
MAX_BATCH_BODY = 1024 * 1024
#: Case IDs the node uses for its own logs (``~inputs``, ``~desk``) start with this: not cases.
PSEUDO_CASE_PREFIX = "~"
#: The node's pseudo case of domain events that belong to no case (decisions, requests for
#: documents): listed by ``GET /api/events``.
DESK_LOG = "~desk"
#: The most problems ``GET /api/health`` lists (their count is in ``messages_by_status``).
MAX_PROBLEMS = 20
#: Page size of the listings when ``limit`` is not given, and the most one may ask for.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class AdminTarget(Protocol):
    """What the admin API needs of an institution node (the ``Institution`` has all of it)."""

    @property
    def entry(self) -> InstitutionEntry: ...

    @property
    def journal(self) -> Journal: ...

    @property
    def desk(self) -> Any: ...

    @property
    def clock(self) -> Clock: ...

    async def submit(self, input: Any, *, messages: list[str] | None = None) -> Any:
        """Submit a core input; ``messages`` gets the IDs of the outbound messages journaled."""
        ...

    async def tick(self, *, messages: list[str] | None = None) -> Any: ...


# --------------------------------------------------------------------------- JSON helpers


def _event_json(event: Any) -> dict[str, Any]:
    """A domain event as the journal stores it (``kind``, ``data``) and its ``case_id``."""
    kind, data = event_json(event)
    return {"kind": kind, "case_id": event_case(event), "data": data}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=jsonable)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=_dumps)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _message_json(m: MessageRecord) -> dict[str, Any]:
    return {
        "message_id": m.message_id,
        "direction": m.direction.value,
        "status": m.status.value,
        "sender": m.sender,
        "receiver": m.receiver,
        "case_id": m.conversation_id,
        "ref_to_message_id": m.ref_to_message_id,
        "sed_type": m.sed_type,
        "sed_version": m.sed_version,
        "service": m.service,
        "action": m.action,
        "created_at": _time(m.created_at),
        "received_at": _time(m.received_at),
        "sent_at": _time(m.sent_at),
        "updated_at": _time(m.updated_at),
        "attempts": m.attempts,
        "next_attempt_at": _time(m.next_attempt_at),
        "last_error": m.last_error,
        "duplicates": m.duplicates,
        "payload_bytes": len(m.payload),
        "envelope_bytes": len(m.envelope),
    }


def _message_time(m: MessageRecord) -> datetime:
    return m.received_at or m.created_at


# --------------------------------------------------------------------------- query parameters


def _query_choice(request: web.Request, name: str, choices: Sequence[str]) -> list[str] | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    values = [v.strip() for v in raw.split(",") if v.strip()]
    for v in values:
        if v not in choices:
            raise ApiError(
                400,
                f"query parameter {name!r} cannot be {v!r}",
                where=f"query parameter {name!r}",
                hint=f"use one of {', '.join(choices)} (several separated by commas)",
                code="admin.bad-query",
            )
    return values


def _query_since(request: web.Request) -> datetime | None:
    raw = request.query.get("since")
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(raw.strip().replace(" ", "+"))
    except ValueError:
        when = None
    if when is None or when.utcoffset() is None:
        raise ApiError(
            400,
            f"query parameter 'since' is not a date-time with a time zone: {raw!r}",
            where="query parameter 'since'",
            hint="give an ISO 8601 date-time with its offset, e.g. 2026-01-05T09:00:00Z",
            code="admin.bad-query",
        )
    return when


def _query_limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(
            400,
            f"query parameter 'limit' must be a whole number from 1 to {MAX_LIMIT}: {raw!r}",
            where="query parameter 'limit'",
            hint=f"ask for at most {MAX_LIMIT} items a page and follow 'next'",
            code="admin.bad-query",
        )
    return int(raw)


def _page(request: web.Request, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One page of ``items`` (already filtered, in listing order), by cursor ``after``."""
    limit = _query_limit(request)
    after = request.query.get("after")
    start = 0
    if after is not None:
        ids = [item[key] for item in items]
        if after not in ids:
            raise ApiError(
                400,
                f"query parameter 'after' names no listed item: {after!r}",
                where="query parameter 'after'",
                hint="pass the 'next' value of the previous page, with the same filters",
                code="admin.bad-query",
            )
        start = ids.index(after) + 1
    page = items[start : start + limit]
    more = start + limit < len(items)
    return {"items": page, "next": page[-1][key] if more and page else None}


# --------------------------------------------------------------------------- the API


class _Api:
    """The handlers, bound to one institution."""

    def __init__(self, target: AdminTarget, *, started_at: datetime) -> None:
        self.target = target
        self.started_at = started_at

    # ---- helpers

    @property
    def desk_kind(self) -> DeskKind:
        return "cns" if self.target.entry.kind == "cns" else "fund"

    def _desk_cases(self) -> Mapping[str, Any]:
        snapshot = getattr(self.target.desk, "snapshot", None)
        if snapshot is None:
            return {}
        cases = getattr(snapshot(), "cases", None)
        return cases if isinstance(cases, Mapping) else {}

    async def _message(self, request: web.Request) -> MessageRecord:
        message_id = request.match_info["message_id"]
        direction = _query_choice(request, "direction", [d.value for d in Direction])
        chosen = Direction(direction[0]) if direction else None
        record = await self.target.journal.message(message_id, chosen)
        if record is None:
            raise ApiError(
                404,
                f"no message {message_id!r} in the journal of {self.target.entry.id}",
                where=f"message {message_id}",
                hint="list the messages with GET /api/messages",
                code="admin.unknown-message",
            )
        return record

    async def _case_summaries(self, only: str | None = None) -> list[dict[str, Any]]:
        """Every case (or only the case ``only``) as the listing shows it."""
        journal = self.target.journal
        me = self.target.entry.id
        desk_cases = self._desk_cases()
        if only is None:
            snapshots = {s.case_id: s for s in await journal.cases()}
        else:
            desk_cases = {only: desk_cases[only]} if only in desk_cases else {}
            snap = await journal.case(only)
            snapshots = {only: snap} if snap is not None else {}
        by_case: dict[str, list[MessageRecord]] = {}
        for m in await journal.messages(case=only):
            by_case.setdefault(m.conversation_id, []).append(m)
        out = []
        for case_id in sorted(set(desk_cases) | set(snapshots) | set(by_case)):
            if case_id.startswith(PSEUDO_CASE_PREFIX):
                continue
            cf = desk_cases.get(case_id)
            snap = snapshots.get(case_id)
            stored = snap.state if snap is not None else {}
            msgs = by_case.get(case_id, [])
            peers = sorted({m.receiver if m.sender == me else m.sender for m in msgs})
            times = [_message_time(m) for m in msgs]
            if snap is not None:
                times.append(snap.updated_at)
            summary: dict[str, Any] = {
                "case_id": case_id,
                "buc": cf.buc if cf is not None else stored.get("buc"),
                "state": cf.state.value if cf is not None else stored.get("state"),
                "role": cf.snapshot.role.value if cf is not None else stored.get("role"),
                "counterparty": cf.peer
                if cf is not None
                else stored.get("peer", peers[0] if peers else None),
                "opened_at": _time(cf.snapshot.opened_at)
                if cf is not None
                else stored.get("opened_at"),
                "updated_at": _time(max(times)) if times else None,
                "messages": len(msgs),
            }
            if cf is not None:
                summary["member"] = str(cf.member) if cf.member is not None else None
                summary["person"] = cf.person
                wait = cf.snapshot.wait
                summary["waiting_for"] = (
                    None
                    if wait is None
                    else {
                        "sed": wait.sed,
                        "sender": wait.sender.value,
                        "deadline": _time(wait.deadline),
                    }
                )
            else:
                awaiting = stored.get("awaiting")
                summary["member"] = stored.get("member")
                summary["person"] = stored.get("person")
                summary["waiting_for"] = (
                    {
                        "sed": awaiting.get("sed"),
                        "sender": awaiting.get("from"),
                        "deadline": awaiting.get("deadline"),
                    }
                    if isinstance(awaiting, Mapping)
                    else None
                )
            out.append(summary)
        return out

    # ---- routes

    async def live(self, request: web.Request) -> web.Response:
        """The process serves HTTP: for a container's health check (no journal read)."""
        return _json({"institution": self.target.entry.id, "live": True})

    async def ready(self, request: web.Request) -> web.Response:
        """Ready to take messages: the journal is restored and the endpoint is open (503 while
        a network reset restores, or while stopping). A target without the notion is ready."""
        ready = bool(getattr(self.target, "ready", True))
        body: dict[str, Any] = {"institution": self.target.entry.id, "ready": ready}
        if not ready:
            body["why"] = "restoring the journal (a reset) or stopping: not taking messages"
        return _json(body, status=200 if ready else 503)

    async def health(self, request: web.Request) -> web.Response:
        entry = self.target.entry
        now = self.target.clock.now()
        body: dict[str, Any] = {
            "institution": entry.id,
            "kind": entry.kind,
            "version": __version__,
            "now": _time(now),
            "uptime_seconds": max(0.0, (now - self.started_at).total_seconds()),
        }
        try:
            by_status = await status_counts(self.target.journal)
        except JournalError as exc:
            body.update(status="unavailable", journal={"ok": False, "error": exc.to_dict()})
            return _json(body, status=503)
        body.update(
            status="ok",
            journal={"ok": True, "messages": sum(by_status.values())},
            messages_by_status=dict(sorted(by_status.items())),
        )
        if by_status.get(MessageStatus.PROCESSING_FAILED.value):
            body.update(status="degraded", problems=await self._problems())
        node = {
            name: jsonable(getattr(self.target, name))
            for name in ("busy", "parked", "stats")
            if hasattr(self.target, name)
        }
        if node:
            body["node"] = node
        return _json(body)

    async def _problems(self) -> list[dict[str, Any]]:
        """What makes the institution degraded: the inbound messages its worker failed on."""
        failed = await self.target.journal.messages(
            direction=Direction.IN, status=MessageStatus.PROCESSING_FAILED
        )
        return [
            {
                "problem": "processing_failed",
                "message_id": m.message_id,
                "case_id": m.conversation_id,
                "sed_type": m.sed_type,
                "sender": m.sender,
                "since": _time(m.updated_at),
                "reason": m.last_error,
                "hint": "remove the cause (see the reason and the institution's log), then"
                " POST /api/retry-failed (a mock fund's POST /api/mock/reset does both)",
            }
            for m in failed[:MAX_PROBLEMS]
        ]

    async def institution(self, request: web.Request) -> web.Response:
        body = self.target.entry.to_dict()
        body["requests"] = kinds_for(self.desk_kind)
        return _json(body)

    async def openapi(self, request: web.Request) -> web.Response:
        # config_dict looks through to the node's application, where extensions register.
        extensions = request.config_dict.get(OPENAPI_EXTENSIONS, [])
        return _json(openapi_document(self.target.entry, extensions))

    async def cases(self, request: web.Request) -> web.Response:
        states = _query_choice(request, "state", _CASE_STATES)
        bucs = request.query.getall("buc", [])
        counterparty = request.query.get("counterparty")
        since = _query_since(request)
        items = []
        for c in await self._case_summaries():
            if states is not None and c["state"] not in states:
                continue
            if bucs and c["buc"] not in bucs:
                continue
            if counterparty is not None and c["counterparty"] != counterparty:
                continue
            if since is not None and (
                c["updated_at"] is None or datetime.fromisoformat(c["updated_at"]) < since
            ):
                continue
            items.append(c)
        return _json(_page(request, items, "case_id"))

    async def case(self, request: web.Request) -> web.Response:
        case_id = request.match_info["case_id"]
        summaries = {c["case_id"]: c for c in await self._case_summaries(case_id)}
        if case_id not in summaries:
            raise ApiError(
                404,
                f"no case {case_id!r} at {self.target.entry.id}",
                where=f"case {case_id}",
                hint="list the cases with GET /api/cases",
                code="admin.unknown-case",
            )
        journal = self.target.journal
        events = await journal.case_events(case_id)
        messages = await journal.messages(case=case_id)
        timeline = _timeline(messages, events)
        snap = await journal.case(case_id)
        body = dict(summaries[case_id])
        body["snapshot"] = dict(snap.state) if snap is not None else None
        body["timeline"] = timeline
        return _json(body)

    async def messages(self, request: web.Request) -> web.Response:
        directions = _query_choice(request, "direction", [d.value for d in Direction])
        statuses = _query_choice(request, "status", [s.value for s in MessageStatus])
        seds = [s for v in request.query.getall("sed", []) for s in v.split(",") if s]
        records = await self.target.journal.messages(
            case=request.query.get("case"),
            institution=request.query.get("counterparty"),
            direction=Direction(directions[0]) if directions and len(directions) == 1 else None,
            status=[MessageStatus(s) for s in statuses] if statuses is not None else None,
            since=_query_since(request),
        )
        items = [
            _message_json(m)
            for m in records
            if (not seds or m.sed_type in seds)
            and (directions is None or m.direction.value in directions)
        ]
        return _json(_page(request, items, "message_id"))

    async def message(self, request: web.Request) -> web.Response:
        record = await self._message(request)
        body = _message_json(record)
        body["links"] = {
            "raw": f"/api/messages/{record.message_id}/raw",
            "envelope": f"/api/messages/{record.message_id}/raw?part=envelope",
            "validation": f"/api/messages/{record.message_id}/validation",
            "case": f"/api/cases/{record.conversation_id}",
        }
        return _json(body)

    async def raw(self, request: web.Request) -> web.Response:
        part = _query_choice(request, "part", ["payload", "envelope"])
        record = await self._message(request)
        if part == ["envelope"]:
            if not record.envelope:
                raise ApiError(
                    404,
                    f"message {record.message_id!r} has no envelope yet",
                    where=f"message {record.message_id}",
                    hint="an outbound message gets its envelope when it is first sent; ask for"
                    " the payload (no 'part') instead",
                    code="admin.no-envelope",
                )
            data = record.envelope
        else:
            data = record.payload
        return web.Response(
            body=data,
            content_type="application/xml",
            headers={"Content-Disposition": f'inline; filename="{record.message_id}.xml"'},
        )

    async def validation(self, request: web.Request) -> web.Response:
        record = await self._message(request)
        report = await asyncio.to_thread(validate, record.payload)
        body = {"message_id": record.message_id, "direction": record.direction.value}
        body.update(report.to_dict())
        return _json(body)

    async def events(self, request: web.Request) -> web.Response:
        kinds = [k for v in request.query.getall("kind", []) for k in v.split(",") if k]
        since = _query_since(request)
        items = [
            {
                "seq": str(e.seq),
                "at": _time(e.at),
                "kind": e.kind,
                "data": dict(e.data),
                "message_id": e.message_id,
            }
            for e in await self.target.journal.case_events(DESK_LOG)
            if (not kinds or e.kind in kinds) and (since is None or e.at >= since)
        ]
        return _json(_page(request, items, "seq"))

    async def households(self, request: web.Request) -> web.Response:
        desk = self.target.desk
        registry = getattr(desk, "registry", None)
        if self.desk_kind != "cns" or registry is None:
            raise ApiError(
                404,
                f"{self.target.entry.id} is not the CNS: it has no households",
                where="GET /api/households",
                hint="a foreign fund lists the people it knows at GET /api/records",
                code="admin.not-available",
            )
        views = views_of(self.target)  # a shared institution: every partition's desk (D195)
        registrations = (
            await views.registrations() if views is not None else getattr(desk, "registrations", {})
        )
        items = []
        for entry in registry:
            hh = entry.household
            items.append(
                {
                    "key": entry.key,
                    "main_insured": [
                        {"id": m.id, "pin": m.pin, "name": m.name} for m in hh.main_insured
                    ],
                    "members": [
                        {
                            "id": m.id,
                            "name": m.name,
                            "relation": m.relation.value,
                            "registration": _registration(registrations, entry.key, m.id),
                        }
                        for m in hh.members
                    ],
                }
            )
        return _json(_page(request, items, "key"))

    async def records(self, request: web.Request) -> web.Response:
        records = getattr(self.target.desk, "records", None)
        if self.desk_kind != "fund" or not isinstance(records, Mapping):
            raise ApiError(
                404,
                f"{self.target.entry.id} is not a foreign fund: it has no fund records",
                where="GET /api/records",
                hint="the CNS lists its households at GET /api/households",
                code="admin.not-available",
            )
        items = [
            {"key": key, "person": jsonable(rec.person), "status": type(rec.status).__name__}
            for key, rec in records.items()
        ]
        return _json(_page(request, items, "key"))

    async def submit(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        kind, core_input = parse_request(body, self.desk_kind)
        messages: list[str] = []
        step = await self.target.submit(core_input, messages=messages)
        return _json(self._step_json(kind.name, step, messages), status=202)

    async def submit_batch(self, request: web.Request) -> web.Response:
        """Several requests in one call: each is checked and submitted on its own (together,
        so the node journals them in few commits); one refused does not stop the others."""
        body = await read_json(
            request, limit=MAX_BATCH_BODY, hint='send [{"kind": "co_insurance_request", ...}, ...]'
        )
        if not isinstance(body, list):
            raise RequestError(
                f"the body is a JSON {type(body).__name__}, not a list of requests",
                where="",
                hint='send [{"kind": "co_insurance_request", ...}, ...]',
                code="admin.bad-batch",
            )
        if len(body) > MAX_BATCH:
            raise ApiError(
                413,
                f"the batch has {len(body)} requests; at most {MAX_BATCH} are taken",
                where="",
                hint=f"split it into batches of at most {MAX_BATCH}",
                code="admin.batch-too-large",
            )
        results = await asyncio.gather(*(self._one(i, item) for i, item in enumerate(body)))
        return _json(
            {
                "accepted": sum(1 for r in results if r["status"] == 202),
                "refused": sum(1 for r in results if r["status"] != 202),
                "results": results,
            },
            status=202,
        )

    async def _one(self, index: int, item: object) -> dict[str, Any]:
        pointer = f"/{index}"
        try:
            kind, core_input = parse_request(item, self.desk_kind)
            messages: list[str] = []
            step = await self.target.submit(core_input, messages=messages)
        except EessiError as exc:
            error = exc.to_dict()
            if isinstance(exc, RequestError):  # a pointer into the item: into the batch
                error["where"] = pointer + (exc.where or "")
            return {"index": index, "pointer": pointer, "status": status_of(exc), "error": error}
        return {
            "index": index,
            "pointer": pointer,
            "status": 202,
            "result": self._step_json(kind.name, step, messages),
        }

    async def retry_failed(self, request: web.Request) -> web.Response:
        """The inbound messages the worker failed on (``processing_failed``) to the desk again."""
        body = await read_json(request, empty={}, hint='send {} or {"case": "<case ID>"}')
        if not isinstance(body, Mapping) or set(body) - {"case"}:
            raise RequestError(
                'the body is {} (every failed message) or {"case": ID} (those of one case)',
                where="",
                hint='send {} or {"case": "<case ID>"}',
                code="admin.bad-request",
            )
        case = body.get("case")
        if case is not None and (not isinstance(case, str) or not case):
            raise RequestError(
                "case must be a case ID", where="/case", hint='send {"case": "<case ID>"}'
            )
        retry = getattr(self.target, "retry_failed", None)
        retried = list(await retry(case=case)) if retry is not None else []
        return _json({"retried": retried, "case": case}, status=202)

    async def clock_state(self, request: web.Request) -> web.Response:
        control = control_of(self.target) if isinstance(self.target, ClockTarget) else None
        now = self.target.clock.now()
        return _json(
            {
                "virtual": control is not None,
                "now": _time(now),
                "start": _time(control.start) if control is not None else None,
                "institutions": (
                    [m.id for m in control.members] if control else [self.target.entry.id]
                ),
            }
        )

    async def move_clock(self, request: web.Request) -> web.Response:
        """Move a virtual clock (every institution sharing it) and tell what became due."""
        hint = 'send {"advance": "P2M"} or {"to": "2026-03-01T09:00:00Z"} (ISO 8601)'
        control = control_of(self.target) if isinstance(self.target, ClockTarget) else None
        if control is None:
            raise ApiError(
                409,
                f"{self.target.entry.id} runs on the wall clock, which cannot be moved",
                where="POST /api/clock",
                hint="start it with a clock that moves only when told: eessi up --virtual-clock"
                " (or eessi serve --virtual-clock)",
                code="clock.not-virtual",
            )
        body = await read_json(request, hint=hint)
        if not isinstance(body, Mapping) or len(set(body) & {"advance", "to"}) != 1:
            raise RequestError(
                'the body is {"advance": DURATION} or {"to": DATE-TIME}, one of the two',
                where="",
                hint=hint,
                code="clock.bad-request",
            )
        extra = sorted(set(body) - {"advance", "to"})
        if extra:
            raise RequestError(
                f"unknown field {extra[0]!r}", where=f"/{extra[0]}", hint=hint,
                code="clock.bad-request",
            )  # fmt: skip
        key = "advance" if "advance" in body else "to"
        value = body[key]
        now = control.clock.now()
        try:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string, not {type(value).__name__}")
            when = moved_by(now, value) if key == "advance" else parse_instant(value)
        except ValueError as exc:
            raise RequestError(
                str(exc), where=f"/{key}", hint=hint, code="clock.bad-time"
            ) from None
        if when < now:
            raise ApiError(
                409,
                f"{when.isoformat()} is before the clock's time {now.isoformat()}: a virtual"
                " clock never goes backwards",
                where="/to",
                hint="give a later time, or POST /api/reset to start the run again",
                code="clock.backwards",
            )
        moved = await control.move_to(when)
        return _json(moved.to_json(start=control.start))

    async def reset_network(self, request: web.Request) -> web.Response:
        """Every institution of the network back to the start (``Network.reset``), or this one
        alone when it runs as its own process (:mod:`eessi.node.admin_reset`)."""
        await read_json(request, empty={}, hint="send {} (or nothing)")
        reset = reset_of(self.target)
        if reset is None:
            raise ApiError(
                409,
                f"{self.target.entry.id} does not run in a network of this process",
                where="POST /api/reset",
                hint="eessi up and eessi serve serve POST /api/reset; a node built in code"
                " gets it from eessi.node.admin_reset.attach_lone_reset (a mock fund's rules"
                " alone: POST /api/mock/reset)",
                code="reset.not-a-network",
            )
        try:
            done = await reset()
        except ConfigError as exc:
            raise ApiError(
                409, exc.message, where=exc.where, hint=exc.hint, code=exc.code
            ) from None
        return _json(done)

    async def tick(self, request: web.Request) -> web.Response:
        messages: list[str] = []
        step = await self.target.tick(messages=messages)
        return _json(self._step_json("tick", step, messages))

    def _step_json(self, kind: str, step: Any, messages: list[str]) -> dict[str, Any]:
        """The answer to a request: ``messages`` are the IDs the node journaled for the step
        (it tells them; nothing is searched in the journal)."""
        events = tuple(getattr(step, "events", ()))
        outgoing = tuple(getattr(step, "outgoing", ()))
        cases = _case_ids(events, outgoing)
        return {
            "kind": kind,
            "at": _time(self.target.clock.now()),
            "cases": cases,
            "messages": list(messages),
            "outgoing": [
                {
                    "receiver": o.receiver,
                    "case_id": o.case_id,
                    "buc": o.buc,
                    "sed": type(o.sed).__name__,
                    "document_id": o.document_id,
                    "answers": o.answers,
                }
                for o in outgoing
            ],
            "events": [_event_json(e) for e in events],
        }


def _timeline(messages: list[MessageRecord], events: list[JournalEvent]) -> list[dict[str, Any]]:
    """Messages (in journal order) and case events (in seq order) merged into one history.

    Both lists are already in the order things happened; only their interleaving is to find.
    The earlier time goes first. At equal times (a virtual clock that does not move, or one
    transaction) causality decides: an inbound message comes before the events it caused (they
    name it in ``message_id``); an outbound message comes after the event that announced its
    document (``data.document_id``: the node names a message after its document), and before
    the events of a later input.
    """
    out: list[dict[str, Any]] = []
    emitted: set[str] = set()
    announced: set[str] = set()
    i = j = 0

    def take_message() -> None:
        nonlocal i
        m = messages[i]
        i += 1
        emitted.add(m.message_id)
        out.append({"type": "message", "at": _time(_message_time(m)), **_message_json(m)})

    def take_event() -> None:
        nonlocal j
        e = events[j]
        j += 1
        document = e.data.get("document_id")
        if isinstance(document, str):
            announced.add(document)
        out.append(
            {
                "type": "event",
                "at": _time(e.at),
                "seq": e.seq,
                "kind": e.kind,
                "data": dict(e.data),
                "message_id": e.message_id,
            }
        )

    while i < len(messages) and j < len(events):
        m, e = messages[i], events[j]
        mt, et = _message_time(m), e.at
        if mt != et:
            message_first = mt < et
        else:
            later_input = e.message_id is not None and e.message_id not in emitted
            message_first = later_input or (
                m.direction is Direction.OUT and m.message_id.partition("~")[0] in announced
            )
        if message_first:
            take_message()
        else:
            take_event()
    while i < len(messages):
        take_message()
    while j < len(events):
        take_event()
    return out


_CASE_STATES = [
    "new",
    "awaiting-reply",
    "awaiting-confirmation",
    "completed",
    "rejected",
    "withdrawn",
    "closed",
]


def _registration(registrations: Any, household: str, member: str) -> dict[str, Any] | None:
    if not isinstance(registrations, Mapping):
        return None
    for ref, reg in registrations.items():
        if getattr(ref, "household", None) == household and getattr(ref, "member", None) == member:
            value = jsonable(reg)
            return value if isinstance(value, dict) else None
    return None


def _case_ids(events: Iterable[Any], outgoing: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for item in (*events, *outgoing):
        case_id = getattr(item, "case_id", None)
        if isinstance(case_id, str) and case_id:
            seen[case_id] = None
    return list(seen)


async def status_counts(journal: Journal) -> dict[str, int]:
    """How many messages the journal holds in each status.

    A journal with ``message_counts()`` answers with one ``GROUP BY`` query; any other one is
    read through :meth:`~eessi.journal.base.Journal.messages` (every record, blobs included)."""
    counts = getattr(journal, "message_counts", None)
    if callable(counts):
        found = await counts()
        return {str(k): int(v) for k, v in dict(found).items()}
    return dict(Counter(m.status.value for m in await journal.messages()))


def parse_request(body: object, desk: DeskKind) -> tuple[RequestKind, object]:
    """Check a request body for a desk of this kind (see :mod:`eessi.node.admin_requests`)."""
    return _parse_request(body, desk, REQUEST_KINDS)


#: (method, path under /api, handler name): the routes, in the order the OpenAPI lists them.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/health/live", "live"),
    ("GET", "/health/ready", "ready"),
    ("GET", "/health", "health"),
    ("GET", "/institution", "institution"),
    ("GET", "/openapi.json", "openapi"),
    ("GET", "/cases", "cases"),
    ("GET", "/cases/{case_id}", "case"),
    ("GET", "/messages", "messages"),
    ("GET", "/messages/{message_id}", "message"),
    ("GET", "/messages/{message_id}/raw", "raw"),
    ("GET", "/messages/{message_id}/validation", "validation"),
    ("GET", "/events", "events"),
    ("GET", "/households", "households"),
    ("GET", "/records", "records"),
    ("POST", "/requests", "submit"),
    ("POST", "/requests/batch", "submit_batch"),
    ("POST", "/tick", "tick"),
    ("POST", "/retry-failed", "retry_failed"),
)

#: The clock routes (described in :mod:`eessi.node.clock_openapi`, part of the document).
CLOCK_ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", "/clock", "clock_state"),
    ("POST", "/clock", "move_clock"),
    ("POST", "/reset", "reset_network"),
)


def add_admin_routes(
    app: web.Application,
    institution: AdminTarget,
    *,
    token: str | None = None,
    host: str | None = None,
) -> None:
    """Mount the admin API of ``institution`` under ``/api/`` of ``app`` (before it starts).

    ``token``: the bearer token to require; default: the ``EESSI_ADMIN_TOKEN`` environment
    variable. ``host``: the address the server binds; default: the host of the entry's endpoint.
    Raises :class:`~eessi.errors.ConfigError` if ``host`` is not loopback and there is no token
    (see :func:`require_token`).
    """
    if host is None:
        host = urlsplit(institution.entry.endpoint).hostname
    auth = admin_auth(app, host=host, token=token)
    api = _Api(institution, started_at=institution.clock.now())
    sub = admin_subapp(auth, routes="/api/openapi.json", dumps=_dumps)
    for method, path, name in ROUTES + CLOCK_ROUTES:
        sub.router.add_route(method, path, getattr(api, name))
    app.add_subapp("/api/", sub)
