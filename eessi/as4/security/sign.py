"""Signing an AS4 message (WS-Security 1.1, XML Signature, the SwA profile).

:func:`sign` adds to the envelope's ``wsse:Security`` header (creating it, ``mustUnderstand``)
the signer's certificate as a ``wsse:BinarySecurityToken`` and one ``ds:Signature`` whose
``ds:SignedInfo`` (exclusive C14N, RSA-SHA256) references:

* ``#`` the ``wsu:Id`` of ``eb:Messaging`` and of the SOAP Body, each with the exclusive C14N
  transform and a SHA-256 digest;
* ``cid:`` each attachment, with the Attachment-Content-Signature-Transform: the digest is over
  the attachment's content octets as they travel before encryption (MIME headers excluded), which
  is what WSS4J-based access points (Domibus, phase4) compute for non-XML content.

:func:`references` computes the same references without signing: the digests an unsigned
message's receipt carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from eessi.as4.ebms_build import BODY_ID, MESSAGING_ID, reference_element
from eessi.as4.model import DS_NS, EB_NS, SOAP_NS, WSSE_NS, Attachment, SignedReference
from eessi.as4.security import (
    ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,
    BASE64_BINARY,
    EXC_C14N,
    RSA_SHA256,
    SHA256,
    WSU_ID,
    X509V3,
    Credentials,
    b64,
    c14n,
    certificate_der,
)

__all__ = ["references", "security_header", "sign"]

_DS = "{" + DS_NS + "}"
_WSSE = "{" + WSSE_NS + "}"
_S = "{" + SOAP_NS + "}"
_EB = "{" + EB_NS + "}"
BST_ID = "_signerToken"


def security_header(envelope: etree._Element) -> etree._Element:
    """The envelope's ``wsse:Security`` header, created first in the Header if absent."""
    header = envelope.find(_S + "Header")
    if header is None:
        raise ValueError("an envelope without a SOAP Header")
    existing = header.find(_WSSE + "Security")
    if existing is not None:
        return existing
    security = etree.Element(_WSSE + "Security", nsmap={"wsse": WSSE_NS})
    security.set(_S + "mustUnderstand", "true")
    header.insert(0, security)
    return security


def _signed_parts(envelope: etree._Element) -> tuple[etree._Element, etree._Element]:
    """``eb:Messaging`` and the Body, found where the envelope has them (not by a tree walk)."""
    messaging = envelope.find(f"{_S}Header/{_EB}Messaging")
    body = envelope.find(_S + "Body")
    if messaging is None or body is None:
        raise ValueError("an envelope without eb:Messaging or a Body")
    if messaging.get(WSU_ID) != MESSAGING_ID or body.get(WSU_ID) != BODY_ID:
        raise ValueError("eb:Messaging and the Body must carry the wsu:Ids the signature names")
    return messaging, body


def references(
    envelope: etree._Element, attachments: Sequence[Attachment]
) -> tuple[SignedReference, ...]:
    """The references a signature of this message has: Messaging, Body, each attachment."""
    refs = []
    for ident, el in zip((MESSAGING_ID, BODY_ID), _signed_parts(envelope), strict=True):
        digest = hashlib.sha256(c14n(el)).digest()
        refs.append(SignedReference("#" + ident, (EXC_C14N,), SHA256, b64(digest)))
    for a in attachments:
        refs.append(
            SignedReference(
                "cid:" + a.content_id,
                (ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM,),
                SHA256,
                b64(hashlib.sha256(a.data).digest()),
            )
        )
    return tuple(refs)


def sign(
    envelope: etree._Element, attachments: Sequence[Attachment], credentials: Credentials
) -> tuple[SignedReference, ...]:
    """Sign ``envelope`` and ``attachments`` in place; return the signature's references."""
    refs = references(envelope, attachments)
    security = security_header(envelope)
    token = etree.SubElement(security, _WSSE + "BinarySecurityToken")
    token.set("EncodingType", BASE64_BINARY)
    token.set("ValueType", X509V3)
    token.set(WSU_ID, BST_ID)
    token.text = b64(certificate_der(credentials.certificate))
    signature = etree.SubElement(security, _DS + "Signature", nsmap={"ds": DS_NS})
    signature.set("Id", "_signature")
    signed_info = etree.SubElement(signature, _DS + "SignedInfo")
    etree.SubElement(signed_info, _DS + "CanonicalizationMethod").set("Algorithm", EXC_C14N)
    etree.SubElement(signed_info, _DS + "SignatureMethod").set("Algorithm", RSA_SHA256)
    for ref in refs:
        signed_info.append(reference_element(ref))
    value = credentials.key.sign(c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(signature, _DS + "SignatureValue").text = b64(value)
    key_info = etree.SubElement(signature, _DS + "KeyInfo")
    str_ = etree.SubElement(key_info, _WSSE + "SecurityTokenReference")
    ref_el = etree.SubElement(str_, _WSSE + "Reference")
    ref_el.set("URI", "#" + BST_ID)
    ref_el.set("ValueType", X509V3)
    return refs
