"""SOAP-with-Attachments packaging: ``multipart/related`` (RFC 2387) as AS4 uses it.

:func:`package` writes the SOAP 1.2 envelope as the root part (``application/soap+xml``,
named by the ``start`` parameter) and each attachment after it, ``Content-Transfer-Encoding:
binary``, each with the Content-ID its ``eb:PartInfo/@href`` names. A message without
attachments (a receipt, an error) travels as plain ``application/soap+xml``.

:func:`unpackage` reads what another access point sent: both forms, the root found by
``start`` (or first, when ``start`` is absent), ``binary``/``8bit``/``7bit``/``base64``
transfer encodings, at most :data:`MAX_PARTS` parts and ``max_bytes`` in all. Every refusal is
an :class:`~eessi.errors.EnvelopeError` with ``details["ebms_code"]`` ``EBMS:0007``
(MimeInconsistency) that says where.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Final

from eessi.as4.model import Attachment
from eessi.errors import EnvelopeError

__all__ = [
    "MAX_BYTES",
    "MAX_PARTS",
    "SOAP_CONTENT_TYPE",
    "Packaged",
    "Unpackaged",
    "package",
    "unpackage",
]

SOAP_CONTENT_TYPE: Final = "application/soap+xml"
#: Most parts a message may have (the SOAP part and the attachments).
MAX_PARTS: Final = 16
#: Default bound on a whole body: a SED is a few KB, compressed less.
MAX_BYTES: Final = 4 << 20
_ROOT_ID: Final = "soapPart@eessi-sim"
_MAX_HEADERS: Final = 4096


@dataclass(frozen=True, slots=True)
class Packaged:
    """A body ready to POST and its ``Content-Type`` header."""

    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Unpackaged:
    """The SOAP envelope bytes and the attachments of a received body, byte-exact."""

    envelope: bytes
    attachments: tuple[Attachment, ...]

    def attachment(self, content_id: str) -> Attachment | None:
        return next((a for a in self.attachments if a.content_id == content_id), None)


def _error(message: str, where: str, hint: str | None = None) -> EnvelopeError:
    return EnvelopeError(
        message,
        code="as4.mime",
        where=where,
        hint=hint or "send a SOAP 1.2 envelope in multipart/related (SOAP with attachments)",
        details={"ebms_code": "EBMS:0007"},
    )


def package(envelope: bytes, attachments: tuple[Attachment, ...] | list[Attachment]) -> Packaged:
    """The HTTP body and Content-Type of ``envelope`` with ``attachments``.

    The boundary is derived from the contents (a seeded run stays byte-for-byte reproducible)
    and checked not to occur in any part.
    """
    if not attachments:
        return Packaged(_SOAP_TYPE, envelope)
    digest = hashlib.sha256(envelope)
    for a in attachments:
        digest.update(a.data)
    boundary = "MIMEBoundary_" + digest.hexdigest()[:32]
    marker = boundary.encode("ascii")
    if marker in envelope or any(marker in a.data for a in attachments):  # pragma: no cover
        raise _error("the MIME boundary occurs in a part", "package")
    delimiter = b"--" + marker + b"\r\n"
    out = [delimiter, _ROOT_HEAD, envelope]
    for a in attachments:
        out += (b"\r\n", delimiter, _part_head(a.content_type, a.content_id), a.data)
    out += (b"\r\n--", marker, b"--\r\n")
    header = f'multipart/related; boundary="{boundary}"; {_RELATED_TAIL}'
    return Packaged(header, b"".join(out))


_SOAP_TYPE: Final = SOAP_CONTENT_TYPE + "; charset=UTF-8"
_RELATED_TAIL: Final = (
    f'type="{SOAP_CONTENT_TYPE}"; start="<{_ROOT_ID}>"; start-info="{SOAP_CONTENT_TYPE}"'
)


def _part_head(content_type: str, cid: str) -> bytes:
    """A MIME part's header lines and the blank line after them."""
    return (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{cid}>\r\n\r\n"
    ).encode("ascii")


_ROOT_HEAD: Final = _part_head(_SOAP_TYPE, _ROOT_ID)


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*({_TOKEN}|"[^"\\\r\n]*")')
_MEDIA = re.compile(rf"\s*({_TOKEN}/{_TOKEN})")


@functools.lru_cache(maxsize=64)
def _content_type(value: str) -> tuple[str, dict[str, str]]:
    """The media type (lower case) and the parameters of a Content-Type value.

    A value in RFC 2045's plain grammar (``type/subtype`` then ``; name=token`` or
    ``; name="quoted string"`` without escapes), which is what access points send, is read
    with one regular expression; anything else (RFC 2231 continuations, backslash escapes,
    comments, stray text) goes to the standard library's ``email`` parser, which is more
    lenient and about ten times slower (``tests/as4/test_content_type.py``: both read alike).
    """
    media = _MEDIA.match(value)
    if media is not None and "*" not in value and "\\" not in value:
        params: dict[str, str] = {}
        pos = media.end()
        for match in _PARAM.finditer(value, pos):
            if match.start() != pos:
                break
            raw = match.group(2)
            if raw.startswith('"'):
                raw = raw[1:-1]
            params.setdefault(match.group(1).lower(), raw)
            pos = match.end()
        if not value[pos:].strip(" \t;"):
            return media.group(1).lower(), params
    msg = Message()
    msg["Content-Type"] = value
    found = msg.get_params() or []
    return msg.get_content_type(), {k.lower(): v for k, v in found[1:] if isinstance(v, str)}


def unpackage(content_type: str, body: bytes, *, max_bytes: int = MAX_BYTES) -> Unpackaged:
    """Split a received body into the SOAP envelope and its attachments."""
    if len(body) > max_bytes:
        raise _error(
            f"the message is {len(body)} bytes, more than the limit of {max_bytes}",
            "HTTP body",
            "SEDs are a few kilobytes; this receiver refuses larger messages",
        )
    media, params = _content_type(content_type)
    if media == SOAP_CONTENT_TYPE:
        return Unpackaged(body, ())
    if media != "multipart/related":
        raise _error(f"Content-Type {media!r} is not an AS4 message", "Content-Type header")
    boundary = params.get("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise _error("multipart/related without a usable boundary", "Content-Type header")
    start = params.get("start")
    start_id = start.strip().strip("<>") if isinstance(start, str) else None
    parts = _split(body, boundary.encode("ascii", "replace"))
    root: tuple[str, bytes] | None = None
    attachments: list[Attachment] = []
    seen: set[str] = set()
    for index, (headers, data) in enumerate(parts):
        where = f"MIME part {index + 1}"
        cid = headers.get("content-id", "").strip().strip("<>")
        ctype = headers.get("content-type", "application/octet-stream")
        data = _decode(headers.get("content-transfer-encoding", "binary"), data, where)
        is_root = (cid == start_id) if start_id is not None else index == 0
        if is_root:
            root = (ctype, data)
            continue
        if not cid:
            raise _error(
                "an attachment has no Content-ID", where, "eb:PartInfo names parts by cid:"
            )
        if cid in seen:
            raise _error(f"Content-ID <{cid}> is used twice", where)
        seen.add(cid)
        attachments.append(Attachment(cid, ctype.split(";")[0].strip(), data))
    if root is None:
        raise _error(f"no part has the start Content-ID <{start_id}>", "multipart/related")
    if _content_type(root[0])[0] != SOAP_CONTENT_TYPE:
        raise _error(f"the root part is {root[0]!r}, not {SOAP_CONTENT_TYPE}", "the root MIME part")
    return Unpackaged(root[1], tuple(attachments))


def _split(body: bytes, boundary: bytes) -> list[tuple[Mapping[str, str], bytes]]:
    delim = b"--" + boundary
    pos = body.find(delim)
    if pos < 0 or (pos > 0 and body[pos - 2 : pos] != b"\r\n"):
        raise _error("the body does not start with the boundary", "multipart body")
    parts: list[tuple[Mapping[str, str], bytes]] = []
    while True:
        pos += len(delim)
        if body[pos : pos + 2] == b"--":
            return _checked(parts)
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise _error("a boundary line is not followed by CRLF", "multipart body")
        start = line_end + 2
        end = body.find(b"\r\n" + delim, start)
        if end < 0:
            raise _error("the closing boundary is missing (truncated body?)", "multipart body")
        if len(parts) >= MAX_PARTS:
            raise _error(f"more than {MAX_PARTS} MIME parts", "multipart body")
        parts.append(_part(body[start:end], len(parts) + 1))
        pos = end + 2


def _checked(
    parts: list[tuple[Mapping[str, str], bytes]],
) -> list[tuple[Mapping[str, str], bytes]]:
    if not parts:
        raise _error("the multipart body has no part", "multipart body")
    return parts


def _part(raw: bytes, index: int) -> tuple[Mapping[str, str], bytes]:
    if raw.startswith(b"\r\n"):
        return {}, raw[2:]
    sep = raw.find(b"\r\n\r\n", 0, _MAX_HEADERS)
    if sep < 0:
        raise _error("part headers do not end (or exceed 4 KB)", f"MIME part {index}")
    return _headers(raw[:sep], index), raw[sep + 4 :]


@functools.lru_cache(maxsize=256)
def _headers(block: bytes, index: int) -> Mapping[str, str]:
    """A part's header lines, names in lower case, read once per distinct block (a sender's
    root part has the same headers in every message: D391); the mapping is shared, read only."""
    where = f"MIME part {index}"
    headers: dict[str, str] = {}
    last: str | None = None
    for line in block.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise _error(f"malformed part header line {line[:60]!r}", where)
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


def _decode(encoding: str, data: bytes, where: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("binary", "8bit", "7bit"):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except binascii.Error:
            raise _error("a base64 part does not decode", where) from None
    raise _error(f"Content-Transfer-Encoding {encoding!r} is not supported", where)
