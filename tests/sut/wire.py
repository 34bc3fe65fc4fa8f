"""The wire protocol of the system under test: eDelivery AS4, written from the docs alone.

No ``eessi`` here: lxml, the standard library. Everything that touches the bytes on the wire
is in this module, so the system's business code (``cns.py``) never sees AS4. Sources:
``docs/protocol.md`` (a complete exchange byte for byte: the request, the receipt, the error
signals) and ``docs/as4.md`` (the mapping of EESSI onto ebMS, the P-Modes, the error codes):

- a message is a ``POST`` of a ``multipart/related`` body (``type="application/soap+xml"``,
  ``start`` naming the root part): a SOAP 1.2 envelope whose header is ``eb:Messaging`` with one
  ``eb:UserMessage``, then the SED as an attachment named by ``eb:PartInfo/@href`` (``cid:``),
  gzip-compressed when the P-Mode compresses (part property ``CompressionType``);
- the BUC is the ``eb:Service`` (type ``urn:eessi-sim:service:buc``), the SED type the
  ``eb:Action``, the case ID the ``eb:ConversationId``, institutions the ``eb:PartyId``\\ s (IR
  type), also in the ``originalSender``/``finalRecipient`` message properties;
- the answer, in the same HTTP exchange, is a SOAP envelope with an ``eb:SignalMessage``: an
  ``eb:Receipt`` (200) or an ``eb:Error`` (4xx: do not resend; 5xx: later).

**Security**, as the ``pmodes.toml`` beside the directory says (docs/as4.md, "P-Modes"):

- ``[defaults.security] enabled = false``: nothing signed or encrypted; its receipts carry,
  unsigned, the digests of what it received (``eb:Messaging`` and the Body by their
  ``wsu:Id``, exclusive C14N and SHA-256; each attachment's content as it travelled, SHA-256),
  as docs/as4.md ("Security", last paragraph) says; a secured message is refused (EBMS:0103);
- ``enabled = true`` with ``encrypt = false``: every message, and every receipt, signed as
  docs/protocol.md ("The signature") says (``security.py``), with this system's key of the
  network's test PKI; what arrives must be signed by its sender (EBMS:0101, EBMS:0103), and
  the receipt repeats the signature's references. Encryption is not implemented: a P-Mode
  file that encrypts is refused at start-up.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message as MimeHeaders
from email.parser import BytesHeaderParser
from pathlib import Path

import security  # the SUT's WS-Security signatures, next to this file
from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
EBBP = "http://docs.oasis-open.org/ebxml-bp/ebbp-signals-2.0"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SWA_CONTENT = (
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
)
PARTY_TYPE = "urn:oasis:names:tc:ebcore:partyid-type:unregistered:eessi-ir"
SERVICE_TYPE = "urn:eessi-sim:service:buc"
AGREEMENT = "urn:eessi-sim:agreement:sed-exchange"
INITIATOR = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/initiator"
RESPONDER = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/responder"
SOAP_TYPE = "application/soap+xml"
_NS = {"env": SOAP, "eb": EB, "wsu": WSU}
#: No entities, no network, no huge trees: what arrives is not trusted.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_ROOT_ID = "soapPart@sut"


class WireError(Exception):
    """A message this system refuses: the ebMS error code and the HTTP status to answer with."""

    def __init__(self, message: str, code: str, short: str, category: str, status: int) -> None:
        super().__init__(message)
        self.code, self.short, self.category, self.http_status = (
            code,
            short,
            category,
            status,
        )
        self.ref_to_message_id: str | None = None


@dataclass(frozen=True)
class Message:
    """A user message as its ebMS header describes it, with its SED in clear."""

    message_id: str
    from_party: str
    to_party: str
    conversation_id: str
    sed_type: str
    sed_version: str
    payload: bytes
    ref_to_message_id: str | None = None
    #: The BUC (eb:Service) and P-Mode ID (eb:AgreementRef/@pmode) it travels under.
    service: str = ""
    pmode: str = ""


@dataclass(frozen=True)
class Pmodes:
    """What this system reads of the P-Mode file beside the directory (docs/as4.md)."""

    secured: bool
    compress: bool
    #: P-Mode ID by BUC (eb:Service).
    by_service: dict[str, str]
    encrypts: bool = False
    #: The network's test PKI: the file's ``pki``, else ``pki/`` beside the directory.
    pki: Path | None = None
    #: This system's key, once loaded (signing P-Modes).
    keys: security.Keys | None = None


def load_pmodes(directory_file: str) -> Pmodes:
    """``pmodes.toml`` beside the directory file; the shipped P-Modes are secured, which this
    system does not implement, so without that file it cannot run."""
    path = Path(directory_file).resolve().parent / "pmodes.toml"
    pki = path.parent / "pki"
    if not path.is_file():
        return Pmodes(secured=True, compress=True, by_service={}, encrypts=True, pki=pki)
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = doc.get("defaults", {})
    base = defaults.get("security", {})
    secured = bool(base.get("enabled", True))
    encrypts = secured and bool(base.get("encrypt", True))
    by_service: dict[str, str] = {}
    for pm in doc.get("pmode", []):
        own = pm.get("security", {})
        on = bool(own.get("enabled", secured))
        secured = secured or on
        encrypts = encrypts or (on and bool(own.get("encrypt", base.get("encrypt", True))))
        by_service[str(pm.get("service"))] = str(pm.get("id"))
    if "pki" in doc:
        pki = path.parent / str(doc["pki"])
    compress = bool(defaults.get("compress", True))
    return Pmodes(secured, compress, by_service, encrypts=encrypts, pki=pki)


def _stamp(at: datetime | None = None) -> str:
    """UTC with milliseconds, as docs/as4.md has the Timestamp (default: now)."""
    now = (at or datetime.now(UTC)).astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def new_id() -> str:
    """A MessageId: a bare UUID (the SED references of EESSI documents name a document by it,
    and their schemas take a UUID only)."""
    return str(uuid.uuid4())


def _el(
    parent: etree._Element, ns: str, tag: str, text: str | None = None, /, **attrs: str
) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _envelope() -> tuple[etree._Element, etree._Element]:
    """An empty SOAP 1.2 envelope and its ``eb:Messaging`` header (``wsu:Id`` on it and on the
    Body, so a receipt can name them)."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"env": SOAP, "eb": EB, "wsu": WSU})
    header = _el(env, SOAP, "Header")
    messaging = _el(header, EB, "Messaging")
    messaging.set(f"{{{SOAP}}}mustUnderstand", "true")
    messaging.set(f"{{{WSU}}}Id", "_ebMessaging")
    body = _el(env, SOAP, "Body")
    body.set(f"{{{WSU}}}Id", "_soapBody")
    return env, messaging


def _message_info(
    parent: etree._Element, message_id: str, ref: str | None, at: datetime | None = None
) -> None:
    info = _el(parent, EB, "MessageInfo")
    _el(info, EB, "Timestamp", _stamp(at))
    _el(info, EB, "MessageId", message_id)
    if ref is not None:
        _el(info, EB, "RefToMessageId", ref)


def _soap(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


# ---- sending


def request(
    message: Message, pmodes: Pmodes, at: datetime | None = None
) -> tuple[dict[str, str], bytes]:
    """The headers and body of the POST carrying ``message`` (docs/protocol.md, "The
    request"), stamped ``at`` (the system's clock; default: now)."""
    env, messaging = _envelope()
    um = _el(messaging, EB, "UserMessage")
    _message_info(um, message.message_id, message.ref_to_message_id, at)
    party = _el(um, EB, "PartyInfo")
    for side, who, role in (
        ("From", message.from_party, INITIATOR),
        ("To", message.to_party, RESPONDER),
    ):
        el = _el(party, EB, side)
        _el(el, EB, "PartyId", who, type=PARTY_TYPE)
        _el(el, EB, "Role", role)
    collab = _el(um, EB, "CollaborationInfo")
    pmode = message.pmode or pmodes.by_service.get(message.service, f"eessi-{message.service}")
    _el(collab, EB, "AgreementRef", AGREEMENT, pmode=pmode)
    _el(collab, EB, "Service", message.service, type=SERVICE_TYPE)
    _el(collab, EB, "Action", message.sed_type)
    _el(collab, EB, "ConversationId", message.conversation_id)
    props = _el(um, EB, "MessageProperties")
    _el(props, EB, "Property", message.from_party, name="originalSender")
    _el(props, EB, "Property", message.to_party, name="finalRecipient")
    cid = f"sed-{uuid.uuid4().hex}@sut.example"
    part = _el(_el(um, EB, "PayloadInfo"), EB, "PartInfo", href=f"cid:{cid}")
    pprops = _el(part, EB, "PartProperties")
    _el(pprops, EB, "Property", "application/xml", name="MimeType")
    content, content_type = message.payload, "application/xml"
    if pmodes.compress:
        _el(pprops, EB, "Property", "application/gzip", name="CompressionType")
        content, content_type = gzip.compress(message.payload), "application/gzip"
    _el(pprops, EB, "Property", "UTF-8", name="CharacterSet")
    _el(pprops, EB, "Property", message.sed_version, name="SedVersion")
    if pmodes.keys is not None:
        security.sign(env, {cid: content}, pmodes.keys)
    boundary = "sut_" + uuid.uuid4().hex
    delim = b"--" + boundary.encode()
    body = b"".join(
        [
            delim + b"\r\nContent-Type: application/soap+xml; charset=UTF-8\r\n",
            b"Content-Transfer-Encoding: binary\r\n",
            f"Content-ID: <{_ROOT_ID}>\r\n\r\n".encode(),
            _soap(env),
            b"\r\n" + delim + f"\r\nContent-Type: {content_type}\r\n".encode(),
            b"Content-Transfer-Encoding: binary\r\n",
            f"Content-ID: <{cid}>\r\n\r\n".encode(),
            content,
            b"\r\n" + delim + b"--\r\n",
        ]
    )
    headers = {
        "Content-Type": f'multipart/related; boundary="{boundary}"; type="{SOAP_TYPE}";'
        f' start="<{_ROOT_ID}>"; start-info="{SOAP_TYPE}"',
        "SOAPAction": '""',
    }
    return headers, body


def check_receipt(
    content_type: str, body: bytes, message_id: str, pmodes: Pmodes, peer: str
) -> str | None:
    """``None`` if the answer is a receipt of ``message_id`` (signed by ``peer`` when the
    P-Modes sign), else why not (the peer's error description, when it refused)."""
    try:
        env = _root_of(content_type, body)
    except WireError as exc:
        return f"the answer is not an AS4 signal: {exc}"
    signal = env.find("env:Header/eb:Messaging/eb:SignalMessage", _NS)
    if signal is None:
        return "the answer has no eb:SignalMessage"
    error = signal.find("eb:Error", _NS)
    if error is not None:
        description = error.findtext("eb:Description", default="", namespaces=_NS).strip()
        return f"refused: {error.get('errorCode')} {error.get('shortDescription')}: {description}"
    if signal.find("eb:Receipt", _NS) is None:
        return "the signal is neither a receipt nor an error"
    ref = signal.findtext("eb:MessageInfo/eb:RefToMessageId", default="", namespaces=_NS).strip()
    if ref != message_id:
        return f"the receipt acknowledges {ref}, not {message_id}"
    if pmodes.keys is not None:
        try:
            security.verify(env, {}, pmodes.keys.ca, peer)
        except security.SecurityError as exc:
            return f"the receipt's signature is refused: {exc}"
    return None


# ---- receiving


def _parts(content_type: str, body: bytes) -> tuple[str | None, list[tuple[MimeHeaders, bytes]]]:
    """The ``start`` parameter and ``(headers, content)`` of each part of a multipart body."""
    head = BytesHeaderParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode())
    boundary = head.get_param("boundary")
    if head.get_content_type() != "multipart/related" or not isinstance(boundary, str):
        raise WireError(
            "not a multipart/related body with a boundary",
            "EBMS:0007",
            "MimeInconsistency",
            "Unpackaging",
            400,
        )
    start = head.get_param("start")
    delim = b"--" + boundary.encode()
    chunks = (b"\r\n" + body).split(b"\r\n" + delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        headers, sep, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise WireError(
                "a part has no blank line after its headers",
                "EBMS:0007",
                "MimeInconsistency",
                "Unpackaging",
                400,
            )
        parts.append((BytesHeaderParser().parsebytes(headers + b"\r\n\r\n"), content))
    return (start if isinstance(start, str) else None), parts


def _content_id(headers: MimeHeaders) -> str:
    return str(headers.get("Content-ID", "")).strip().strip("<>")


def _root_of(content_type: str, body: bytes) -> etree._Element:
    """The SOAP envelope of a message or a signal (multipart or plain SOAP)."""
    if content_type.lower().startswith("multipart/"):
        start, parts = _parts(content_type, body)
        if not parts:
            raise WireError("no MIME part", "EBMS:0007", "MimeInconsistency", "Unpackaging", 400)
        wanted = (start or "").strip("<>")
        root = next((c for h, c in parts if wanted and _content_id(h) == wanted), parts[0][1])
    else:
        root = body
    try:
        env = etree.fromstring(root, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise WireError(
            f"the envelope is not XML: {exc}",
            "EBMS:0009",
            "InvalidHeader",
            "Unpackaging",
            400,
        ) from None
    if env.tag != f"{{{SOAP}}}Envelope":
        raise WireError("not a SOAP 1.2 envelope", "EBMS:0009", "InvalidHeader", "Unpackaging", 400)
    return env


def _digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def read_message(
    content_type: str, body: bytes, own_id: str, pmodes: Pmodes
) -> tuple[Message, list[tuple[str, str, str]]]:
    """The user message in a received POST, and the digests its receipt repeats (``(URI,
    transform, digest)``); :class:`WireError` with the ebMS code when it is refused."""
    env = _root_of(content_type, body)
    _start, parts = _parts(content_type, body)
    messaging = env.find("env:Header/eb:Messaging", _NS)
    um = None if messaging is None else messaging.find("eb:UserMessage", _NS)
    if messaging is None or um is None:
        raise WireError(
            "no eb:Messaging/eb:UserMessage",
            "EBMS:0009",
            "InvalidHeader",
            "Unpackaging",
            400,
        )

    def text(path: str) -> str:
        return (um.findtext(path, default="", namespaces=_NS) or "").strip()

    message_id = text("eb:MessageInfo/eb:MessageId")

    def refuse(why: str, code: str, short: str, category: str, status: int) -> WireError:
        exc = WireError(why, code, short, category, status)
        exc.ref_to_message_id = message_id or None
        return exc

    secured = env.find(f"env:Header/{{{WSSE}}}Security", _NS) is not None
    if secured != (pmodes.keys is not None):
        raise refuse(
            "a secured message: this system's P-Modes have no security"
            if secured
            else "an unsigned message: this system's P-Modes sign",
            "EBMS:0103",
            "PolicyNoncompliance",
            "Processing",
            403,
        )
    to_party = text("eb:PartyInfo/eb:To/eb:PartyId")
    if to_party != own_id:
        raise refuse(
            f"the message is for {to_party}, not {own_id}",
            "EBMS:0003",
            "ValueInconsistent",
            "Content",
            422,
        )
    infos = um.findall("eb:PayloadInfo/eb:PartInfo", _NS)
    if len(infos) != 1:
        raise refuse(
            f"{len(infos)} payloads, one SED expected",
            "EBMS:0003",
            "ValueInconsistent",
            "Content",
            422,
        )
    href = (infos[0].get("href") or "").removeprefix("cid:")
    found = [c for h, c in parts if _content_id(h) == href]
    if not found:
        raise refuse(
            f"no MIME part cid:{href}",
            "EBMS:0011",
            "ExternalPayloadError",
            "Content",
            422,
        )
    props = {
        p.get("name"): (p.text or "").strip()
        for p in infos[0].findall("eb:PartProperties/eb:Property", _NS)
    }
    travelled = found[0]
    payload = travelled
    if props.get("CompressionType") == "application/gzip":
        try:
            payload = gzip.decompress(travelled)
        except (OSError, EOFError):
            raise refuse(
                "the SED does not gunzip",
                "EBMS:0303",
                "DecompressionFailure",
                "Communication",
                422,
            ) from None
    version = props.get("SedVersion") or _version_of(payload)
    if pmodes.keys is not None:
        sender = text("eb:PartyInfo/eb:From/eb:PartyId")
        try:
            refs = security.verify(env, {href: travelled}, pmodes.keys.ca, sender)
        except security.SecurityError as exc:
            short = "FailedAuthentication" if exc.code == "EBMS:0101" else "PolicyNoncompliance"
            raise refuse(str(exc), exc.code, short, "Processing", 403) from None
        digests = [
            (
                r.get("URI") or "",
                r.find(f"{{{DS}}}Transforms/{{{DS}}}Transform").get("Algorithm") or "",  # type: ignore[union-attr]
                (r.findtext(f"{{{DS}}}DigestValue") or "").strip(),
            )
            for r in refs
        ]
    else:
        digests = [
            ("#" + str(el.get(f"{{{WSU}}}Id")), EXC_C14N, _digest(_c14n(el)))
            for el in (messaging, env.find("env:Body", _NS))
            if el is not None and el.get(f"{{{WSU}}}Id")
        ]
        digests.append(("cid:" + href, SWA_CONTENT, _digest(travelled)))
    collab = "eb:CollaborationInfo/"
    agreement = um.find(collab + "eb:AgreementRef", _NS)
    message = Message(
        message_id=message_id,
        ref_to_message_id=text("eb:MessageInfo/eb:RefToMessageId") or None,
        from_party=text("eb:PartyInfo/eb:From/eb:PartyId"),
        to_party=to_party,
        conversation_id=text(collab + "eb:ConversationId"),
        sed_type=text(collab + "eb:Action"),
        sed_version=version,
        payload=payload,
        service=text(collab + "eb:Service"),
        pmode="" if agreement is None else agreement.get("pmode") or "",
    )
    return message, digests


def _c14n(el: etree._Element) -> bytes:
    """Exclusive XML canonicalisation, no comments (docs/protocol.md, "The signature")."""
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def _version_of(sed: bytes) -> str:
    """``4.4`` from the SED's namespace ``.../ns/4_4/S072`` (docs/as4.md, step 4 of Domibus)."""
    ns = etree.QName(etree.fromstring(sed, _PARSER)).namespace or ""
    return ns.rsplit("/", 2)[-2].replace("_", ".") if ns.count("/") >= 2 else ""


def receipt(ref_to_message_id: str, digests: list[tuple[str, str, str]], pmodes: Pmodes) -> bytes:
    """The receipt (docs/protocol.md, "The receipt"): the non-repudiation information repeats
    the digests of what was received (its signature's references, when signed); signed when
    the P-Modes sign."""
    env, messaging = _envelope()
    signal = _el(messaging, EB, "SignalMessage")
    _message_info(signal, new_id(), ref_to_message_id)
    nri = _el(_el(signal, EB, "Receipt"), EBBP, "NonRepudiationInformation")
    for uri, transform, value in digests:
        ref = _el(_el(nri, EBBP, "MessagePartNRInformation"), DS, "Reference", URI=uri)
        _el(_el(ref, DS, "Transforms"), DS, "Transform", Algorithm=transform)
        _el(ref, DS, "DigestMethod", Algorithm=SHA256)
        _el(ref, DS, "DigestValue", value)
    if pmodes.keys is not None:
        security.sign(env, {}, pmodes.keys)
    return _soap(env)


def error(refused: WireError) -> bytes:
    """The error signal refusing a message (docs/protocol.md, "Error signals")."""
    env, messaging = _envelope()
    signal = _el(messaging, EB, "SignalMessage")
    _message_info(signal, new_id(), refused.ref_to_message_id)
    attrs = {
        "errorCode": refused.code,
        "severity": "failure",
        "category": refused.category,
        "shortDescription": refused.short,
        "origin": "ebMS",
    }
    if refused.ref_to_message_id:
        attrs["refToMessageInError"] = refused.ref_to_message_id
    err = _el(signal, EB, "Error", **attrs)
    _el(
        err,
        EB,
        "Description",
        str(refused),
        **{"{http://www.w3.org/XML/1998/namespace}lang": "en"},
    )
    return _soap(env)
