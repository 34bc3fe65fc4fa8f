"""The wire protocol of the system under test, written from the docs alone (no ``eessi``).

Everything that touches the bytes on the wire is here, so the transport can be swapped (for
real eDelivery AS4) without touching the system's business code (``cns.py``). Sources:
``schemas/README.md`` (section "Envelope"), ``schemas/envelope/envelope.xsd`` and
``docs/mock-behaviours.md`` ("Pointing a real system at the mocks"):

- a message is a ``POST`` of a ``multipart/related`` body: first the envelope XML
  (``Content-ID: <envelope>``), then the SED bytes (``Content-ID: <payload>``), CRLF line ends;
- the envelope is a ``Messaging`` element (namespace below) with a ``UserMessage``; its
  ``PartInfo`` names the payload by ``cid:`` and carries its SHA-256 hex digest and size;
- the sender signs the whole body: header ``X-EESSI-Signature: hmac-sha256=<hex>`` with its own
  directory credential;
- the receiver answers with a ``SignalMessage`` (``Receipt`` or ``Error``) as ``application/xml``,
  signed the same way with the receiver's credential; the receipt's ``RefToMessageId`` names the
  message it acknowledges.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from lxml import etree

NAMESPACE = "http://ec.europa.eu/eessi/ns/sim/as4"
SIGNATURE_HEADER = "X-EESSI-Signature"
_NS = {"m": NAMESPACE}
#: No entities, no network, no huge trees: what arrives is not trusted.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class WireError(Exception):
    """A message that cannot be read or was not signed by its sender."""

    def __init__(self, message: str, code: str, http_status: int) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status


@dataclass(frozen=True)
class Message:
    """A user message as the envelope describes it, with its payload."""

    message_id: str
    from_party: str
    to_party: str
    conversation_id: str
    sed_type: str
    sed_version: str
    payload: bytes
    ref_to_message_id: str | None = None


def sign(body: bytes, credential: str) -> str:
    return "hmac-sha256=" + hmac.new(credential.encode(), body, hashlib.sha256).hexdigest()


def _signed_by(body: bytes, credential: str, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign(body, credential), header.strip())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    return str(uuid.uuid4())


# ---- building


def _message_info(message_id: str, ref: str | None) -> str:
    ref_xml = "" if ref is None else f"<RefToMessageId>{escape(ref)}</RefToMessageId>"
    return (
        f"<MessageInfo><Timestamp>{_now()}</Timestamp>"
        f"<MessageId>{escape(message_id)}</MessageId>{ref_xml}</MessageInfo>"
    )


def _messaging(inner: str) -> bytes:
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<Messaging xmlns="{NAMESPACE}">'
    return (head + inner + "</Messaging>").encode()


def receipt(ref_to_message_id: str) -> bytes:
    return _messaging(
        f"<SignalMessage>{_message_info(new_id(), ref_to_message_id)}<Receipt/></SignalMessage>"
    )


def error(ref_to_message_id: str | None, code: str, short: str, description: str) -> bytes:
    ref_attr = "" if ref_to_message_id is None else f' refToMessageInError="{ref_to_message_id}"'
    return _messaging(
        f"<SignalMessage>{_message_info(new_id(), ref_to_message_id)}"
        f'<Error errorCode="{code}" severity="failure" shortDescription="{short}"{ref_attr}>'
        f"<Description>{escape(description)}</Description></Error></SignalMessage>"
    )


def request(message: Message, credential: str) -> tuple[dict[str, str], bytes]:
    """The headers and body of a POST carrying ``message``, signed with ``credential``."""
    payload = message.payload
    envelope = _messaging(
        "<UserMessage>"
        + _message_info(message.message_id, message.ref_to_message_id)
        + f"<PartyInfo><From><PartyId>{message.from_party}</PartyId></From>"
        f"<To><PartyId>{message.to_party}</PartyId></To></PartyInfo>"
        "<CollaborationInfo><Service>BusinessMessaging</Service><Action>Send</Action>"
        f"<ConversationId>{escape(message.conversation_id)}</ConversationId>"
        "</CollaborationInfo>"
        '<PayloadInfo><PartInfo href="cid:payload">'
        f"<SedType>{message.sed_type}</SedType><SedVersion>{message.sed_version}</SedVersion>"
        f"<Digest>{hashlib.sha256(payload).hexdigest()}</Digest><Size>{len(payload)}</Size>"
        "</PartInfo></PayloadInfo></UserMessage>"
    )
    boundary = "sut-" + uuid.uuid4().hex
    delim = b"--" + boundary.encode()
    body = b"".join(
        [
            delim + b"\r\nContent-Type: application/xml; charset=utf-8\r\n",
            b"Content-ID: <envelope>\r\n\r\n",
            envelope,
            b"\r\n" + delim + b"\r\nContent-Type: application/xml\r\n",
            b"Content-ID: <payload>\r\n\r\n",
            payload,
            b"\r\n" + delim + b"--\r\n",
        ]
    )
    headers = {
        "Content-Type": f'multipart/related; type="application/xml"; start="<envelope>";'
        f' boundary="{boundary}"',
        SIGNATURE_HEADER: sign(body, credential),
    }
    return headers, body


# ---- reading


def _text(root: etree._Element, path: str) -> str | None:
    found = root.find(path, _NS)
    return None if found is None or found.text is None else found.text.strip()


def _parts(content_type: str, body: bytes) -> list[tuple[bytes, bytes]]:
    """``(headers, content)`` of each part of a multipart body."""
    boundary = None
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not content_type.lower().startswith("multipart/related") or not boundary:
        raise WireError("not a multipart/related body with a boundary", "EBMS:0009", 400)
    delim = b"--" + boundary.encode()
    chunks = body.split(b"\r\n" + delim)
    first = chunks[0]
    if not first.startswith(delim + b"\r\n"):
        raise WireError("the body does not start with its boundary", "EBMS:0009", 400)
    chunks[0] = first[len(delim) + 2 :]
    parts = []
    for chunk in chunks[:-1]:
        chunk = chunk.removeprefix(b"\r\n")
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise WireError("a part has no blank line after its headers", "EBMS:0009", 400)
        parts.append((head, content))
    return parts


def read_message(
    content_type: str, body: bytes, signature: str | None, credentials: dict[str, str]
) -> Message:
    """The user message in a received POST; :class:`WireError` if it is not one, or if it is
    not signed by the institution named as its sender (``credentials``: secret by IR ID)."""
    parts = _parts(content_type, body)
    if len(parts) != 2:
        raise WireError(f"{len(parts)} parts, expected envelope and SED", "EBMS:0009", 400)
    try:
        env = etree.fromstring(parts[0][1], _PARSER)
    except etree.XMLSyntaxError as exc:
        raise WireError(f"the envelope is not XML: {exc}", "EBMS:0009", 400) from None
    um = "m:UserMessage/"
    sender = _text(env, um + "m:PartyInfo/m:From/m:PartyId") or ""
    secret = credentials.get(sender)
    if secret is None or not _signed_by(body, secret, signature):
        raise WireError(f"not signed by {sender or 'its sender'}", "EBMS:0101", 401)
    payload = parts[1][1]
    digest = _text(env, um + "m:PayloadInfo/m:PartInfo/m:Digest")
    if digest != hashlib.sha256(payload).hexdigest():
        raise WireError("the payload does not match its digest", "EBMS:0303", 400)
    return Message(
        message_id=_text(env, um + "m:MessageInfo/m:MessageId") or "",
        ref_to_message_id=_text(env, um + "m:MessageInfo/m:RefToMessageId"),
        from_party=sender,
        to_party=_text(env, um + "m:PartyInfo/m:To/m:PartyId") or "",
        conversation_id=_text(env, um + "m:CollaborationInfo/m:ConversationId") or "",
        sed_type=_text(env, um + "m:PayloadInfo/m:PartInfo/m:SedType") or "",
        sed_version=_text(env, um + "m:PayloadInfo/m:PartInfo/m:SedVersion") or "",
        payload=payload,
    )


def check_receipt(
    body: bytes, signature: str | None, peer: str, peer_credential: str, message_id: str
) -> str | None:
    """``None`` if ``body`` is ``peer``'s signed receipt of ``message_id``, else why not."""
    if not _signed_by(body, peer_credential, signature):
        return f"the answer is not signed by {peer}"
    try:
        signal = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        return f"the answer is not XML: {exc}"
    if signal.find("m:SignalMessage/m:Receipt", _NS) is None:
        description = _text(signal, "m:SignalMessage/m:Error/m:Description")
        return f"refused: {description or 'no receipt'}"
    ref = _text(signal, "m:SignalMessage/m:MessageInfo/m:RefToMessageId")
    if ref != message_id:
        return f"the receipt acknowledges {ref}, not {message_id}"
    return None
