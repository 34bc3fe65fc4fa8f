"""A received user message that :mod:`eessi.as4.render` wrote, checked without an XML tree.

Every access point of the simulator sends its SEDs through the template of
:mod:`eessi.as4.render` (signed and encrypted as the eDelivery profile says). The general
receiver (:func:`eessi.as4.exchange.receive_user_message`'s tree path) parses such an envelope
into about seventy lxml elements, walks them into the header's values, canonicalises three of
them and walks the security header twice, about 0.4 ms of CPU per message outside RSA (D320).
:func:`receive_rendered` reads the same envelope as text instead, and answers only when it can
prove the text is **exactly** what the template writes for the values it read:

1. a reader made from the template itself (:class:`_Template`, ``str.find`` between its
   literal stretches, D451) takes the variable texts (the two certificate tokens, the wrapped
   key, the attachment's Content-ID and type, the digests, the signature value and the
   ``eb:UserMessage``); a regular expression takes the header's values from
   ``eb:UserMessage``, converted as the tree path converts them (element texts stripped, the
   Timestamp by ``fromisoformat``);
2. the envelope the template writes for those values, with the header's and the Body's
   digests **computed here** (the ``eb:Messaging`` header's exclusive C14N form is the
   template's) and the attachment's as received, must equal the received bytes, byte for byte.
   So the received envelope is one the tree path reads as these same values
   (``tests/as4/test_render.py``: the template's bytes are the lxml path's, its C14N forms
   lxml's), and its header digests are right;
3. the same checks as the tree path, with the same calls, the public-key ones first (D390):
   the signer's certificate passes :meth:`~eessi.as4.security.Trust.check` for the sending
   party at ``now`` and the signature value verifies over the C14N form of ``ds:SignedInfo``
   (the received digests); only then is the key, wrapped for this receiver's own certificate
   token, unwrapped (RSA-OAEP, through the message's
   :class:`~eessi.as4.security.decrypt.Unwrap`, so the tree path never does it again), the
   attachment decrypted (AES-GCM) and its digest compared with the signed one (in constant
   time).

Anything else, a refusal included, returns ``None``, and the caller reads the message the
general way, which accepts or refuses it with its own code and words: this path accepts a
subset of what that one accepts, with the same result, and refuses nothing itself.

:func:`read_rendered_receipt` does the same for the signed receipt of a message we sent
(:func:`eessi.as4.render.render_receipt`, D321): the template must write exactly the received
bytes for a receipt that answers that message and repeats every reference its signature
covered, in order; then the receipt's digests and its signature by the receiver's certificate
(``check_receipt``'s checks).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
from collections.abc import Sequence
from datetime import datetime

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eessi.as4.ebms_parse import MAX_ENVELOPE_BYTES
from eessi.as4.model import (
    Attachment,
    PartInfo,
    Party,
    Property,
    Receipt,
    SignedReference,
    UserMessage,
)
from eessi.as4.render import (
    attachment_ref,
    digest_b64,
    encryption_text,
    envelope_text,
    header_refs,
    plain,
    receipt_refs,
    receipt_texts,
    signature_text,
    signed_info_c14n,
    user_message_refs,
    user_message_texts,
)
from eessi.as4.security import Credentials, Trust, certificate_b64
from eessi.as4.security.decrypt import Unwrap
from eessi.as4.security.verify import token_certificate
from eessi.errors import EessiError

__all__ = ["Recognised", "read_rendered_receipt", "receive_rendered"]

_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()

#: The user message, its decrypted attachments and the references its signature covers.
Recognised = tuple[UserMessage, list[Attachment], tuple[SignedReference, ...]]


def _mark(name: str) -> str:
    return f"@@{name}@@"


def _refs_marked(refs: Sequence[SignedReference]) -> list[SignedReference]:
    """``refs`` with marked digests (d1, d2, ...)."""
    return [
        SignedReference(r.uri, r.transforms, r.digest_algorithm, _mark(f"d{n}"))
        for n, r in enumerate(refs, 1)
    ]


class _Found(dict[str, str]):
    """The variable texts of an envelope read by a :class:`_Template`, and the whole text."""

    __slots__ = ("string",)

    def __init__(self, string: str) -> None:
        super().__init__()
        self.string = string


class _Template:
    """``text`` (the template rendered with marked values, ``@@name@@``) as a reader of the
    variable texts (D451): each marked ``name`` is the text between the literal stretch
    before it and the first occurrence of the stretch after it, and holds none of ``<``,
    ``>``, ``"`` (a second use of a name must repeat the first's text); the ebMS ``unit``
    (``eb:UserMessage`` or ``eb:SignalMessage``, marked ``@@unit@@``) is everything from its
    start tag to the template's constant end. That is what a regular expression made of the
    escaped text with ``(?P<name>[^<>"]*)`` for each name and ``(?P<unit><eb:unit>.*)`` for the
    unit matches (fully), found with ``str.find`` instead of the regular expression engine
    walking the 9 KB of literal text character by character. The caller still proves the
    text is the template's for the values read, byte for byte."""

    __slots__ = ("_end", "_head", "_steps", "_unit")

    def __init__(self, text: str, unit: str) -> None:
        pieces = _MARKER.split(text)  # literal, name, literal, name, ..., literal
        names = pieces[1::2]
        if names.count("unit") != 1 or names[-1] != "unit":
            raise ValueError("the template needs one @@unit@@, after every other marker")
        self._head = pieces[0]
        self._steps = tuple(zip(names[:-1], pieces[2:-2:2], strict=True))
        for _, literal in self._steps:
            if not literal or literal[0] not in '<>"':
                raise ValueError(f'a marked value must end at < > or ", not {literal[:20]!r}')
        self._unit = f"<eb:{unit}>"
        self._end = pieces[-1]

    def read(self, text: str) -> _Found | None:
        """The variable texts of ``text``, or ``None``: ``text`` is not of this template."""
        if not text.startswith(self._head):
            return None
        found = _Found(text)
        pos = len(self._head)
        for name, literal in self._steps:
            end = text.find(literal[0], pos)  # the value cannot hold the literal's first <, >, "
            if end < 0:
                return None
            value = text[pos:end]
            if "<" in value or ">" in value or '"' in value or not text.startswith(literal, end):
                return None
            seen = found.get(name)
            if seen is None:
                found[name] = value
            elif seen != value:
                return None
            pos = end + len(literal)
        stop = len(text) - len(self._end)
        if stop < pos or not text.endswith(self._end) or not text.startswith(self._unit, pos):
            return None
        found["unit"] = text[pos:stop]
        return found


_MARKER = re.compile("@@([a-z0-9]+)@@")

_ENVELOPE = _Template(
    envelope_text(
        encryption_text(_mark("rtoken"), _mark("wrapped"), _mark("mime"), _mark("cid"))
        + signature_text(
            _mark("stoken"), _refs_marked(user_message_refs("", _mark("cid"), b"")), _mark("value")
        ),
        _mark("unit"),
    ),
    "UserMessage",
)
_RECEIPT = _Template(
    envelope_text(
        signature_text(_mark("stoken"), _refs_marked(receipt_refs("")), _mark("value")),
        _mark("unit"),
    ),
    "SignalMessage",
)
_RECEIPT_INFO = re.compile(
    "<eb:SignalMessage><eb:MessageInfo><eb:Timestamp>([^<]*)</eb:Timestamp>"
    "<eb:MessageId>([^<]*)</eb:MessageId><eb:RefToMessageId>([^<]*)</eb:RefToMessageId>"
    "</eb:MessageInfo><eb:Receipt>"
)

_TEXT = r"([^<]*)"
_ATTR = r'([^"]*)'
_PROPERTY = re.compile(rf'<eb:Property name="{_ATTR}"(?: type="{_ATTR}")?>{_TEXT}</eb:Property>')
_PROPERTIES = r"((?:<eb:Property [^>]*>[^<]*</eb:Property>)*)"
_PART = re.compile(
    rf'<eb:PartInfo href="{_ATTR}">(?:<eb:PartProperties>{_PROPERTIES}</eb:PartProperties>)?'
    "</eb:PartInfo>"
)


def _party(name: str) -> str:
    return (
        f'<eb:{name}><eb:PartyId(?: type="{_ATTR}")?>{_TEXT}</eb:PartyId>'
        f"<eb:Role>{_TEXT}</eb:Role></eb:{name}>"
    )


_USER_MESSAGE = re.compile(
    f"<eb:UserMessage><eb:MessageInfo><eb:Timestamp>{_TEXT}</eb:Timestamp>"
    f"<eb:MessageId>{_TEXT}</eb:MessageId>"
    f"(?:<eb:RefToMessageId>{_TEXT}</eb:RefToMessageId>)?</eb:MessageInfo>"
    f"<eb:PartyInfo>{_party('From')}{_party('To')}</eb:PartyInfo><eb:CollaborationInfo>"
    f'<eb:AgreementRef(?: type="{_ATTR}")?(?: pmode="{_ATTR}")?>{_TEXT}</eb:AgreementRef>'
    f'<eb:Service(?: type="{_ATTR}")?>{_TEXT}</eb:Service><eb:Action>{_TEXT}</eb:Action>'
    f"<eb:ConversationId>{_TEXT}</eb:ConversationId></eb:CollaborationInfo>"
    f"(?:<eb:MessageProperties>{_PROPERTIES}</eb:MessageProperties>)?"
    "(?:<eb:PayloadInfo>(.*)</eb:PayloadInfo>)?</eb:UserMessage>",
    re.S,
)


@functools.lru_cache(maxsize=256)
def _properties(text: str | None) -> tuple[Property, ...]:
    """Properties as the tree path reads them: the value's text stripped, the attributes not.
    Read once per distinct text (the message properties are the same for a sender and a
    receiver, the part properties for a kind of part: D391); the tuple and its frozen
    values are shared, as :func:`eessi.as4.ebms_build.sed_user_message` shares its own."""
    if text is None:
        return ()
    return tuple(
        Property(m[1], m[3].strip(), m[2]) for m in _PROPERTY.finditer(text)
    )  # (finditer: an absent type is None; findall would give "")


@functools.lru_cache(maxsize=256)
def _party_of(type_: str | None, ident: str, role: str) -> Party:
    """A ``eb:From``/``eb:To`` party as the tree path reads it (texts stripped), made once per
    distinct text (D391)."""
    return Party(ident.strip(), type_, role.strip())


def _user_message(text: str) -> UserMessage | None:
    """``eb:UserMessage``'s values from its text, converted as :mod:`eessi.as4.ebms_parse`
    converts them (the caller proves the text is the template's for them)."""
    m = _USER_MESSAGE.fullmatch(text)
    if m is None:
        return None
    (ts, mid, ref, ft, fid, fr, tt, tid, tr, at, pm, ag, st, sv, ac, cv, props, parts) = m.groups()
    timestamp = _timestamp(ts)
    parts_info = tuple(PartInfo(m[1], _properties(m[2])) for m in _PART.finditer(parts or ""))
    if timestamp is None or any(
        not p.href.startswith("cid:") or len(p.href) < 5 for p in parts_info
    ):
        return None  # (the tree path refuses a PartInfo that names no attachment)
    return UserMessage(
        message_id=mid.strip(),
        timestamp=timestamp,
        ref_to_message_id=ref.strip() if ref is not None else None,
        from_party=_party_of(ft, fid, fr),
        to_party=_party_of(tt, tid, tr),
        agreement=ag.strip(),
        agreement_type=at,
        pmode=pm,
        service=sv.strip(),
        service_type=st,
        action=ac.strip(),
        conversation_id=cv.strip(),
        properties=_properties(props),
        parts=parts_info,
    )


def _match(template: _Template, envelope: bytes) -> _Found | None:
    """``template``'s variable texts in the whole envelope, which must be ASCII and within the
    tree path's size limit (``MAX_ENVELOPE_BYTES``)."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        return None
    try:
        return template.read(envelope.decode("ascii"))
    except UnicodeDecodeError:
        return None


def _timestamp(text: str) -> datetime | None:
    """An ``eb:Timestamp`` as :mod:`eessi.as4.ebms_parse` reads it (``None``: it refuses it)."""
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def receive_rendered(
    envelope: bytes,
    attachments: Sequence[Attachment],
    credentials: Credentials,
    trust: Trust,
    now: datetime,
    *,
    unwrap: Unwrap | None = None,
) -> Recognised | None:
    """The user message of ``envelope`` (as :mod:`eessi.as4.render` writes it, signed and
    encrypted), its decrypted attachment and its signed references, every check passed; or
    ``None``: read it the general way (see the module docstring). ``unwrap``: the message's
    :class:`~eessi.as4.security.decrypt.Unwrap`, shared with the general way."""
    found = _match(_ENVELOPE, envelope) if len(attachments) == 1 else None
    if found is None:
        return None
    text = found.string
    um = _user_message(found["unit"])
    cid, mime = found["cid"], found["mime"]
    part = attachments[0]
    if um is None or part.content_id != cid or not plain(cid, mime):
        return None
    texts = user_message_texts(um)
    own_token = certificate_b64(credentials.certificate)
    if texts is None or found["rtoken"] != own_token or len(part.data) < 12 + 16:
        return None
    serialised, canonical = texts
    # The references as signed: the header's and the Body's digests computed here, the
    # attachment's as received (its bytes are encrypted: compared once decrypted, below).
    header, body = header_refs(canonical)
    signed = (header, body, attachment_ref(cid, found["d3"]))
    if not _digests_match(signed[:2], found):
        return None
    rebuilt = envelope_text(
        encryption_text(own_token, found["wrapped"], mime, cid)
        + signature_text(found["stoken"], signed, found["value"]),
        serialised,
    )
    if rebuilt != text:
        return None
    # The signer and the signature before the key (D390): a forged message costs this
    # receiver no RSA private-key operation.
    if not _signed_by(found, signed, trust, um.from_party.id, now):
        return None
    # The key and the attachment (decrypt.py's checks, for the template's one attachment).
    wrapped = _unb64(found["wrapped"])
    if wrapped is None:
        return None
    try:
        key = (unwrap or Unwrap(credentials.key))(wrapped)
        if len(key) != 16:
            return None
        clear = AESGCM(key).decrypt(part.data[:12], part.data[12:], None)
    except (ValueError, InvalidTag):
        return None
    refs = (header, body, attachment_ref(cid, digest_b64(clear)))
    if not hmac.compare_digest(refs[2].digest_value.encode(), found["d3"].encode()):
        return None
    return um, [Attachment(cid, mime, clear)], refs


def _digests_match(refs: Sequence[SignedReference], found: _Found) -> bool:
    """The references' digests are the message's (d1, d2, ...), every one compared in constant
    time (verify.py's ``hmac.compare_digest``)."""
    match = True
    for n, ref in enumerate(refs, 1):
        match &= hmac.compare_digest(ref.digest_value.encode(), found[f"d{n}"].encode())
    return match


def _signed_by(
    found: _Found,
    refs: Sequence[SignedReference],
    trust: Trust,
    party: str | None,
    now: datetime,
) -> bool:
    """verify.py's checks of the signer: the token's certificate is trusted for ``party`` at
    ``now``, and the signature value verifies over ``ds:SignedInfo`` of ``refs``."""
    value = _unb64(found["value"])
    if value is None:
        return False
    try:
        public_key = trust.check(token_certificate(found["stoken"]), party, now)
        public_key.verify(value, signed_info_c14n(refs), _PKCS1V15, _SHA256)
    except (EessiError, InvalidSignature):
        return False
    return True


def read_rendered_receipt(
    envelope: bytes,
    *,
    message_id: str,
    sent: Sequence[SignedReference],
    trust: Trust,
    receiver: str,
    now: datetime,
) -> Receipt | None:
    """The signed receipt of ``envelope`` if :mod:`eessi.as4.render` wrote it for the message
    ``message_id`` whose signature covered ``sent``, repeating exactly those references, signed
    by ``receiver`` (``check_receipt``'s checks, from the text); or ``None``: read it the
    general way, which also refuses it with its code and words."""
    found = _match(_RECEIPT, envelope)
    info = _RECEIPT_INFO.match(found["unit"]) if found is not None else None
    if found is None or info is None:
        return None
    text = found.string
    ts, mid, ref = info.groups()
    timestamp = _timestamp(ts)
    if timestamp is None or ref.strip() != message_id:
        return None
    receipt = Receipt(mid.strip(), timestamp, message_id, tuple(sent))
    texts = receipt_texts(receipt)
    if texts is None:
        return None
    serialised, canonical = texts
    refs = receipt_refs(canonical)
    if not _digests_match(refs, found):
        return None
    if envelope_text(signature_text(found["stoken"], refs, found["value"]), serialised) != text:
        return None
    if not _signed_by(found, refs, trust, receiver, now):
        return None
    return receipt
