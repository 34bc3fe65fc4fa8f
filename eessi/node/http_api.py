"""The one HTTP stack of the admin routes: one auth rule, one error format, one body reader.

Every JSON route set an institution serves next to its AS4 endpoint (the node's admin API at
``/api/``, a mock fund's routes at ``/api/mock/``) is an aiohttp sub-application built with
:func:`admin_subapp`, so they cannot drift apart:

* **Auth** (:class:`AdminAuth`, one per application, shared by its route sets through
  :data:`ADMIN_AUTH`): with a token, every request needs ``Authorization: Bearer <token>``
  (compared in constant time), wherever it comes from. Without one, a request is served only if
  it really arrived over loopback: the socket's own address *and* its peer's address are
  loopback (or a Unix socket). A ``Host`` header is never looked at; it is the client's to say.
  :func:`require_token` refuses, before binding, to mount routes on a non-loopback host
  without a token.
* **Errors**: every refusal is JSON ``{"error": {"code", "message", "where", "hint"}}``
  (:meth:`~eessi.errors.EessiError.to_dict`: what, where, why, what to do) with a status that
  says whose fault it is (:func:`status_of`); an unexpected exception is a 500 in the same
  format, its traceback in the log.
* **Bodies** (:func:`read_json`): at most ``limit`` bytes (413), JSON content (415 for another
  media type), at most :data:`MAX_DEPTH` levels of nesting (400 ``admin.too-deep``: a deeply
  nested body would otherwise exhaust Python's recursion in the parser), valid JSON (400).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from eessi.errors import (
    AdminError,
    ConfigError,
    DomainError,
    EessiError,
    JournalError,
    ProtocolError,
)
from eessi.node.admin_requests import RequestError

__all__ = [
    "ADMIN_AUTH",
    "ADMIN_TOKEN_ENV",
    "JSON_MEDIA_TYPES",
    "MAX_BODY",
    "MAX_DEPTH",
    "AdminAuth",
    "ApiError",
    "admin_auth",
    "admin_subapp",
    "arrived_on_loopback",
    "error_response",
    "is_loopback",
    "json_depth_error",
    "read_json",
    "require_token",
    "status_of",
]

_log = logging.getLogger(__name__)

#: The environment variable the admin token is read from when none is passed.
ADMIN_TOKEN_ENV = "EESSI_ADMIN_TOKEN"
#: Largest request body read by default (a request is a small JSON object).
MAX_BODY = 64 * 1024
#: Deepest nesting of arrays and objects a request body may have (the deepest route body, a
#: list of mock rules with overrides, has 5 levels).
MAX_DEPTH = 32
#: Content types a JSON body may be sent with (and ``*/*+json``). The generic ones are what
#: clients send when not told otherwise (``curl -d``: ``application/x-www-form-urlencoded``;
#: raw bytes: ``application/octet-stream``): taken, and read as JSON, so one-liners work.
#: Any other (a form upload, XML, HTML) is refused with 415.
JSON_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
    }
)


class ApiError(AdminError):
    """An admin API refusal; ``status`` is the HTTP status it is answered with."""

    code = "admin.error"

    def __init__(self, status: int, message: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status = status


# --------------------------------------------------------------------------- auth


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is a loopback name or address (``127.0.0.0/8``, ``::1``, ``localhost``,
    an IPv4-mapped loopback such as ``::ffff:127.0.0.1``).

    An empty host, ``0.0.0.0`` and ``::`` bind every interface: not loopback.
    """
    if not host:
        return False
    name = host.strip("[]").lower().partition("%")[0]
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def require_token(host: str | None, token: str | None) -> str | None:
    """The token the admin routes must enforce for a server bound to ``host``.

    Returns ``token`` (``None`` when there is none, which only loopback allows). Raises
    :class:`~eessi.errors.ConfigError` when ``host`` is not loopback and there is no token: an
    admin API open to the network without a token could start requests for anyone.
    """
    if token is not None and not token.strip():
        raise ConfigError(
            "the admin token is empty",
            where=ADMIN_TOKEN_ENV,
            hint="give a long random token (e.g. `python -c 'import secrets;"
            " print(secrets.token_urlsafe(32))'`) or none at all on loopback",
            code="admin.no-token",
        )
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"the admin API would listen on {host or 'every interface'!r} without a token",
            where=ADMIN_TOKEN_ENV,
            hint=f"set {ADMIN_TOKEN_ENV} (or the token option) to a long random value, or bind"
            " to 127.0.0.1",
            code="admin.no-token",
        )
    return token


def arrived_on_loopback(
    request: web.Request, is_local: Callable[[str], bool] = is_loopback
) -> bool:
    """Whether the connection of ``request`` is a loopback one: the socket's own address and
    its peer's both pass ``is_local`` (a Unix socket is local by construction). Read from the
    socket, never from a header."""
    transport = request.transport
    if transport is None:
        return False
    ends = [transport.get_extra_info("sockname"), transport.get_extra_info("peername")]
    if isinstance(ends[0], str):  # a Unix socket: peername is '' or a path
        return True
    return all(isinstance(end, tuple) and end and is_local(str(end[0])) for end in ends)


@dataclass(frozen=True, slots=True)
class AdminAuth:
    """The auth rule of an application's admin routes (see the module docstring).

    ``is_local`` says which socket addresses count as loopback (default :func:`is_loopback`).
    """

    token: str | None = None
    is_local: Callable[[str], bool] = is_loopback

    def check(self, request: web.Request) -> None:
        """Raise :class:`ApiError` (401) unless ``request`` may use the admin routes."""
        if self.token is None:
            if arrived_on_loopback(request, self.is_local):
                return
            # Mounted for loopback without a token, but the connection is not a loopback one
            # (e.g. the server was bound to 0.0.0.0 after all): refuse rather than be open.
            raise ApiError(
                401,
                "this admin API has no token and the request did not arrive over loopback",
                where="Authorization header",
                hint=f"restart the institution with {ADMIN_TOKEN_ENV} set, or call it on 127.0.0.1",
                code="admin.unauthorized",
            )
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if not header:
            raise ApiError(
                401,
                "this admin API needs a token",
                where="Authorization header",
                hint="send 'Authorization: Bearer <token>' with the admin token",
                code="admin.unauthorized",
            )
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        ):
            raise ApiError(
                401,
                "the admin token is wrong",
                where="Authorization header",
                hint="send 'Authorization: Bearer <token>' with the token the institution was"
                " started with",
                code="admin.unauthorized",
            )

    def middleware(self) -> Any:
        @web.middleware
        async def auth(
            request: web.Request,
            handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        ) -> web.StreamResponse:
            self.check(request)
            return await handler(request)

        return auth


#: Where an application keeps the :class:`AdminAuth` its admin route sets share.
ADMIN_AUTH = web.AppKey("eessi.admin-auth", AdminAuth)


def admin_auth(app: web.Application, *, host: str | None, token: str | None) -> AdminAuth:
    """The auth rule for admin routes mounted on ``app``: the one already installed there
    (by the first route set mounted, or by the caller) unless ``token`` names another.

    ``token`` defaults to ``EESSI_ADMIN_TOKEN``. ``host`` is where the server will bind (``None``:
    not known; then only the per-request loopback check guards a token-less API).
    """
    installed = app.get(ADMIN_AUTH)
    if installed is not None and (token is None or token == installed.token):
        if host is not None:
            require_token(host, installed.token)
        return installed
    if token is None:
        token = os.environ.get(ADMIN_TOKEN_ENV) or None
    if host is not None or token is not None:
        token = require_token(host, token)
    auth = AdminAuth(token)
    if installed is None:
        app[ADMIN_AUTH] = auth
    return auth


# --------------------------------------------------------------------------- errors


def status_of(exc: EessiError) -> int:
    """The HTTP status of a refusal: 400 a malformed request (or rule), 409 a step the case's
    state does not allow, 422 a request the core refuses, 503 a journal that cannot be used;
    an :class:`ApiError` says its own."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, ProtocolError):
        return 409
    if isinstance(exc, DomainError):
        return 422
    if isinstance(exc, JournalError):
        return 503
    if isinstance(exc, RequestError | ConfigError):
        return 400
    return 422


def error_response(
    exc: EessiError,
    status: int,
    headers: Mapping[str, str] | None = None,
    dumps: Callable[[Any], str] = json.dumps,
) -> web.Response:
    """The JSON answer to a refusal (``{"error": exc.to_dict()}``)."""
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return web.json_response({"error": exc.to_dict()}, status=status, headers=headers, dumps=dumps)


def _http_messages(routes: str) -> dict[int, tuple[str, str, str]]:
    return {
        404: ("admin.not-found", "no such route", f"see GET {routes} for the routes"),
        405: (
            "admin.method-not-allowed",
            "this route does not take this method",
            f"see GET {routes} for the methods of each route",
        ),
        413: (
            "admin.too-large",
            "the request body is too large",
            f"a request body is at most {MAX_BODY} bytes",
        ),
    }


def _errors_middleware(routes: str, dumps: Callable[[Any], str]) -> Any:
    messages = _http_messages(routes)

    @web.middleware
    async def errors(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except EessiError as exc:
            return error_response(exc, status_of(exc), dumps=dumps)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code, message, hint = messages.get(
                exc.status, ("admin.http", exc.reason, f"see GET {routes}")
            )
            err = EessiError(
                message, code=code, where=f"{request.method} {request.path}", hint=hint
            )
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(err, exc.status, headers, dumps=dumps)
        except Exception as exc:  # a bug: still answer JSON, and say where to look
            _log.exception("admin API: %s %s failed", request.method, request.path)
            err = EessiError(
                f"internal error: {type(exc).__name__}",
                code="admin.internal",
                where=f"{request.method} {request.path}",
                hint="this is a bug in eessi-sim; the institution's log has the traceback",
            )
            return error_response(err, 500, dumps=dumps)

    return errors


def admin_subapp(
    auth: AdminAuth, *, routes: str, dumps: Callable[[Any], str] = json.dumps
) -> web.Application:
    """A sub-application for admin routes: errors as JSON (``routes`` names the OpenAPI
    document the hints point to), then ``auth``. Mount it with ``app.add_subapp``."""
    return web.Application(middlewares=[_errors_middleware(routes, dumps), auth.middleware()])


# --------------------------------------------------------------------------- bodies

_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_MISSING: Any = object()


def json_depth_error(data: bytes, max_depth: int = MAX_DEPTH) -> ApiError | None:
    """The refusal of a body whose arrays and objects nest deeper than ``max_depth`` (with the
    line and column where it does), or ``None``. Brackets inside strings do not count.

    Fast path in C-speed passes: strings and everything but brackets removed, then one
    ``re.sub`` per level removes the innermost pairs (a batch of 1,000 requests: about 3 times
    ``json.loads``' time); only a body found too deep is walked token by token, to say where.
    Brackets that do not pair up are left to the JSON parser (not JSON: 400 ``admin.bad-json``).
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return None  # cannot nest deeper than it has brackets
    brackets = _STRINGS.sub(b"", data).translate(None, delete=_NOT_BRACKETS)
    for _ in range(max_depth):
        fewer = _INNERMOST.sub(b"", brackets)
        if fewer == brackets:
            return None  # empty (shallow enough), or unpaired brackets: not JSON
        brackets = fewer
    if not brackets:
        return None
    depth = 0
    for token in _TOKENS.finditer(data):
        char = data[token.start()]
        if char == 0x22:  # a string: skipped whole
            continue
        depth += 1 if char in b"[{" else -1
        if depth > max_depth:
            line = data.count(b"\n", 0, token.start()) + 1
            column = token.start() - (data.rfind(b"\n", 0, token.start()) + 1) + 1
            return ApiError(
                400,
                f"the request body nests arrays and objects more than {max_depth} levels deep",
                where=f"request body, line {line}, column {column}",
                hint=f"send at most {max_depth} levels of nesting: a request is a small JSON"
                " object",
                code="admin.too-deep",
                details={"max_depth": max_depth, "offset": token.start()},
            )
    return None  # unpaired brackets deeper than the limit: not JSON


async def read_json(
    request: web.Request,
    *,
    limit: int = MAX_BODY,
    empty: Any = _MISSING,
    hint: str = 'send a JSON object such as {"kind": "co_insurance_request", ...}',
) -> Any:
    """The request's JSON body (see the module docstring for the checks). ``empty``, if given,
    is what an empty body stands for (otherwise an empty body is not JSON: 400). ``hint`` says
    what a good body looks like."""
    media = request.content_type if request.headers.get("Content-Type") else None
    if media is not None and media not in JSON_MEDIA_TYPES and not media.endswith("+json"):
        raise ApiError(
            415,
            f"the request body is {media}, not JSON",
            where="Content-Type header",
            hint="send the body as JSON with 'Content-Type: application/json'",
            code="admin.unsupported-media-type",
        )
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(
            413,
            f"the request body has {request.content_length} bytes; at most {limit} are read",
            where="request body",
            hint=hint,
            code="admin.too-large",
        )
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise ApiError(
            413,
            f"the request body has more than {limit} bytes",
            where="request body",
            hint=hint,
            code="admin.too-large",
        )
    if empty is not _MISSING and not data.strip():
        return empty
    too_deep = json_depth_error(data)
    if too_deep is not None:
        raise too_deep
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(
            400,
            f"the request body is not JSON: {exc}",
            where="",
            hint=hint,
            code="admin.bad-json",
        ) from None
