"""A received user message that :mod:`eessi.as4.render` wrote, checked without an XML tree.

Every access point of the simulator sends its SEDs through the template of
:mod:`eessi.as4.render` (signed and encrypted as the eDelivery profile says). The general
receiver (:func:`eessi.as4.exchange.receive_user_message`'s tree path) parses such an envelope
into about seventy lxml elements, walks them into the header's values, canonicalises three of
them and walks the security header twice, about 0.4 ms of CPU per message outside RSA (D320).
:func:`receive_rendered` reads the same envelope as text instead, and answers only when it can
prove the text is **exactly** what the template writes for the values it read:

1. one regular expression, made from the template itself, takes the variable texts (the two
   certificate tokens, the wrapped key, the attachment's Content-ID and type, the digests, the
   signature value and the ``eb:UserMessage``); another takes the header's values from
   ``eb:UserMessage``, converted as the tree path converts them (element texts stripped, the
   Timestamp by ``fromisoformat``);
2. the envelope the template writes for those values, with the digests **computed here** (the
   ``eb:Messaging`` header's exclusive C14N form is the template's, the attachment's digest is
   of its decrypted bytes), must equal the received bytes, byte for byte. So the received
   envelope is one the tree path reads as these same values (``tests/as4/test_render.py``: the
   template's bytes are the lxml path's, its C14N forms lxml's), and its digests are right;
3. the same checks as the tree path, with the same calls: the key is wrapped for this
   receiver's own certificate token and unwraps (RSA-OAEP), the attachment decrypts (AES-GCM),
   the signer's certificate passes :meth:`~eessi.as4.security.Trust.check` for the sending
   party at ``now``, the digests match (compared in constant time), the signature value
   verifies over the C14N form of ``ds:SignedInfo``.

Anything else, a refusal included, returns ``None``, and the caller reads the message the
general way, which accepts or refuses it with its own code and words: this path accepts a
subset of what that one accepts, with the same result, and refuses nothing itself.
"""

from __future__ import annotations

import base64
import binascii
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
    SignedReference,
    UserMessage,
)
from eessi.as4.render import (
    encryption_text,
    envelope_text,
    plain,
    signature_text,
    signed_info_c14n,
    user_message_refs,
    user_message_texts,
)
from eessi.as4.security import Credentials, Trust, certificate_b64
from eessi.as4.security.encrypt import OAEP
from eessi.as4.security.verify import token_certificate
from eessi.errors import EessiError

__all__ = ["Recognised", "receive_rendered"]

#: The user message, its decrypted attachments and the references its signature covers.
Recognised = tuple[UserMessage, list[Attachment], tuple[SignedReference, ...]]

_FIELDS = ("rtoken", "wrapped", "mime", "cid", "stoken", "d1", "d2", "d3", "value")


def _envelope_pattern() -> re.Pattern[str]:
    """The template's envelope with a named group for each variable text (a second use of a
    name must repeat the first's text), made by rendering it with marker values."""
    mark = {name: f"@@{name}@@" for name in _FIELDS}
    refs = [
        SignedReference(r.uri, r.transforms, r.digest_algorithm, mark[d])
        for r, d in zip(user_message_refs("", mark["cid"], b""), ("d1", "d2", "d3"), strict=True)
    ]
    text = envelope_text(
        encryption_text(mark["rtoken"], mark["wrapped"], mark["mime"], mark["cid"])
        + signature_text(mark["stoken"], refs, mark["value"]),
        "@@um@@",
    )
    pattern = re.escape(text)
    for name, marker in mark.items():
        first, _, rest = pattern.partition(re.escape(marker))
        pattern = first + f'(?P<{name}>[^<>"]*)' + rest.replace(re.escape(marker), f"(?P={name})")
    return re.compile(pattern.replace(re.escape("@@um@@"), "(?P<um><eb:UserMessage>.*)"), re.S)


_ENVELOPE = _envelope_pattern()

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


def _properties(text: str | None) -> tuple[Property, ...]:
    """Properties as the tree path reads them: the value's text stripped, the attributes not."""
    if text is None:
        return ()
    return tuple(
        Property(m[1], m[3].strip(), m[2]) for m in _PROPERTY.finditer(text)
    )  # (finditer: an absent type is None; findall would give "")


def _user_message(text: str) -> UserMessage | None:
    """``eb:UserMessage``'s values from its text, converted as :mod:`eessi.as4.ebms_parse`
    converts them (the caller proves the text is the template's for them)."""
    m = _USER_MESSAGE.fullmatch(text)
    if m is None:
        return None
    (ts, mid, ref, ft, fid, fr, tt, tid, tr, at, pm, ag, st, sv, ac, cv, props, parts) = m.groups()
    try:
        timestamp = datetime.fromisoformat(ts.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    parts_info = tuple(PartInfo(m[1], _properties(m[2])) for m in _PART.finditer(parts or ""))
    if timestamp.tzinfo is None or any(
        not p.href.startswith("cid:") or len(p.href) < 5 for p in parts_info
    ):
        return None  # (the tree path refuses a PartInfo that names no attachment)
    return UserMessage(
        message_id=mid.strip(),
        timestamp=timestamp,
        ref_to_message_id=ref.strip() if ref is not None else None,
        from_party=Party(fid.strip(), ft, fr.strip()),
        to_party=Party(tid.strip(), tt, tr.strip()),
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
) -> Recognised | None:
    """The user message of ``envelope`` (as :mod:`eessi.as4.render` writes it, signed and
    encrypted), its decrypted attachment and its signed references, every check passed; or
    ``None``: read it the general way (see the module docstring)."""
    if len(envelope) > MAX_ENVELOPE_BYTES or len(attachments) != 1:
        return None
    try:
        text = envelope.decode("ascii")
    except UnicodeDecodeError:
        return None
    found = _ENVELOPE.fullmatch(text)
    if found is None:
        return None
    um = _user_message(found["um"])
    cid, mime = found["cid"], found["mime"]
    part = attachments[0]
    if um is None or part.content_id != cid or not plain(cid, mime):
        return None
    texts = user_message_texts(um)
    own_token = certificate_b64(credentials.certificate)
    if texts is None or found["rtoken"] != own_token:
        return None
    # The key and the attachment (decrypt.py's checks, for the template's one attachment).
    wrapped = _unb64(found["wrapped"])
    if wrapped is None or len(part.data) < 12 + 16:
        return None
    try:
        key = credentials.key.decrypt(wrapped, OAEP)
        if len(key) != 16:
            return None
        clear = AESGCM(key).decrypt(part.data[:12], part.data[12:], None)
    except (ValueError, InvalidTag):
        return None
    serialised, canonical = texts
    refs = user_message_refs(canonical, cid, clear)
    received = (found["d1"], found["d2"], found["d3"])
    digests_match = True
    for ref, digest in zip(refs, received, strict=True):
        # every one compared, in constant time (verify.py's hmac.compare_digest)
        digests_match &= hmac.compare_digest(ref.digest_value.encode(), digest.encode())
    if not digests_match:
        return None
    rebuilt = envelope_text(
        encryption_text(own_token, found["wrapped"], mime, cid)
        + signature_text(found["stoken"], refs, found["value"]),
        serialised,
    )
    if rebuilt != text:
        return None
    # The signer (verify.py's checks: the token's certificate, trusted for the sender, now).
    value = _unb64(found["value"])
    if value is None:
        return None
    try:
        public_key = trust.check(token_certificate(found["stoken"]), um.from_party.id, now)
        public_key.verify(value, signed_info_c14n(refs), padding.PKCS1v15(), hashes.SHA256())
    except (EessiError, InvalidSignature):
        return None
    return um, [Attachment(cid, mime, clear)], refs
