"""eessi.as4.security.keys.CountingKey: the real key's answers, its private-key operations
counted, and with ``memo=True`` a repeated input answered from the first answer (what
bench/as4.py's "own work" rows rely on to leave the RSA private operations out)."""

from __future__ import annotations

import copy

import pytest
from as4_support import CPAM, make_pki
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from eessi.as4.pki import Pki
from eessi.as4.security.encrypt import OAEP
from eessi.as4.security.keys import CountingKey

PKCS1 = padding.PKCS1v15()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CPAM})


def test_the_real_keys_answers_and_every_operation_counted(pki: Pki) -> None:
    real = pki.credentials(CPAM).key
    key = CountingKey(real)
    public = real.public_key()
    wrapped = public.encrypt(b"k" * 16, OAEP)
    assert key.decrypt(wrapped, OAEP) == b"k" * 16
    assert key.decrypt(wrapped, OAEP) == b"k" * 16
    signature = key.sign(b"data", PKCS1, hashes.SHA256())
    public.verify(signature, b"data", PKCS1, hashes.SHA256())  # the real key's signature
    assert (key.decrypts, key.signs, key.operations) == (2, 1, 3)
    assert key.key_size == real.key_size
    assert copy.copy(key) is key  # the counter is shared, as the key object is


def test_with_a_memo_a_repeated_input_costs_no_operation(pki: Pki) -> None:
    real = pki.credentials(CPAM).key
    key = CountingKey(real, memo=True)
    public = real.public_key()
    first, second = public.encrypt(b"a" * 16, OAEP), public.encrypt(b"b" * 16, OAEP)
    assert [key.decrypt(w, OAEP) for w in (first, first, second, first)] == [
        b"a" * 16,
        b"a" * 16,
        b"b" * 16,
        b"a" * 16,
    ]
    signatures = {key.sign(b"same", PKCS1, hashes.SHA256()) for _ in range(3)}
    assert len(signatures) == 1
    assert (key.decrypts, key.signs) == (2, 1)
