"""Verifying a signed AS4 message (the reverse of :mod:`.sign`), defensively.

:func:`verify` accepts exactly one ``ds:Signature`` in ``wsse:Security`` and refuses, with the
ebMS code a receiver answers:

* EBMS:0103 (PolicyNoncompliance): no signature, another canonicalisation, signature or digest
  algorithm, other transforms, or references that do not cover exactly the ``eb:Messaging``
  header, the SOAP Body and every attachment. A reference must name the header and the Body of
  *this* envelope by position, so a copy moved elsewhere (signature wrapping) is not accepted;
* EBMS:0101 (FailedAuthentication): a digest or the signature value does not match, the
  certificate is not the sender's or not issued by the network's CA, or is not valid now.

Digests are compared in constant time. It returns the references, which the receipt repeats.

A receiver checks in two steps (D390): :func:`verify_signed_info` before anything is
decrypted (the structure, the signer's trust, the digests of the header and the Body, the
signature value over ``ds:SignedInfo``, which holds every reference's digest as received: all
with the sender's public key), then :meth:`Signed.attachments_match` once the attachments are
decrypted. So a forged or unsigned message is refused before this receiver spends an RSA
private-key operation on its transported key. :func:`verify` is the two steps at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from eessi.as4.model import DS_NS, EB_NS, SOAP_NS, WSSE_NS, Attachment, SignedReference
from eessi.as4.security import (
    ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,
    EXC_C14N,
    INCLUSIVE_NAMESPACES,
    RSA_SHA256,
    SHA256,
    WSU_ID,
    X509V3,
    Trust,
    c14n,
    descendant,
    ids_of,
    kids,
    prefix_list,
    security_error,
    unb64,
)

__all__ = ["Signed", "Verified", "token_certificate", "verify", "verify_signed_info"]

_DS = "{" + DS_NS + "}"
_WSSE = "{" + WSSE_NS + "}"
_S = "{" + SOAP_NS + "}"
_EB = "{" + EB_NS + "}"
_TRANSFORMS = _DS + "Transforms"
_TRANSFORM = _DS + "Transform"
_DIGEST_METHOD = _DS + "DigestMethod"
_DIGEST_VALUE = _DS + "DigestValue"
_HEADER = _S + "Header"
_BODY = _S + "Body"
_SECURITY = _WSSE + "Security"
_MESSAGING = _EB + "Messaging"
_SIGNATURE = _DS + "Signature"
_SIGNED_INFO = _DS + "SignedInfo"
_SIGNATURE_VALUE = _DS + "SignatureValue"
_C14N_METHOD = _DS + "CanonicalizationMethod"
_SIGNATURE_METHOD = _DS + "SignatureMethod"
_REFERENCE = _DS + "Reference"
_KEY_INFO = _DS + "KeyInfo"
_TOKEN_REFERENCE = _WSSE + "SecurityTokenReference"
_WSSE_REFERENCE = _WSSE + "Reference"
_BINARY_TOKEN = _WSSE + "BinarySecurityToken"


def _first(groups: dict[object, list[etree._Element]], tag: str) -> etree._Element | None:
    found = groups.get(tag)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Verified:
    """A signature that verified: its references and the signer's certificate."""

    references: tuple[SignedReference, ...]
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class Signed:
    """A signature whose ``ds:SignedInfo`` verified from a trusted signer, and whose header and
    Body digests matched: what is left is the attachments' digests (their decrypted bytes)."""

    references: tuple[SignedReference, ...]
    certificate: x509.Certificate
    #: Per covered attachment, its Content-ID, reference URI and the digest the signer signed.
    pending: tuple[tuple[str, str, bytes], ...]

    def attachments_match(self, attachments: Sequence[Attachment]) -> Verified:
        """The verified signature, if every attachment (decrypted) has the signed digest;
        :class:`EnvelopeError` (EBMS:0101) if one was changed."""
        by_cid = {a.content_id: a for a in attachments}
        for cid, uri, expected in self.pending:
            attachment = by_cid.get(cid)
            actual = hashlib.sha256(attachment.data).digest() if attachment is not None else b""
            if not hmac.compare_digest(actual, expected):
                raise _auth(
                    f"the digest of {uri!r} does not match: it was changed", "ds:DigestValue"
                )
        return Verified(self.references, self.certificate)


def _policy(message: str, where: str = "wsse:Security") -> Exception:
    return security_error(message, where, "EBMS:0103")


def _auth(message: str, where: str = "ds:Signature") -> Exception:
    return security_error(message, where, "EBMS:0101")


def verify(
    envelope: etree._Element,
    attachments: Sequence[Attachment],
    trust: Trust,
    *,
    sender: str | None,
    now: datetime,
) -> Verified:
    """Check the signature of ``envelope`` (attachments already decrypted) from ``sender``."""
    signed = verify_signed_info(
        envelope, [a.content_id for a in attachments], trust, sender=sender, now=now
    )
    return signed.attachments_match(attachments)


def verify_signed_info(
    envelope: etree._Element,
    content_ids: Sequence[str],
    trust: Trust,
    *,
    sender: str | None,
    now: datetime,
) -> Signed:
    """Every check of the signature of ``envelope`` from ``sender`` that needs no attachment's
    bytes: it must cover the header, the Body and the attachments ``content_ids``, come from a
    certificate trusted for ``sender`` at ``now``, and its value must verify over
    ``ds:SignedInfo``; the attachments' digests are compared by :meth:`Signed.attachments_match`."""
    top = kids(envelope)
    header = _first(top, _HEADER)
    body = _first(top, _BODY)
    in_header = kids(header) if header is not None else {}
    security = _first(in_header, _SECURITY)
    messaging = _first(in_header, _MESSAGING)
    if security is None or header is None or body is None or messaging is None:
        raise _policy("the message is not signed (no wsse:Security header)", "env:Header")
    in_security = kids(security)
    signatures = in_security.get(_SIGNATURE, [])
    if len(signatures) != 1:
        raise _policy(f"{len(signatures)} ds:Signature elements; the profile has one")
    signature = signatures[0]
    in_signature = kids(signature)
    signed_info = _first(in_signature, _SIGNED_INFO)
    value_el = _first(in_signature, _SIGNATURE_VALUE)
    if signed_info is None or value_el is None:
        raise _policy("ds:Signature lacks SignedInfo or SignatureValue", "ds:Signature")
    in_signed_info = kids(signed_info)
    method = _first(in_signed_info, _C14N_METHOD)
    sig_method = _first(in_signed_info, _SIGNATURE_METHOD)
    if method is None or method.get("Algorithm") != EXC_C14N:
        raise _policy("SignedInfo is not canonicalised with exclusive C14N", "ds:SignedInfo")
    if any(child.tag != INCLUSIVE_NAMESPACES for child in method):
        raise _policy("unknown parameters of the canonicalisation method", "ds:SignedInfo")
    signed_info_prefixes = prefix_list(method)
    if sig_method is None or sig_method.get("Algorithm") != RSA_SHA256:
        raise _policy("the signature algorithm is not RSA-SHA256", "ds:SignatureMethod")

    cert = _certificate(in_signature, in_security)
    public_key = trust.check(cert, sender, now)

    refs: list[SignedReference] = []
    covered_xml: set[str] = set()
    covered_cids: set[str] = set()
    cids = set(content_ids)
    pending: list[tuple[str, str, bytes]] = []
    wanted = {"messaging": messaging, "body": body}
    ids: dict[str, list[etree._Element]] | None = None
    for ref in in_signed_info.get(_REFERENCE, ()):
        uri = ref.get("URI", "")
        # One walk of the reference's children (Transforms, DigestMethod, DigestValue).
        transform_els: list[etree._Element] = []
        digest_method = digest_el = None
        for part in ref:
            tag = part.tag
            if tag == _TRANSFORMS:
                transform_els += [t for t in part if t.tag == _TRANSFORM]
            elif tag == _DIGEST_METHOD:
                if digest_method is None:
                    digest_method = part
            elif tag == _DIGEST_VALUE and digest_el is None:
                digest_el = part
        transforms = tuple(t.get("Algorithm", "") for t in transform_els)
        if digest_method is None or digest_method.get("Algorithm") != SHA256 or digest_el is None:
            raise _policy(f"reference {uri!r} is not digested with SHA-256", "ds:Reference")
        expected = unb64(digest_el.text, "ds:DigestValue", "EBMS:0101")
        if uri.startswith("#"):
            if transforms != (EXC_C14N,):
                raise _policy(f"reference {uri!r} must use exactly the exclusive C14N transform")
            if ids is None:
                ids = ids_of(envelope)
            found = ids.get(uri[1:], [])
            if len(found) != 1:
                raise _auth(f"reference {uri!r} names {len(found)} elements", "ds:Reference")
            target = found[0]
            name = next((k for k, v in wanted.items() if v is target), None)
            if name is None:
                raise _policy(
                    f"reference {uri!r} names {target.tag}, not eb:Messaging or the Body",
                    "ds:Reference",
                )
            if name in covered_xml:
                raise _policy(f"{name} is referenced twice", "ds:Reference")
            covered_xml.add(name)
            actual = hashlib.sha256(c14n(target, prefix_list(transform_els[0]))).digest()
            if not hmac.compare_digest(actual, expected):
                raise _auth(
                    f"the digest of {uri!r} does not match: it was changed", "ds:DigestValue"
                )
        elif uri.startswith("cid:"):
            if transforms != (ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,):
                raise _policy(
                    f"reference {uri!r} must use the Attachment-Content-Signature-Transform"
                )
            if uri[4:] not in cids or uri[4:] in covered_cids:
                raise _auth(f"reference {uri!r} names no (or a repeated) attachment")
            covered_cids.add(uri[4:])
            pending.append((uri[4:], uri, expected))  # compared once decrypted
        else:
            raise _policy(f"reference {uri!r}: only '#id' and 'cid:' references are accepted")
        refs.append(SignedReference(uri, transforms, SHA256, digest_el.text or ""))
    if covered_xml != set(wanted) or covered_cids != cids:
        missing = sorted(set(wanted) - covered_xml) + sorted(cids - covered_cids)
        raise _policy(f"the signature does not cover: {', '.join(missing)}", "ds:SignedInfo")
    try:
        public_key.verify(
            unb64(value_el.text, "ds:SignatureValue", "EBMS:0101"),
            c14n(signed_info, signed_info_prefixes),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise _auth("the signature value does not verify", "ds:SignatureValue") from None
    return Signed(tuple(refs), cert, tuple(pending))


def _certificate(
    in_signature: dict[object, list[etree._Element]],
    in_security: dict[object, list[etree._Element]],
) -> x509.Certificate:
    """The certificate ``ds:KeyInfo`` names (children of the signature and of
    ``wsse:Security`` by tag, :func:`~eessi.as4.security.kids`)."""
    ref = None
    for key_info in in_signature.get(_KEY_INFO, ()):
        ref = descendant(key_info, _TOKEN_REFERENCE, _WSSE_REFERENCE)
        if ref is not None:
            break
    uri = ref.get("URI", "") if ref is not None else ""
    if not uri.startswith("#"):
        raise _policy("KeyInfo must reference a BinarySecurityToken", "ds:KeyInfo")
    tokens = [t for t in in_security.get(_BINARY_TOKEN, ()) if t.get(WSU_ID) == uri[1:]]
    if len(tokens) != 1 or tokens[0].get("ValueType") != X509V3:
        raise _policy("KeyInfo names no X.509v3 BinarySecurityToken", "ds:KeyInfo")
    return token_certificate(tokens[0].text or "")


@functools.lru_cache(maxsize=256)
def token_certificate(text: str) -> x509.Certificate:
    """The certificate a BinarySecurityToken carries, decoded once per token text (a peer
    sends the same token with every message; a refusal is not kept)."""
    der = unb64(text, "wsse:BinarySecurityToken", "EBMS:0101")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise _auth("the BinarySecurityToken is not an X.509 certificate") from None
