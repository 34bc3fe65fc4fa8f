"""A real RSA private key that counts its private-key operations, and can answer repeats.

The receiver's and the signer's private-key operations (an RSA-OAEP unwrap, an RSA-SHA256
signature: about 0.7 ms of CPU each here) are what the AS4 layer's security costs most; how
many a message costs is part of its behaviour (D390: none for a forged message; D450: none for
the replay of a message already receipted). :class:`CountingKey` stands in for the key where
that is measured: ``tests/as4`` count with it, ``bench/as4.py`` takes the operations out of its
"own work" rows with ``memo=True`` (the same input gets the first answer again, so what is left
is the layer's own work). Everything else is the real key's (``cryptography``'s
:class:`~cryptography.hazmat.primitives.asymmetric.rsa.RSAPrivateKey` interface, which has no
hook of its own for this).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateKey,
    RSAPrivateNumbers,
    RSAPublicKey,
)

__all__ = ["CountingKey"]


class CountingKey(RSAPrivateKey):
    """``key`` itself, counting its decryptions and signatures (``decrypts``, ``signs``).

    ``memo``: a decryption or signature of an input seen before is answered from a memo of the
    first answer and not counted (RSA-OAEP decryption and PKCS#1 v1.5 signatures are functions
    of their input; only a benchmark wants this)."""

    def __init__(self, key: RSAPrivateKey, *, memo: bool = False) -> None:
        self.key = key
        self.decrypts = 0
        self.signs = 0
        self._memo: dict[tuple[str, bytes], bytes] | None = {} if memo else None

    @property
    def operations(self) -> int:
        """Private-key operations done so far (decryptions and signatures)."""
        return self.decrypts + self.signs

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        memo = self._memo
        if memo is not None and (found := memo.get(("d", ciphertext))) is not None:
            return found
        self.decrypts += 1
        clear = self.key.decrypt(ciphertext, padding)
        if memo is not None:
            memo[("d", ciphertext)] = clear
        return clear

    def sign(self, data: bytes, padding: AsymmetricPadding, algorithm: Any) -> bytes:
        memo = self._memo
        if memo is not None and (found := memo.get(("s", data))) is not None:
            return found
        self.signs += 1
        signature = self.key.sign(data, padding, algorithm)
        if memo is not None:
            memo[("s", data)] = signature
        return signature

    @property
    def key_size(self) -> int:
        return self.key.key_size

    def public_key(self) -> RSAPublicKey:
        return self.key.public_key()

    def private_numbers(self) -> RSAPrivateNumbers:
        return self.key.private_numbers()

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        return self.key.private_bytes(*args, **kwargs)

    def __copy__(self) -> CountingKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> CountingKey:
        return self
