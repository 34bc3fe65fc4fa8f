"""Encrypting AS4 attachments (WS-Security SwA profile, XML Encryption 1.1).

:func:`encrypt` draws one AES-128 key per message, encrypts every attachment with AES-128-GCM
(a fresh 96-bit IV per part; the part's bytes become IV || ciphertext || 128-bit tag, as XML
Encryption 1.1 lays out GCM), and adds to ``wsse:Security``:

* the receiver's certificate as a ``wsse:BinarySecurityToken`` (X509v3);
* an ``xenc:EncryptedKey``: the AES key under the receiver's RSA key with RSA-OAEP
  (``xenc11#rsa-oaep``, SHA-256 digest, MGF1 with SHA-256), naming that token by a direct
  ``wsse:Reference`` (the key identifier phase4 and the ``as4`` package use by default; the
  decrypter also accepts an issuer and serial number), and a ``xenc:ReferenceList`` of the
  encrypted parts;
* one ``xenc:EncryptedData`` per attachment, ``Type`` Attachment-Content-Only, the original
  ``MimeType``, and a ``xenc:CipherReference`` to the part (``cid:``) with the
  Attachment-Ciphertext-Transform.

Sign first, then encrypt (the profile's order): the signature covers the plain attachments.
The encrypted parts travel as ``application/octet-stream``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from eessi.as4.model import DS_NS, WSSE11_NS, WSSE_NS, XENC11_NS, XENC_NS, Attachment
from eessi.as4.security import (
    AES128_GCM,
    ATTACHMENT_CIPHERTEXT_TRANSFORM,
    ATTACHMENT_CONTENT_ONLY,
    BASE64_BINARY,
    ENCRYPTED_KEY_TOKEN,
    MGF1_SHA256,
    RSA_OAEP,
    SHA256,
    WSU_ID,
    X509V3,
    b64,
    certificate_der,
)
from eessi.as4.security.sign import security_header

__all__ = ["OAEP", "encrypt"]

_X = "{" + XENC_NS + "}"
_DS = "{" + DS_NS + "}"
_WSSE = "{" + WSSE_NS + "}"
#: RSA-OAEP as eDelivery AS4 uses it: SHA-256 digest, MGF1 with SHA-256, no label.
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
KEY_ID = "_encryptedKey"
RECIPIENT_TOKEN_ID = "_recipientToken"


def encrypt(
    envelope: etree._Element,
    attachments: Sequence[Attachment],
    recipient: x509.Certificate,
    *,
    random: bytes | None = None,
) -> list[Attachment]:
    """Encrypt ``attachments`` for ``recipient``; return the parts to send instead.

    ``random`` (16 + 12 per attachment bytes) replaces ``os.urandom`` for reproducible tests.
    """
    public_key = recipient.public_key()
    if not isinstance(public_key, RSAPublicKey):
        raise ValueError("the recipient's certificate has no RSA key")
    pool = random if random is not None else os.urandom(16 + 12 * len(attachments))
    key, pool = pool[:16], pool[16:]
    aes = AESGCM(key)
    security = security_header(envelope)
    encrypted_key = etree.Element(_X + "EncryptedKey", nsmap={"xenc": XENC_NS})
    encrypted_key.set("Id", KEY_ID)
    method = etree.SubElement(encrypted_key, _X + "EncryptionMethod")
    method.set("Algorithm", RSA_OAEP)
    etree.SubElement(method, _DS + "DigestMethod", nsmap={"ds": DS_NS}).set("Algorithm", SHA256)
    etree.SubElement(method, "{" + XENC11_NS + "}MGF", nsmap={"xenc11": XENC11_NS}).set(
        "Algorithm", MGF1_SHA256
    )
    token = etree.Element(_WSSE + "BinarySecurityToken")
    token.set("EncodingType", BASE64_BINARY)
    token.set("ValueType", X509V3)
    token.set(WSU_ID, RECIPIENT_TOKEN_ID)
    token.text = b64(certificate_der(recipient))
    key_info = etree.SubElement(encrypted_key, _DS + "KeyInfo", nsmap={"ds": DS_NS})
    str_ = etree.SubElement(key_info, _WSSE + "SecurityTokenReference")
    token_ref = etree.SubElement(str_, _WSSE + "Reference")
    token_ref.set("URI", "#" + RECIPIENT_TOKEN_ID)
    token_ref.set("ValueType", X509V3)
    cipher_data = etree.SubElement(encrypted_key, _X + "CipherData")
    etree.SubElement(cipher_data, _X + "CipherValue").text = b64(public_key.encrypt(key, OAEP))
    ref_list = etree.SubElement(encrypted_key, _X + "ReferenceList")
    out: list[Attachment] = []
    data_elements: list[etree._Element] = []
    for i, attachment in enumerate(attachments):
        iv, pool = pool[:12], pool[12:]
        data_id = f"_encryptedData-{i + 1}"
        etree.SubElement(ref_list, _X + "DataReference").set("URI", "#" + data_id)
        data = etree.Element(_X + "EncryptedData", nsmap={"xenc": XENC_NS})
        data.set("Id", data_id)
        data.set("Type", ATTACHMENT_CONTENT_ONLY)
        data.set("MimeType", attachment.content_type)
        etree.SubElement(data, _X + "EncryptionMethod").set("Algorithm", AES128_GCM)
        dki = etree.SubElement(data, _DS + "KeyInfo", nsmap={"ds": DS_NS})
        dstr = etree.SubElement(dki, _WSSE + "SecurityTokenReference", nsmap={"wsse11": WSSE11_NS})
        dstr.set("{" + WSSE11_NS + "}TokenType", ENCRYPTED_KEY_TOKEN)
        etree.SubElement(dstr, _WSSE + "Reference").set("URI", "#" + KEY_ID)
        cref = etree.SubElement(etree.SubElement(data, _X + "CipherData"), _X + "CipherReference")
        cref.set("URI", "cid:" + attachment.content_id)
        transforms = etree.SubElement(cref, _X + "Transforms")
        etree.SubElement(transforms, _DS + "Transform", nsmap={"ds": DS_NS}).set(
            "Algorithm", ATTACHMENT_CIPHERTEXT_TRANSFORM
        )
        data_elements.append(data)
        out.append(
            Attachment(
                attachment.content_id,
                "application/octet-stream",
                iv + aes.encrypt(iv, attachment.data, None),
            )
        )
    # WS-Security prepends: the receiver meets the key and the data before the signature,
    # so it decrypts first and then verifies, the order they were applied in reverse.
    for el in reversed(data_elements):
        security.insert(0, el)
    security.insert(0, encrypted_key)
    security.insert(0, token)
    return out
