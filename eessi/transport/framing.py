"""How the envelope and the SED share one HTTP body: ``multipart/related`` (RFC 2387).

AS4 is SOAP-with-attachments: the ebMS header travels in the root MIME part and the business
document in an attachment part named by Content-ID. We keep that shape, because it is what real
access points exchange and any MIME tool can open our traces, but we split our own bodies with
a few ``bytes.find`` calls instead of a general MIME parser (``aiohttp.MultipartReader`` costs
an order of magnitude more per message; see ``bench/transport.py`` and docs/decisions.md).

The body we write, exactly (CRLF line ends)::

    --<boundary>
    Content-Type: application/xml; charset=utf-8
    Content-ID: <envelope>

    <envelope XML>
    --<boundary>
    Content-Type: application/xml
    Content-ID: <payload>

    <SED bytes, untouched>
    --<boundary>--

The boundary is derived from the payload digest (so a seeded run is byte-for-byte
reproducible) and checked not to occur in either part. The reader accepts exactly two parts,
the root (envelope) first, as RFC 2387 says when ``start`` is absent; it is strict about
everything else and every refusal says where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from eessi.errors import EnvelopeError

__all__ = ["CONTENT_TYPE_PREFIX", "Framed", "Parts", "frame", "unframe"]

#: The media type of every user-message body.
CONTENT_TYPE_PREFIX: Final = "multipart/related"

_ENVELOPE_HEADERS: Final = (
    b"Content-Type: application/xml; charset=utf-8\r\nContent-ID: <envelope>\r\n\r\n"
)
_MAX_PART_HEADERS: Final = 2048


@dataclass(frozen=True, slots=True)
class Framed:
    """A body ready to POST and its ``Content-Type`` header (which carries the boundary)."""

    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Parts:
    """The two parts of a received body, byte-exact."""

    envelope: bytes
    payload: bytes
    #: Content-ID of the payload part, without angle brackets.
    payload_id: str


def frame(
    envelope: bytes, payload: bytes, *, boundary_seed: str, payload_id: str = "payload"
) -> Framed:
    """Put ``envelope`` and ``payload`` into one multipart/related body.

    ``boundary_seed`` should be something unique to the message (the payload digest): the
    boundary is made from it, and lengthened in the (adversarial) case it occurs in a part.
    """
    boundary = "MIMEBoundary_" + "".join(c for c in boundary_seed if c.isalnum())[:40]
    n = 0
    while True:
        delim = b"--" + boundary.encode("ascii")
        if delim not in envelope and delim not in payload:
            break
        n += 1
        boundary = f"{boundary}_{n}"
    body = b"".join(
        (
            delim,
            b"\r\n",
            _ENVELOPE_HEADERS,
            envelope,
            b"\r\n",
            delim,
            b"\r\nContent-Type: application/xml\r\nContent-ID: <",
            payload_id.encode("ascii"),
            b">\r\n\r\n",
            payload,
            b"\r\n",
            delim,
            b"--\r\n",
        )
    )
    content_type = (
        f'multipart/related; type="application/xml"; start="<envelope>"; boundary="{boundary}"'
    )
    return Framed(content_type=content_type, body=body)


def _error(message: str, where: str) -> EnvelopeError:
    return EnvelopeError(
        message,
        where=where,
        hint="send a multipart/related body: the envelope part first, then the SED part",
        code="transport.framing",
    )


def _boundary(content_type: str) -> bytes:
    media, _, params = content_type.partition(";")
    if media.strip().lower() != CONTENT_TYPE_PREFIX:
        raise _error(
            f"the body is {media.strip() or 'untyped'!s}, not multipart/related",
            "Content-Type header",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not 1 <= len(value) <= 70:
                break
            try:
                return value.encode("ascii")
            except UnicodeEncodeError:
                break
    raise _error("multipart/related without a usable boundary parameter", "Content-Type header")


def _headers(part: bytes, index: int) -> tuple[dict[str, str], bytes]:
    if part.startswith(b"\r\n"):
        return {}, part[2:]
    end = part.find(b"\r\n\r\n", 0, _MAX_PART_HEADERS)
    if end < 0:
        raise _error("a MIME part has no blank line after its headers", f"part {index}")
    headers: dict[str, str] = {}
    for line in part[:end].split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            raise _error(f"a MIME part header line has no colon: {line[:60]!r}", f"part {index}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers, part[end + 4 :]


def unframe(content_type: str, body: bytes) -> Parts:
    """Split a multipart/related body into envelope and payload; raise :class:`EnvelopeError`."""
    delim = b"--" + _boundary(content_type)
    if not body.startswith(delim + b"\r\n"):
        raise _error("the body does not start with the boundary line", "body, byte 0")
    sep = b"\r\n" + delim
    pos = len(delim) + 2
    parts: list[bytes] = []
    while True:
        end = body.find(sep, pos)
        if end < 0:
            raise _error("the body has no closing boundary", f"body, after byte {pos}")
        parts.append(body[pos:end])
        after = end + len(sep)
        if body.startswith(b"--", after):
            break
        if not body.startswith(b"\r\n", after):
            raise _error("a boundary line is followed by junk", f"body, byte {after}")
        if len(parts) >= 2:
            raise _error("the body has more than two parts", f"body, byte {after}")
        pos = after + 2
    if len(parts) != 2:
        raise _error(f"the body has {len(parts)} part(s), expected envelope and SED", "body")
    env_headers, envelope = _headers(parts[0], 1)
    env_type = env_headers.get("content-type", "application/xml").lower()
    if "xml" not in env_type:
        raise _error(f"the envelope part is {env_type}, not XML", "part 1, Content-Type")
    pay_headers, payload = _headers(parts[1], 2)
    cid = pay_headers.get("content-id", "")
    if len(cid) >= 2 and cid[0] == "<" and cid[-1] == ">":
        cid = cid[1:-1]
    if not cid:
        raise _error("the SED part has no Content-ID", "part 2, Content-ID")
    return Parts(envelope=envelope, payload=payload, payload_id=cid)
