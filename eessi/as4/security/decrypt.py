"""Decrypting AS4 attachments (the reverse of :mod:`.encrypt`).

:func:`decrypt` reads the one ``xenc:EncryptedKey`` of ``wsse:Security``, unwraps the AES key
with the receiver's RSA key (RSA-OAEP, SHA-256, MGF1-SHA-256), and decrypts each attachment an
``xenc:EncryptedData`` names by ``cid:`` (AES-128-GCM: IV || ciphertext || tag), restoring its
``MimeType``. Anything it cannot do is EBMS:0102 (FailedDecryption); algorithms other than the
profile's, or an attachment left unencrypted when the P-Mode encrypts, are EBMS:0103.

The unwrap is the receiver's RSA private-key operation (about 0.7 ms here): an :class:`Unwrap`
does it at most once per message, whichever path reads the message (D390), and not at all for
a copy of a message already receipted (:class:`KnownKeys`, D450).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from eessi.as4.model import DS_NS, SOAP_NS, WSSE_NS, XENC11_NS, XENC_NS, Attachment
from eessi.as4.security import (
    AES128_GCM,
    ATTACHMENT_CIPHERTEXT_TRANSFORM,
    MGF1_SHA256,
    RSA_OAEP,
    SHA256,
    WSU_ID,
    Credentials,
    certificate_b64,
    certificate_der,
    child,
    children,
    descendant,
    kids,
    security_error,
    unb64,
)
from eessi.as4.security.encrypt import OAEP

__all__ = ["KnownKeys", "Unwrap", "decrypt"]

_X = "{" + XENC_NS + "}"
_DS = "{" + DS_NS + "}"
_WSSE = "{" + WSSE_NS + "}"
_S = "{" + SOAP_NS + "}"
_ENCRYPTED_KEY = _X + "EncryptedKey"
_ENCRYPTED_DATA = _X + "EncryptedData"
_BINARY_TOKEN = _WSSE + "BinarySecurityToken"


class KnownKeys:
    """The transported keys of the messages this receiver answered with a receipt, by their
    wrapped form (the ``xenc:CipherValue``'s bytes), the last ``limit`` of them (D450).

    A genuine message posted again (a resend whose receipt was lost, a copy, a replay) carries
    the same wrapped key: RSA-OAEP decryption is a function of those bytes, so its key is the
    one its first copy's unwrap gave, and :class:`Unwrap` takes it from here instead of doing
    the receiver's RSA private-key operation again. Nothing else is skipped: the copy's
    signature and signer were checked before the unwrap is asked (D390), and its attachment is
    decrypted (AES-GCM, whose tag refuses a changed ciphertext) and compared with the signed
    digest as any message's; the MessageId is then found to be a duplicate where it always
    was, in the node's journal. Only keys of messages that passed every check and were
    receipted are added (:meth:`add`); a copy older than the last ``limit`` receipts, or after
    a restart, pays its one unwrap as before (``limit`` 0: none is kept). One per receiver
    key: a wrapped key means its key only for the private key that unwrapped it."""

    __slots__ = ("_keys", "limit")

    def __init__(self, limit: int = 4096) -> None:
        if limit < 0:
            raise ValueError(f"limit must be at least 0 (0: keep none), not {limit!r}")
        self.limit = limit
        self._keys: dict[bytes, bytes] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, wrapped: bytes) -> bytes | None:
        """The key ``wrapped`` unwrapped to for a receipted message, if it is still kept."""
        return self._keys.get(wrapped)

    def add(self, wrapped: bytes, key: bytes) -> None:
        """Keep ``key``, unwrapped from ``wrapped`` for a message just receipted (the oldest
        entry goes beyond :attr:`limit`)."""
        keys = self._keys
        if wrapped in keys or self.limit == 0:
            return
        if len(keys) >= self.limit:
            del keys[next(iter(keys))]
        keys[wrapped] = key


class Unwrap:
    """The RSA-OAEP unwrap of one received message's transported key with this receiver's
    ``key``, done at most once: the text path (:mod:`eessi.as4.recognise`) and the tree path
    (:func:`decrypt`) read the same ``xenc:CipherValue``, and the second asks again only when
    the first could not finish the message (its answer, or its ``ValueError``, is kept).
    ``known``: the keys of receipted messages; a wrapped key found there is not unwrapped again
    (D450)."""

    __slots__ = ("_done", "_key", "_known")

    def __init__(self, key: RSAPrivateKey, known: KnownKeys | None = None) -> None:
        self._key = key
        self._known = known
        self._done: tuple[bytes, bytes | None] | None = None  # (wrapped, unwrapped or failed)

    def __call__(self, wrapped: bytes) -> bytes:
        done = self._done
        if done is not None and done[0] == wrapped:
            unwrapped = done[1]
        else:
            known = self._known
            unwrapped = known.get(wrapped) if known is not None else None
            if unwrapped is None:
                try:
                    unwrapped = self._key.decrypt(wrapped, OAEP)
                except ValueError:
                    unwrapped = None
            self._done = (wrapped, unwrapped)
        if unwrapped is None:
            raise ValueError("the transported key does not decrypt")
        return unwrapped

    @property
    def unwrapped(self) -> tuple[bytes, bytes] | None:
        """The wrapped key and what it unwrapped to (``None``: not asked, or it failed)."""
        done = self._done
        if done is None or done[1] is None:
            return None
        return done[0], done[1]


def _failed(message: str, where: str) -> Exception:
    return security_error(message, where, "EBMS:0102")


def _policy(message: str, where: str) -> Exception:
    return security_error(message, where, "EBMS:0103")


def decrypt(
    envelope: etree._Element,
    attachments: Sequence[Attachment],
    credentials: Credentials,
    *,
    required: bool = True,
    unwrap: Unwrap | None = None,
) -> list[Attachment]:
    """The attachments, decrypted; ``required``: every attachment must have been encrypted.
    ``unwrap``: the message's :class:`Unwrap` when another path may have unwrapped its key."""
    security = descendant(envelope, _S + "Header", _WSSE + "Security")
    in_security = kids(security) if security is not None else {}
    keys = in_security.get(_ENCRYPTED_KEY, [])
    if not keys:
        if required and attachments:
            raise _policy(
                "the attachments are not encrypted, and the P-Mode says they are", "wsse:Security"
            )
        return list(attachments)
    if len(keys) != 1 or security is None:
        raise _policy("more than one xenc:EncryptedKey", "wsse:Security")
    ek = keys[0]
    method = child(ek, _X + "EncryptionMethod")
    if (
        method is None
        or method.get("Algorithm") != RSA_OAEP
        or (digest := child(method, _DS + "DigestMethod")) is None
        or digest.get("Algorithm") != SHA256
        or (mgf := child(method, "{" + XENC11_NS + "}MGF")) is None
        or mgf.get("Algorithm") != MGF1_SHA256
    ):
        raise _policy(
            "the key is not transported with RSA-OAEP (SHA-256, MGF1-SHA-256)", "xenc:EncryptedKey"
        )
    _check_recipient(ek, in_security, credentials)
    cipher_value = descendant(ek, _X + "CipherData", _X + "CipherValue")
    wrapped = unb64(
        (cipher_value.text or "") if cipher_value is not None else None,
        "xenc:CipherValue",
        "EBMS:0102",
    )
    try:
        key = (unwrap or Unwrap(credentials.key))(wrapped)
    except ValueError:
        raise _failed(
            "the transported key does not decrypt with this receiver's key", "xenc:EncryptedKey"
        ) from None
    if len(key) != 16:
        raise _failed("the transported key is not an AES-128 key", "xenc:EncryptedKey")
    aes = AESGCM(key)
    listed = {
        (r.get("URI") or "")[1:]
        for rl in children(ek, _X + "ReferenceList")
        for r in children(rl, _X + "DataReference")
    }
    by_cid = {a.content_id: a for a in attachments}
    plain: dict[str, Attachment] = {}
    for data in in_security.get(_ENCRYPTED_DATA, ()):
        where = f"xenc:EncryptedData[@Id={data.get('Id')!r}]"
        if data.get("Id") not in listed:
            raise _failed("an EncryptedData the EncryptedKey does not list", where)
        alg = child(data, _X + "EncryptionMethod")
        if alg is None or alg.get("Algorithm") != AES128_GCM:
            raise _policy("an attachment is not encrypted with AES-128-GCM", where)
        cref = descendant(data, _X + "CipherData", _X + "CipherReference")
        uri = cref.get("URI", "") if cref is not None else ""
        transforms = (
            [
                t.get("Algorithm")
                for ts in children(cref, _X + "Transforms")
                for t in children(ts, _DS + "Transform")
            ]
            if cref is not None
            else []
        )
        if not uri.startswith("cid:") or transforms != [ATTACHMENT_CIPHERTEXT_TRANSFORM]:
            raise _policy(
                "EncryptedData must reference an attachment (cid:) with the "
                "Attachment-Ciphertext-Transform",
                where,
            )
        part = by_cid.get(uri[4:])
        if part is None or uri[4:] in plain:
            raise _failed(f"{uri} names no (or a repeated) attachment", where)
        if len(part.data) < 12 + 16:
            raise _failed(f"{uri} is too short to be AES-GCM ciphertext", where)
        try:
            clear = aes.decrypt(part.data[:12], part.data[12:], None)
        except InvalidTag:
            raise _failed(f"{uri} does not decrypt (changed, or another key)", where) from None
        plain[part.content_id] = Attachment(
            part.content_id, data.get("MimeType") or "application/octet-stream", clear
        )
    if required and set(plain) != set(by_cid):
        raise _policy(
            f"attachments left unencrypted: {', '.join(sorted(set(by_cid) - set(plain)))}",
            "wsse:Security",
        )
    return [plain.get(a.content_id, a) for a in attachments]


def _check_recipient(
    ek: etree._Element, in_security: dict[object, list[etree._Element]], credentials: Credentials
) -> None:
    """The EncryptedKey names this receiver's certificate (direct reference or issuer/serial)."""
    str_ = descendant(ek, _DS + "KeyInfo", _WSSE + "SecurityTokenReference")
    if str_ is None:
        return  # no key identifier: the unwrap below decides
    ref = child(str_, _WSSE + "Reference")
    serial: int | None = None
    if ref is not None:
        uri = ref.get("URI", "")
        tokens = [
            t
            for t in in_security.get(_BINARY_TOKEN, ())
            if uri.startswith("#") and t.get(WSU_ID) == uri[1:]
        ]
        if len(tokens) != 1:
            raise _failed(
                f"the EncryptedKey names token {uri!r}, which is not in the header",
                "xenc:EncryptedKey",
            )
        text = tokens[0].text
        if text == certificate_b64(credentials.certificate):
            return  # this receiver's own certificate as its token carries it (our senders')
        der = unb64(text, "wsse:BinarySecurityToken", "EBMS:0102")
        if der == certificate_der(credentials.certificate):
            return  # this receiver's own certificate, byte for byte
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise _failed(
                "the receiver's token is not an X.509 certificate", "wsse:BinarySecurityToken"
            ) from None
        if cert != credentials.certificate:
            raise _failed("the key was encrypted for another certificate", "xenc:EncryptedKey")
        return
    text = str_.findtext(f"{_DS}X509Data/{_DS}X509IssuerSerial/{_DS}X509SerialNumber")
    if text is not None:
        try:
            serial = int(text.strip())
        except ValueError:
            raise _failed("X509SerialNumber is not a number", "xenc:EncryptedKey") from None
        if serial != credentials.certificate.serial_number:
            raise _failed("the key was encrypted for another certificate", "xenc:EncryptedKey")
