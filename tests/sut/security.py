"""WS-Security signatures of the system under test, written from docs/protocol.md alone.

No ``eessi`` here: lxml for exclusive C14N, ``cryptography`` for X.509 and RSA. What
docs/protocol.md ("The signature") describes, for P-Modes that sign without encrypting
(``[security] encrypt = false``):

- **signing**: SHA-256 digests of the exclusive canonical form of ``eb:Messaging`` and of the
  Body (by their ``wsu:Id``) and of each attachment's content as it travels (the SwA
  Attachment-Content-Signature-Transform); a ``ds:SignedInfo`` with those references, exclusive
  C14N, RSA-SHA256; the signer's certificate as a ``wsse:BinarySecurityToken`` named by the
  ``ds:KeyInfo``'s ``wsse:SecurityTokenReference``;
- **checking**: the certificate issued by the network's CA, valid now, its subject CN the
  From PartyId (else EBMS:0101); every reference recomputed and every part covered (EBMS:0101 /
  EBMS:0103); the signature value over the canonical SignedInfo.

Keys: the network's test PKI (docs/as4.md, "Test PKI"): ``ca.crt``, and per institution
``LU-CNS00001.key`` (PKCS#8 PEM) and ``.crt``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

SOAP = "http://www.w3.org/2003/05/soap-envelope"
EB = "http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SWA_CONTENT = (
    "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform"
)
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
_NS = {"env": SOAP, "eb": EB, "wsse": WSSE, "ds": DS, "wsu": WSU}


class SecurityError(Exception):
    """A signature refused: the ebMS code (EBMS:0101 or EBMS:0103)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Keys:
    """This system's key and certificate, and the network's CA."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    ca: x509.Certificate

    @classmethod
    def load(cls, pki: Path, own_id: str) -> Keys:
        stem = own_id.replace(":", "-")
        key = serialization.load_pem_private_key((pki / f"{stem}.key").read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        cert = x509.load_pem_x509_certificate((pki / f"{stem}.crt").read_bytes())
        ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
        return cls(key, cert, ca)


def c14n(el: etree._Element) -> bytes:
    """Exclusive XML canonicalisation, no comments."""
    return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)


def digest(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _sub(parent: etree._Element, ns: str, tag: str, /, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)


def sign(env: etree._Element, attachments: dict[str, bytes], keys: Keys) -> None:
    """Sign ``env`` in place: ``eb:Messaging``, the Body and each attachment (``cid`` to its
    content as it travels), a ``wsse:Security`` header first in the SOAP header."""
    header = env.find("env:Header", _NS)
    messaging = header.find("eb:Messaging", _NS) if header is not None else None
    body = env.find("env:Body", _NS)
    if header is None or messaging is None or body is None:
        raise SecurityError("no SOAP header, eb:Messaging or Body to sign", "EBMS:0009")
    security = etree.Element(f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    security.set(f"{{{SOAP}}}mustUnderstand", "true")
    header.insert(0, security)
    token = _sub(security, WSSE, "BinarySecurityToken", EncodingType=BASE64, ValueType=X509V3)
    token.set(f"{{{WSU}}}Id", "_signerToken")
    der = keys.certificate.public_bytes(serialization.Encoding.DER)
    token.text = base64.b64encode(der).decode()
    signature = etree.SubElement(security, f"{{{DS}}}Signature", nsmap={"ds": DS})
    signature.set("Id", "_signature")
    info = _sub(signature, DS, "SignedInfo")
    _sub(info, DS, "CanonicalizationMethod", Algorithm=EXC_C14N)
    _sub(info, DS, "SignatureMethod", Algorithm=RSA_SHA256)
    refs = [
        ("#" + str(el.get(f"{{{WSU}}}Id")), EXC_C14N, digest(c14n(el))) for el in (messaging, body)
    ]
    refs += [("cid:" + cid, SWA_CONTENT, digest(data)) for cid, data in attachments.items()]
    for uri, transform, value in refs:
        ref = _sub(info, DS, "Reference", URI=uri)
        _sub(_sub(ref, DS, "Transforms"), DS, "Transform", Algorithm=transform)
        _sub(ref, DS, "DigestMethod", Algorithm=SHA256)
        _sub(ref, DS, "DigestValue").text = value
    signed = keys.key.sign(c14n(info), padding.PKCS1v15(), hashes.SHA256())
    _sub(signature, DS, "SignatureValue").text = base64.b64encode(signed).decode()
    str_ = _sub(_sub(signature, DS, "KeyInfo"), WSSE, "SecurityTokenReference")
    _sub(str_, WSSE, "Reference", URI="#_signerToken", ValueType=X509V3)


def verify(
    env: etree._Element,
    attachments: dict[str, bytes],
    ca: x509.Certificate,
    signer: str,
) -> list[etree._Element]:
    """Check the signature of ``env`` (docs/protocol.md, "Checking it"); its ``ds:Reference``
    elements (what a receipt repeats). :class:`SecurityError` with the code otherwise."""
    signatures = env.findall("env:Header/wsse:Security/ds:Signature", _NS)
    if len(signatures) != 1:
        raise SecurityError(f"{len(signatures)} signatures, one expected", "EBMS:0103")
    signature = signatures[0]
    ref_el = signature.find("ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference", _NS)
    token_id = (ref_el.get("URI") or "").removeprefix("#") if ref_el is not None else ""
    tokens = [
        t
        for t in env.iterfind(".//wsse:BinarySecurityToken", _NS)
        if t.get(f"{{{WSU}}}Id") == token_id
    ]
    if not tokens:
        raise SecurityError("the signature names no certificate", "EBMS:0101")
    cert = x509.load_der_x509_certificate(base64.b64decode(tokens[0].text or ""))
    _check_certificate(cert, ca, signer)
    info = signature.find("ds:SignedInfo", _NS)
    if info is None:
        raise SecurityError("no ds:SignedInfo", "EBMS:0101")
    by_id = {el.get(f"{{{WSU}}}Id"): el for el in env.iter() if el.get(f"{{{WSU}}}Id")}
    header = env.find("env:Header", _NS)
    wanted = {
        "#" + str(el.get(f"{{{WSU}}}Id"))
        for el in (
            header.find("eb:Messaging", _NS) if header is not None else None,
            env.find("env:Body", _NS),
        )
        if el is not None
    } | {"cid:" + cid for cid in attachments}
    refs = info.findall("ds:Reference", _NS)
    covered = set()
    for ref in refs:
        uri = ref.get("URI") or ""
        if uri.startswith("cid:"):
            data = attachments.get(uri[4:])
        else:
            target = by_id.get(uri.removeprefix("#"))
            data = None if target is None else c14n(target)
        if data is None:
            raise SecurityError(f"the reference {uri} names nothing here", "EBMS:0101")
        if digest(data) != (ref.findtext("ds:DigestValue", namespaces=_NS) or "").strip():
            raise SecurityError(f"the digest of {uri} does not match", "EBMS:0101")
        covered.add(uri)
    if covered != wanted:
        raise SecurityError(
            f"the signature covers {sorted(covered)}, not {sorted(wanted)}", "EBMS:0103"
        )
    value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=_NS) or "")
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(value, c14n(info), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SecurityError("the signature value does not verify", "EBMS:0101") from None
    return refs


def _check_certificate(cert: x509.Certificate, ca: x509.Certificate, signer: str) -> None:
    public = ca.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        assert cert.signature_hash_algorithm is not None
        public.verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PKCS1v15(),
            cert.signature_hash_algorithm,
        )
    except (InvalidSignature, AssertionError):
        raise SecurityError(
            "the certificate is not issued by the network's CA", "EBMS:0101"
        ) from None
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SecurityError("the certificate is not valid now", "EBMS:0101")
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [str(n.value) for n in names] != [signer]:
        raise SecurityError(f"the certificate is not {signer}'s", "EBMS:0101")
