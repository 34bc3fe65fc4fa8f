"""WS-Security 1.1 for AS4, as the eDelivery AS4 common profile has it.

Each step is its own module, readable next to its specification:

* :mod:`.sign`: one ``ds:Signature`` in ``wsse:Security`` over the ``eb:Messaging`` header, the
  SOAP Body (exclusive C14N) and every attachment (the SwA profile's
  Attachment-Content-Signature-Transform), RSA-SHA256, the signer's X.509 certificate as a
  ``wsse:BinarySecurityToken``;
* :mod:`.verify`: the reverse, refusing a signature that does not cover what the profile
  requires (EBMS:0103), does not verify (EBMS:0101) or comes from an untrusted certificate;
* :mod:`.encrypt` / :mod:`.decrypt`: every attachment under AES-128-GCM, the key sent with
  RSA-OAEP (XML Encryption 1.1, SHA-256, MGF1 with SHA-256) for the receiver's certificate;
* :mod:`.receipt`: the signed receipt bound to the message's digests, and its check.

This module holds what they share: the algorithm URIs, the key material, the trust anchor, and
exclusive canonicalisation. The XML work is lxml; the cryptography is ``cryptography``
(``docs/decisions.md`` D57 says why no XML-security library signs here).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

from eessi.as4.model import WSU_NS
from eessi.errors import EnvelopeError

__all__ = [
    "ATTACHMENT_CIPHERTEXT_TRANSFORM",
    "ATTACHMENT_CONTENT_ONLY",
    "ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM",
    "EXC_C14N",
    "RSA_SHA256",
    "SHA256",
    "TRUSTED_CACHE",
    "Credentials",
    "Trust",
    "c14n",
    "certificate_b64",
    "certificate_der",
    "child",
    "children",
    "descendant",
    "kids",
    "per_certificate",
    "security_error",
]

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"
AES128_GCM: Final = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
RSA_OAEP: Final = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
MGF1_SHA256: Final = "http://www.w3.org/2009/xmlenc11#mgf1sha256"
_SWA: Final = "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1"
ATTACHMENT_CONTENT_SIGNATURE_TRANSFORM: Final = _SWA + "#Attachment-Content-Signature-Transform"
ATTACHMENT_CIPHERTEXT_TRANSFORM: Final = _SWA + "#Attachment-Ciphertext-Transform"
ATTACHMENT_CONTENT_ONLY: Final = _SWA + "#Attachment-Content-Only"
_TOKEN: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-"
X509V3: Final = _TOKEN + "x509-token-profile-1.0#X509v3"
BASE64_BINARY: Final = _TOKEN + "soap-message-security-1.0#Base64Binary"
ENCRYPTED_KEY_TOKEN: Final = (
    "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#EncryptedKey"
)
WSU_ID: Final = "{" + WSU_NS + "}Id"


@dataclass(frozen=True, slots=True)
class Credentials:
    """An institution's own key and certificate (from ``eessi pki init``)."""

    key: RSAPrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class Trust:
    """The network's trust anchor: a certificate is trusted if this CA issued it, it is valid
    at the time of the check, and its subject CN is the party it speaks for.

    What does not change between messages (that the CA issued the certificate, its subject's
    CN, its RSA key) is worked out once per certificate and kept (at most
    :data:`TRUSTED_CACHE` of them); the validity period is checked against every ``now``.
    """

    ca: x509.Certificate
    _issued: dict[x509.Certificate, tuple[str | None, RSAPublicKey]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )
    #: The same, by the certificate object's identity (the object is kept, so its ``id`` is
    #: not reused while it is here): hashing and comparing a certificate costs about 20 µs.
    _seen: dict[int, tuple[x509.Certificate, tuple[str | None, RSAPublicKey]]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def check(self, cert: x509.Certificate, party: str | None, now: datetime) -> RSAPublicKey:
        """The certificate's RSA key, or :class:`EnvelopeError` (EBMS:0101) saying why not."""
        seen = self._seen.get(id(cert))
        if seen is not None and seen[0] is cert:
            known = seen[1]
        else:
            found = self._issued.get(cert)
            known = found if found is not None else self._first_check(cert)
            if len(self._seen) >= TRUSTED_CACHE:
                self._seen.clear()
            self._seen[id(cert)] = (cert, known)
        name, key = known
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise security_error(
                f"the signing certificate is not valid at {now.isoformat()}",
                "wsse:BinarySecurityToken",
                "EBMS:0101",
            )
        if party is not None and name != party:
            raise security_error(
                f"the signing certificate is {name!r}'s, not {party!r}'s",
                "wsse:BinarySecurityToken",
                "EBMS:0101",
            )
        return key

    def _first_check(self, cert: x509.Certificate) -> tuple[str | None, RSAPublicKey]:
        try:
            cert.verify_directly_issued_by(self.ca)
        except (InvalidSignature, ValueError, TypeError):
            raise security_error(
                "the signing certificate was not issued by the network's CA",
                "wsse:BinarySecurityToken",
                "EBMS:0101",
            ) from None
        key = cert.public_key()
        if not isinstance(key, RSAPublicKey):
            raise security_error(
                "the certificate's key is not RSA", "wsse:BinarySecurityToken", "EBMS:0103"
            )
        if len(self._issued) >= TRUSTED_CACHE:
            self._issued.clear()
        known = self._issued[cert] = (common_name(cert), key)
        return known


#: Most certificates a :class:`Trust` keeps checked (a network has a few dozen institutions).
TRUSTED_CACHE: Final = 1024


_T = TypeVar("_T")


def per_certificate(fn: Callable[[x509.Certificate], _T]) -> Callable[[x509.Certificate], _T]:
    """``fn`` worked out once per certificate object (at most 256 kept). Keyed by identity,
    the object kept beside its value so its ``id`` is not reused while cached: an
    ``lru_cache`` hashes and compares the certificate, about 20 µs per call."""
    cache: dict[int, tuple[x509.Certificate, _T]] = {}

    @functools.wraps(fn)
    def cached(certificate: x509.Certificate) -> _T:
        hit = cache.get(id(certificate))
        if hit is not None and hit[0] is certificate:
            return hit[1]
        value = fn(certificate)
        if len(cache) >= 256:
            cache.clear()
        cache[id(certificate)] = (certificate, value)
        return value

    return cached


@per_certificate
def certificate_der(certificate: x509.Certificate) -> bytes:
    """The certificate's DER bytes (worked out once per certificate)."""
    return certificate.public_bytes(Encoding.DER)


@per_certificate
def certificate_b64(certificate: x509.Certificate) -> str:
    """The certificate's DER in base64, as a BinarySecurityToken carries it (once per peer)."""
    return base64.b64encode(certificate_der(certificate)).decode("ascii")


def child(el: etree._Element, tag: str) -> etree._Element | None:
    """``el.find(tag)`` for a plain ``{ns}name``: the first child with that tag, by a walk of
    the children (lxml's ``find`` compiles a path per call: ten times slower here)."""
    for c in el:
        if c.tag == tag:
            return c
    return None


def children(el: etree._Element, tag: str) -> list[etree._Element]:
    """``el.findall(tag)`` for a plain ``{ns}name``: the children with that tag, in order."""
    return [c for c in el if c.tag == tag]


def kids(el: etree._Element) -> dict[object, list[etree._Element]]:
    """``el``'s children grouped by tag, in order, in one walk: ``kids(el).get(tag)`` is
    ``children(el, tag)`` (or ``None``), its first item ``child(el, tag)``, for an element
    asked about several tags (each ``child`` walks the children and builds each tag again)."""
    out: dict[object, list[etree._Element]] = {}
    for c in el:
        tag = c.tag
        found = out.get(tag)
        if found is None:
            out[tag] = [c]
        else:
            found.append(c)
    return out


def descendant(el: etree._Element, *tags: str) -> etree._Element | None:
    """``el.find("t1/t2/...")``: the first element at that child path, in document order."""
    first, rest = tags[0], tags[1:]
    for c in el:
        if c.tag == first:
            found = descendant(c, *rest) if rest else c
            if found is not None:
                return found
    return None


def common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else None
    return value if isinstance(value, str) else None


def security_error(message: str, where: str, code: str, hint: str | None = None) -> EnvelopeError:
    """A refusal of the security layer, answered with ``code`` (EBMS:0101/0102/0103/0302)."""
    return EnvelopeError(
        message,
        code="as4.security",
        where=where,
        hint=hint
        or "sign and encrypt as the P-Mode and the eDelivery AS4 profile say (docs/as4.md)",
        details={"ebms_code": code},
    )


#: The exclusive C14N parameter element (``ec:InclusiveNamespaces/@PrefixList``).
INCLUSIVE_NAMESPACES: Final = "{" + EXC_C14N + "}InclusiveNamespaces"


def c14n(el: etree._Element, inclusive_prefixes: Sequence[str] = ()) -> bytes:
    """Exclusive XML canonicalisation (without comments) of ``el`` in its document.

    ``inclusive_prefixes``: the PrefixList of an ``ec:InclusiveNamespaces`` parameter, which
    WSS4J-based access points (Domibus, phase4) put on their canonicalisations.
    """
    return etree.tostring(
        el,
        method="c14n",
        exclusive=True,
        with_comments=False,
        inclusive_ns_prefixes=list(inclusive_prefixes) or None,
    )


def prefix_list(algorithm_element: etree._Element) -> tuple[str, ...]:
    """The PrefixList of the ``ec:InclusiveNamespaces`` under a C14N method or transform
    (``#default``, the default namespace, is left out: AS4 headers use prefixed names)."""
    params = child(algorithm_element, INCLUSIVE_NAMESPACES)
    if params is None:
        return ()
    return tuple(p for p in (params.get("PrefixList") or "").split() if p != "#default")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str | None, where: str, code: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except ValueError:
        raise security_error("a base64 value does not decode", where, code) from None


_ID_ATTRIBUTES = etree.XPath("//@wsu:Id | //@Id", namespaces={"wsu": WSU_NS})


def ids_of(root: etree._Element) -> dict[str, list[etree._Element]]:
    """Every ``wsu:Id`` (or ``Id``) of ``root``'s document and the elements that carry it,
    in one pass (a reference must name exactly one element: no signature wrapping).

    The XPath selects the attributes themselves (three times faster than selecting the
    elements that have them and reading both attributes of each); an element whose ``wsu:Id``
    and ``Id`` are the same counts once (its attributes come one after the other).
    """
    out: dict[str, list[etree._Element]] = {}
    found = _ID_ATTRIBUTES(root)
    assert isinstance(found, list)
    for attr in found:
        if isinstance(attr, etree._ElementUnicodeResult):
            owner = attr.getparent()
            if owner is None:
                continue
            carriers = out.setdefault(str(attr), [])
            if not carriers or carriers[-1] is not owner:
                carriers.append(owner)
    return out


def unique_ids(prefix: str, used: Iterable[str]) -> str:
    taken = set(used)
    n = 1
    while f"{prefix}-{n}" in taken:
        n += 1
    return f"{prefix}-{n}"
