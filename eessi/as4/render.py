"""The user message's envelope written as text in one pass: the fast path of sending.

:func:`eessi.as4.exchange.build_sed_message` builds, signs and encrypts a SED's envelope with
lxml (:mod:`eessi.as4.ebms_build`, :mod:`eessi.as4.security.sign`,
:mod:`eessi.as4.security.encrypt`): about thirty elements made one call at a time, three
exclusive canonicalisations and a serialisation, which cost as much CPU as the RSA signature
itself (D135). :func:`render_user_message` writes the same envelope from a template instead:

* the bytes are **exactly** what the lxml path serialises (same elements, prefixes, attribute
  order and self-closed empty elements), so the journal, ``docs/protocol.md`` and every reader
  see no difference (``tests/as4/test_render.py`` compares the two byte for byte);
* the signature's digests are taken over the **exclusive C14N form** of ``eb:Messaging``, the
  Body and ``ds:SignedInfo``, which the template also writes: for the values it accepts the
  canonical form is the serialised form with the namespace declarations an exclusive
  canonicalisation puts on the apex element, its attributes sorted, and empty elements as a
  start and end tag pair (the test checks it against lxml's ``c14n`` and ``xmlsec``);
* it accepts only **plain values** (printable ASCII without ``<>&"'``, non-empty), which need no
  escaping and serialise and canonicalise alike. A value with anything else (an IRI with an
  ampersand, a non-ASCII name) returns ``None`` and the caller takes the lxml path, which
  escapes as XML says: the fast path never has to get escaping right.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eessi.as4.ebms_build import BODY_ID, MESSAGING_ID, format_timestamp
from eessi.as4.model import (
    DS_NS,
    EB_NS,
    EBBP_NS,
    SOAP_NS,
    WSSE11_NS,
    WSSE_NS,
    WSU_NS,
    XENC11_NS,
    XENC_NS,
    Attachment,
    Party,
    Property,
    Receipt,
    SignedReference,
    UserMessage,
)
from eessi.as4.security import (
    AES128_GCM,
    ATTACHMENT_CIPHERTEXT_TRANSFORM,
    ATTACHMENT_CONTENT_ONLY,
    ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,
    BASE64_BINARY,
    ENCRYPTED_KEY_TOKEN,
    EXC_C14N,
    MGF1_SHA256,
    RSA_OAEP,
    RSA_SHA256,
    SHA256,
    X509V3,
    Credentials,
    certificate_b64,
    per_certificate,
)
from eessi.as4.security.encrypt import KEY_ID, OAEP, RECIPIENT_TOKEN_ID
from eessi.as4.security.sign import BST_ID

__all__ = [
    "Rendered",
    "attachment_ref",
    "certificate_b64",
    "digest_b64",
    "encryption_text",
    "envelope_text",
    "header_refs",
    "plain",
    "receipt_refs",
    "receipt_texts",
    "render_receipt",
    "render_user_message",
    "signature_text",
    "signed_info_c14n",
    "user_message_refs",
    "user_message_texts",
]

#: Rendered envelope bytes, the parts to send (encrypted when asked) and the signed references.
Rendered = tuple[bytes, list[Attachment], tuple[SignedReference, ...]]

_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()
_PLAIN = re.compile(r"[\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\x7e]+\Z")

_ENVELOPE_START = (
    f"<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<env:Envelope xmlns:env="{SOAP_NS}" xmlns:eb="{EB_NS}" xmlns:wsu="{WSU_NS}"><env:Header>'
)
_ENVELOPE_END = f'</env:Header><env:Body wsu:Id="{BODY_ID}"/></env:Envelope>'
_MESSAGING_OPEN = f'<eb:Messaging env:mustUnderstand="true" wsu:Id="{MESSAGING_ID}">'
_MESSAGING_C14N_OPEN = (
    f'<eb:Messaging xmlns:eb="{EB_NS}" xmlns:env="{SOAP_NS}" xmlns:wsu="{WSU_NS}" '
    f'wsu:Id="{MESSAGING_ID}" env:mustUnderstand="true">'
)
_BODY_C14N = (
    f'<env:Body xmlns:env="{SOAP_NS}" xmlns:wsu="{WSU_NS}" wsu:Id="{BODY_ID}"></env:Body>'
).encode("ascii")
_BODY_DIGEST = base64.b64encode(hashlib.sha256(_BODY_C14N).digest()).decode("ascii")
_BODY_REF = SignedReference("#" + BODY_ID, (EXC_C14N,), SHA256, _BODY_DIGEST)
_SECURITY_OPEN = f'<wsse:Security xmlns:wsse="{WSSE_NS}" env:mustUnderstand="true">'
# The constant stretches of the security header, joined with the variable texts by f-strings
# (``str.format`` parses its template on every call: several µs per message for these).
_TOKEN_OPEN = (
    f'<wsse:BinarySecurityToken EncodingType="{BASE64_BINARY}" ValueType="{X509V3}" wsu:Id="'
)
_ENCRYPTED_KEY_OPEN = (
    f'<xenc:EncryptedKey xmlns:xenc="{XENC_NS}" Id="{KEY_ID}">'
    f'<xenc:EncryptionMethod Algorithm="{RSA_OAEP}">'
    f'<ds:DigestMethod xmlns:ds="{DS_NS}" Algorithm="{SHA256}"/>'
    f'<xenc11:MGF xmlns:xenc11="{XENC11_NS}" Algorithm="{MGF1_SHA256}"/></xenc:EncryptionMethod>'
    f'<ds:KeyInfo xmlns:ds="{DS_NS}"><wsse:SecurityTokenReference>'
    f'<wsse:Reference URI="#{RECIPIENT_TOKEN_ID}" ValueType="{X509V3}"/>'
    "</wsse:SecurityTokenReference></ds:KeyInfo>"
    "<xenc:CipherData><xenc:CipherValue>"
)
_ENCRYPTED_KEY_CLOSE = (
    "</xenc:CipherValue></xenc:CipherData>"
    '<xenc:ReferenceList><xenc:DataReference URI="#_encryptedData-1"/></xenc:ReferenceList>'
    "</xenc:EncryptedKey>"
)
_ENCRYPTED_DATA_OPEN = (
    f'<xenc:EncryptedData xmlns:xenc="{XENC_NS}" Id="_encryptedData-1" '
    f'Type="{ATTACHMENT_CONTENT_ONLY}" MimeType="'
)
_ENCRYPTED_DATA_MIDDLE = (
    f'"><xenc:EncryptionMethod Algorithm="{AES128_GCM}"/>'
    f'<ds:KeyInfo xmlns:ds="{DS_NS}"><wsse:SecurityTokenReference xmlns:wsse11="{WSSE11_NS}" '
    f'wsse11:TokenType="{ENCRYPTED_KEY_TOKEN}"><wsse:Reference URI="#{KEY_ID}"/>'
    "</wsse:SecurityTokenReference></ds:KeyInfo>"
    '<xenc:CipherData><xenc:CipherReference URI="cid:'
)
_ENCRYPTED_DATA_CLOSE = (
    '"><xenc:Transforms>'
    f'<ds:Transform xmlns:ds="{DS_NS}" Algorithm="{ATTACHMENT_CIPHERTEXT_TRANSFORM}"/>'
    "</xenc:Transforms></xenc:CipherReference></xenc:CipherData></xenc:EncryptedData>"
)
_SIGNATURE_OPEN = f'<ds:Signature xmlns:ds="{DS_NS}" Id="_signature">'
_SIGNATURE_CLOSE = (
    "<ds:KeyInfo><wsse:SecurityTokenReference>"
    f'<wsse:Reference URI="#{BST_ID}" ValueType="{X509V3}"/>'
    "</wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>"
)
# ds:SignedInfo as serialised inside ds:Signature, and in exclusive C14N form (own xmlns:ds,
# empty elements as start and end tags), around the ds:Reference elements in the same form.
_SIGNED_INFO_OPEN = (
    f'<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/>'
    f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"/>'
)
_SIGNED_INFO_C14N_OPEN = (
    f'<ds:SignedInfo xmlns:ds="{DS_NS}">'
    f'<ds:CanonicalizationMethod Algorithm="{EXC_C14N}"></ds:CanonicalizationMethod>'
    f'<ds:SignatureMethod Algorithm="{RSA_SHA256}"></ds:SignatureMethod>'
)
_DIGEST_METHOD = f'</ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue>'
_DIGEST_METHOD_C14N = (
    f'</ds:Transforms><ds:DigestMethod Algorithm="{SHA256}"></ds:DigestMethod><ds:DigestValue>'
)


def _references(refs: Sequence[SignedReference], *, c14n: bool = False) -> str:
    """The ``ds:Reference`` elements over ``refs`` (each with one transform), serialised; in
    exclusive C14N form (empty elements as start and end tags) when ``c14n``."""
    transform_end, digest_method = (
        ('"></ds:Transform>', _DIGEST_METHOD_C14N) if c14n else ('"/>', _DIGEST_METHOD)
    )
    return "".join(
        [
            f'<ds:Reference URI="{r.uri}"><ds:Transforms><ds:Transform Algorithm='
            f'"{r.transforms[0]}{transform_end}{digest_method}{r.digest_value}'
            "</ds:DigestValue></ds:Reference>"
            for r in refs
        ]
    )


_PLAIN_LINES = re.compile(
    r"(?:[\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\x7e]+\n)*"
    r"[\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\x7e]+\Z"
)


def plain(*values: str | None) -> bool:
    """Every value given is plain (``None``: absent). One match over the values joined by a
    line break, which no plain value holds (the count of breaks says none was inside one)."""
    given = [v for v in values if v is not None]
    if not given:
        return True
    joined = "\n".join(given)
    return joined.count("\n") == len(given) - 1 and _PLAIN_LINES.match(joined) is not None


def _party(name: str, party: Party) -> str:
    type_ = f' type="{party.type}"' if party.type is not None else ""
    return (
        f"<eb:{name}><eb:PartyId{type_}>{party.id}</eb:PartyId>"
        f"<eb:Role>{party.role}</eb:Role></eb:{name}>"
    )


def _properties(name: str, props: Sequence[Property]) -> str:
    if not props:
        return ""
    items = "".join(
        f'<eb:Property name="{p.name}"'
        + (f' type="{p.type}"' if p.type is not None else "")
        + f">{p.value}</eb:Property>"
        for p in props
    )
    return f"<eb:{name}>{items}</eb:{name}>"


def _property_values(props: Sequence[Property]) -> list[str | None]:
    values: list[str | None] = []
    for p in props:
        values += (p.name, p.value, p.type)
    return values


@functools.lru_cache(maxsize=256)
def _parties_text(from_party: Party, to_party: Party) -> str | None:
    """``eb:PartyInfo``, or ``None`` when a value is not plain: the same for every message
    between two parties, so written once per pair (and per pair the plain check)."""
    values = (from_party.id, from_party.type, from_party.role)
    if not plain(*values, to_party.id, to_party.type, to_party.role):
        return None
    return f"<eb:PartyInfo>{_party('From', from_party)}{_party('To', to_party)}</eb:PartyInfo>"


@functools.lru_cache(maxsize=256)
def _agreement_texts(
    agreement: str, agreement_type: str | None, pmode: str | None
) -> tuple[str, str] | None:
    """``eb:CollaborationInfo``'s opening and ``eb:AgreementRef``, serialised and canonicalised
    (C14N sorts the attributes), or ``None``: once per P-Mode."""
    if not plain(agreement, agreement_type, pmode):
        return None
    type_ = f' type="{agreement_type}"' if agreement_type is not None else ""
    pmode_ = f' pmode="{pmode}"' if pmode is not None else ""
    tail = f">{agreement}</eb:AgreementRef>"
    return (
        f"<eb:CollaborationInfo><eb:AgreementRef{type_}{pmode_}{tail}",
        f"<eb:CollaborationInfo><eb:AgreementRef{pmode_}{type_}{tail}",
    )


@functools.lru_cache(maxsize=256)
def _service_text(service: str, service_type: str | None, action: str) -> str | None:
    """``eb:Service`` and ``eb:Action``, or ``None``: once per P-Mode and action."""
    if not plain(service, service_type, action):
        return None
    type_ = f' type="{service_type}"' if service_type is not None else ""
    return f"<eb:Service{type_}>{service}</eb:Service><eb:Action>{action}</eb:Action>"


@functools.lru_cache(maxsize=256)
def _properties_text(name: str, props: tuple[Property, ...]) -> str | None:
    """``props`` as the ``name`` element (empty text: none), or ``None`` when a value is not
    plain: message properties once per sender and receiver, part properties once per kind."""
    if not plain(*_property_values(props)):
        return None
    return _properties(name, props)


def user_message_texts(um: UserMessage) -> tuple[str, str] | None:
    """``eb:UserMessage`` serialised and canonicalised (they differ only in AgreementRef's
    attribute order), or ``None`` when a value is not plain or an element would be empty.

    What is the same for many messages (the parties, the agreement, the service and action,
    the properties) is written and checked once and kept; per message only the identifiers,
    the timestamp and the parts' hrefs."""
    if not plain(um.message_id, um.ref_to_message_id, um.conversation_id):
        return None
    parties = _parties_text(um.from_party, um.to_party)
    agreement = _agreement_texts(um.agreement, um.agreement_type, um.pmode)
    service = _service_text(um.service, um.service_type, um.action)
    properties = _properties_text("MessageProperties", um.properties)
    if parties is None or agreement is None or service is None or properties is None:
        return None
    payload = ""
    if um.parts:
        infos = []
        for part in um.parts:
            if not part.properties:
                return None  # an empty PartInfo self-closes when serialised: leave it to lxml
            part_properties = _properties_text("PartProperties", part.properties)
            if part_properties is None or not plain(part.href):
                return None
            infos.append(f'<eb:PartInfo href="{part.href}">{part_properties}</eb:PartInfo>')
        payload = f"<eb:PayloadInfo>{''.join(infos)}</eb:PayloadInfo>"
    ref = um.ref_to_message_id
    head = (
        f"<eb:UserMessage><eb:MessageInfo><eb:Timestamp>{format_timestamp(um.timestamp)}"
        f"</eb:Timestamp><eb:MessageId>{um.message_id}</eb:MessageId>"
        + (f"<eb:RefToMessageId>{ref}</eb:RefToMessageId>" if ref is not None else "")
        + f"</eb:MessageInfo>{parties}"
    )
    tail = (
        f"{service}<eb:ConversationId>{um.conversation_id}</eb:ConversationId>"
        f"</eb:CollaborationInfo>{properties}{payload}</eb:UserMessage>"
    )
    # Serialised: attributes in the order the builder sets them; C14N: sorted by name.
    return f"{head}{agreement[0]}{tail}", f"{head}{agreement[1]}{tail}"


def _signature(signer: Credentials, refs: Sequence[SignedReference]) -> str:
    """The signer's BinarySecurityToken and ``ds:Signature`` over ``refs`` (each with one
    transform), as :func:`eessi.as4.security.sign.sign` appends them to ``wsse:Security``."""
    value = signer.key.sign(signed_info_c14n(refs), _PKCS1V15, _SHA256)
    return signature_text(
        certificate_b64(signer.certificate), refs, base64.b64encode(value).decode("ascii")
    )


def signed_info_c14n(refs: Sequence[SignedReference]) -> bytes:
    """``ds:SignedInfo`` over ``refs`` (each with one transform) in exclusive C14N form: the
    bytes the signature value signs."""
    return f"{_SIGNED_INFO_C14N_OPEN}{_references(refs, c14n=True)}</ds:SignedInfo>".encode("ascii")


def signature_text(token: str, refs: Sequence[SignedReference], value: str) -> str:
    """The signer's BinarySecurityToken (``token``: its base64 text) and ``ds:Signature`` over
    ``refs`` with the base64 signature ``value``, as serialised in ``wsse:Security``."""
    return (
        f'{_TOKEN_OPEN}{BST_ID}">{token}</wsse:BinarySecurityToken>{_SIGNATURE_OPEN}'
        f"{_SIGNED_INFO_OPEN}{_references(refs)}</ds:SignedInfo>"
        f"<ds:SignatureValue>{value}</ds:SignatureValue>{_SIGNATURE_CLOSE}"
    )


def encryption_text(token: str, wrapped: str, mime: str, cid: str) -> str:
    """The receiver's BinarySecurityToken (``token``: its base64 text), the
    ``xenc:EncryptedKey`` (``wrapped``: the RSA-OAEP-wrapped AES key in base64) and the
    ``xenc:EncryptedData`` of the one attachment ``cid`` (type ``mime``)."""
    return (
        f'{_TOKEN_OPEN}{RECIPIENT_TOKEN_ID}">{token}</wsse:BinarySecurityToken>'
        f"{_ENCRYPTED_KEY_OPEN}{wrapped}{_ENCRYPTED_KEY_CLOSE}"
        f"{_ENCRYPTED_DATA_OPEN}{mime}{_ENCRYPTED_DATA_MIDDLE}{cid}{_ENCRYPTED_DATA_CLOSE}"
    )


def user_message_refs(
    canonical: str, content_id: str, data: bytes
) -> tuple[SignedReference, SignedReference, SignedReference]:
    """The three references a user message's signature covers: ``eb:Messaging`` (whose
    ``eb:UserMessage`` has the exclusive C14N form ``canonical``), the empty Body, and the
    attachment ``content_id`` with the bytes ``data``."""
    return (*header_refs(canonical), attachment_ref(content_id, digest_b64(data)))


def attachment_ref(content_id: str, digest: str) -> SignedReference:
    """The reference to the attachment ``content_id`` with the SHA-256 ``digest`` (base64)."""
    return SignedReference(
        "cid:" + content_id, (ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,), SHA256, digest
    )


def envelope_text(security: str, serialised: str) -> str:
    """The whole envelope: ``security`` (the ``wsse:Security`` header's children, or empty:
    no header) and ``eb:Messaging`` around the serialised ``eb:UserMessage``."""
    header = f"{_SECURITY_OPEN}{security}</wsse:Security>" if security else ""
    return f"{_ENVELOPE_START}{header}{_MESSAGING_OPEN}{serialised}</eb:Messaging>{_ENVELOPE_END}"


def digest_b64(data: bytes) -> str:
    """The SHA-256 digest of ``data`` in base64, as ``ds:DigestValue`` holds it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@per_certificate
def _recipient_key(recipient: x509.Certificate) -> RSAPublicKey:
    """The recipient certificate's RSA key, read once per certificate object (D391)."""
    public_key = recipient.public_key()
    if not isinstance(public_key, RSAPublicKey):
        raise ValueError("the recipient's certificate has no RSA key")
    return public_key


def render_user_message(
    um: UserMessage,
    attachment: Attachment,
    *,
    signer: Credentials | None,
    recipient: x509.Certificate | None,
    random: bytes | None = None,
) -> Rendered | None:
    """The envelope of ``um`` carrying ``attachment``, signed by ``signer`` and encrypted for
    ``recipient`` when given, as the lxml path would make it; ``None``: take that path.

    ``random`` (28 bytes: the AES key, then the IV) replaces ``os.urandom`` in tests.
    """
    texts = user_message_texts(um)
    if texts is None or not plain(attachment.content_id, attachment.content_type):
        return None
    serialised, canonical = texts
    refs = user_message_refs(canonical, attachment.content_id, attachment.data)
    security: list[str] = []
    parts = [attachment]
    if recipient is not None:
        public_key = _recipient_key(recipient)
        pool = random if random is not None else os.urandom(16 + 12)
        key, iv = pool[:16], pool[16:28]
        wrapped = base64.b64encode(public_key.encrypt(key, OAEP)).decode("ascii")
        security.append(
            encryption_text(
                certificate_b64(recipient), wrapped, attachment.content_type, attachment.content_id
            )
        )
        sealed = iv + AESGCM(key).encrypt(iv, attachment.data, None)
        parts = [Attachment(attachment.content_id, "application/octet-stream", sealed)]
    if signer is not None:
        security.append(_signature(signer, refs))
    return envelope_text("".join(security), serialised).encode("ascii"), parts, refs


_NR_PART_OPEN = f'<ebbp:MessagePartNRInformation><ds:Reference xmlns:ds="{DS_NS}" URI="'
_NR_PART_CLOSE = "</ds:DigestValue></ds:Reference></ebbp:MessagePartNRInformation>"


def _nr_parts(ref: SignedReference) -> tuple[str, str]:
    """A ``ebbp:MessagePartNRInformation`` of the non-repudiation information, serialised and
    canonicalised (its ``ds:Reference`` declares ``ds`` itself; C14N writes empty elements as
    start and end tags)."""
    serialised_m, canonical_m = _nr_methods(ref.transforms, ref.digest_algorithm)
    head = f'{_NR_PART_OPEN}{ref.uri}">'
    value = f"<ds:DigestValue>{ref.digest_value}{_NR_PART_CLOSE}"
    return f"{head}{serialised_m}{value}", f"{head}{canonical_m}{value}"


@functools.lru_cache(maxsize=64)
def _nr_methods(transforms: tuple[str, ...], digest_algorithm: str) -> tuple[str, str]:
    """A reference's ``ds:Transforms`` and ``ds:DigestMethod``, serialised and canonicalised:
    the same for every message's references of one kind, so written once (D391)."""
    if transforms:
        serialised_t = "".join([f'<ds:Transform Algorithm="{t}"/>' for t in transforms])
        canonical_t = "".join(
            [f'<ds:Transform Algorithm="{t}"></ds:Transform>' for t in transforms]
        )
        serialised_t = f"<ds:Transforms>{serialised_t}</ds:Transforms>"
        canonical_t = f"<ds:Transforms>{canonical_t}</ds:Transforms>"
    else:
        serialised_t = canonical_t = ""
    method = f'<ds:DigestMethod Algorithm="{digest_algorithm}"'
    return f"{serialised_t}{method}/>", f"{canonical_t}{method}></ds:DigestMethod>"


def receipt_texts(receipt: Receipt) -> tuple[str, str] | None:
    """``eb:SignalMessage`` of ``receipt`` serialised and in exclusive C14N form (they differ in
    the references' empty elements), or ``None`` when a value is not plain."""
    values: list[str | None] = [receipt.message_id, receipt.ref_to_message_id]
    for r in receipt.references:
        values += (r.uri, r.digest_algorithm, r.digest_value, *r.transforms)
    if not receipt.references or not plain(*values):
        return None  # (no references: an empty element, which self-closes when serialised)
    nri = [_nr_parts(r) for r in receipt.references]
    info = (
        f"<eb:SignalMessage><eb:MessageInfo><eb:Timestamp>{format_timestamp(receipt.timestamp)}"
        f"</eb:Timestamp><eb:MessageId>{receipt.message_id}</eb:MessageId>"
        f"<eb:RefToMessageId>{receipt.ref_to_message_id}</eb:RefToMessageId></eb:MessageInfo>"
        f'<eb:Receipt><ebbp:NonRepudiationInformation xmlns:ebbp="{EBBP_NS}">'
    )
    tail = "</ebbp:NonRepudiationInformation></eb:Receipt></eb:SignalMessage>"
    return (
        f"{info}{''.join([s for s, _ in nri])}{tail}",
        f"{info}{''.join([c for _, c in nri])}{tail}",
    )


def receipt_refs(canonical: str) -> tuple[SignedReference, SignedReference]:
    """The two references a receipt's signature covers: ``eb:Messaging`` (whose
    ``eb:SignalMessage`` has the exclusive C14N form ``canonical``) and the empty Body."""
    return header_refs(canonical)


def header_refs(canonical: str) -> tuple[SignedReference, SignedReference]:
    """``eb:Messaging`` around the unit whose C14N form is ``canonical``, and the empty Body."""
    return (
        SignedReference(
            "#" + MESSAGING_ID,
            (EXC_C14N,),
            SHA256,
            digest_b64(f"{_MESSAGING_C14N_OPEN}{canonical}</eb:Messaging>".encode("ascii")),
        ),
        _BODY_REF,
    )


def render_receipt(receipt: Receipt, signer: Credentials | None) -> bytes | None:
    """The envelope of ``receipt`` signed by ``signer`` (unsigned when ``None``), byte for byte
    what :func:`eessi.as4.security.receipt.signed_receipt` and
    :func:`eessi.as4.ebms_build.serialize` make; ``None`` when a value is not plain (the
    references repeat what the peer sent): take that path."""
    texts = receipt_texts(receipt)
    if texts is None:
        return None
    serialised, canonical = texts
    security = _signature(signer, receipt_refs(canonical)) if signer is not None else ""
    return envelope_text(security, serialised).encode("ascii")
