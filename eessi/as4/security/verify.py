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

__all__ = ["Verified", "token_certificate", "verify"]

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
    by_cid = {a.content_id: a for a in attachments}
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
        elif uri.startswith("cid:"):
            if transforms != (ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,):
                raise _policy(
                    f"reference {uri!r} must use the Attachment-Content-Signature-Transform"
                )
            attachment = by_cid.get(uri[4:])
            if attachment is None or uri[4:] in covered_cids:
                raise _auth(f"reference {uri!r} names no (or a repeated) attachment")
            covered_cids.add(uri[4:])
            actual = hashlib.sha256(attachment.data).digest()
        else:
            raise _policy(f"reference {uri!r}: only '#id' and 'cid:' references are accepted")
        if not hmac.compare_digest(actual, expected):
            raise _auth(f"the digest of {uri!r} does not match: it was changed", "ds:DigestValue")
        refs.append(SignedReference(uri, transforms, SHA256, digest_el.text or ""))
    if covered_xml != set(wanted) or covered_cids != set(by_cid):
        missing = sorted(set(wanted) - covered_xml) + sorted(set(by_cid) - covered_cids)
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
    return Verified(tuple(refs), cert)


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
