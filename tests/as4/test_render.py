"""The template that writes a user message's envelope (eessi.as4.render, D135), and a receipt's
(D170), sends exactly the bytes the lxml builder, signer and encrypter make (so test_security's
xmlsec evidence holds for it), its digests are lxml's exclusive C14N, and anything it cannot
write without escaping goes the lxml way."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest
from as4_support import CNS, CPAM, WHEN, header_variants, make_pki, s072_message
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from lxml import etree

from eessi.as4.ebms_build import serialize, user_message_envelope
from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.model import (
    DS_NS,
    EB_NS,
    SOAP_NS,
    Attachment,
    Receipt,
    UserMessage,
)
from eessi.as4.pki import Pki
from eessi.as4.render import render_receipt, render_user_message
from eessi.as4.security import EXC_C14N, b64, c14n
from eessi.as4.security.encrypt import encrypt
from eessi.as4.security.receipt import check_receipt, signed_receipt
from eessi.as4.security.sign import references, sign
from eessi.as4.security.verify import verify

RANDOM = bytes(range(28))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM})


def _lxml_path(
    um: UserMessage, attachment: Attachment, pki: Pki, *, signs: bool, encrypts: bool
) -> bytes:
    envelope = user_message_envelope(um)
    if signs:
        sign(envelope, [attachment], pki.credentials(CNS))
    if encrypts:
        encrypt(envelope, [attachment], pki.certificate(CPAM), random=RANDOM)
    return serialize(envelope)


def _without_cipher_value(data: bytes) -> bytes:
    """RSA-OAEP is randomised: the wrapped key differs between any two encryptions."""
    root = etree.fromstring(data)
    for el in root.iter("{http://www.w3.org/2001/04/xmlenc#}CipherValue"):
        el.text = "wrapped"
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("signs", "encrypts"), [(True, True), (True, False), (False, True), (False, False)]
)
@pytest.mark.parametrize("variant", range(6))
def test_the_template_sends_the_bytes_the_lxml_path_makes(
    pki: Pki, signs: bool, encrypts: bool, variant: int
) -> None:
    um = header_variants()[variant]
    _, attachment, _ = s072_message()
    rendered = render_user_message(
        um,
        attachment,
        signer=pki.credentials(CNS) if signs else None,
        recipient=pki.certificate(CPAM) if encrypts else None,
        random=RANDOM,
    )
    assert rendered is not None
    data, parts, refs = rendered
    want = _lxml_path(um, attachment, pki, signs=signs, encrypts=encrypts)
    if encrypts:
        assert _without_cipher_value(data) == _without_cipher_value(want)
        assert parts[0].data != attachment.data
        assert parts[0].content_type == ("application/octet-stream")
    else:
        assert data == want
        assert parts == [attachment]
    # The digests are lxml's exclusive C14N of the parts as the receiver parses them.
    root = parse_envelope(data).root
    assert refs == references(root, [attachment])
    if signs:
        verify(root, [attachment], pki.trust, sender=CNS, now=WHEN)


def test_the_signed_digest_is_over_the_canonical_form_not_the_serialised_one(pki: Pki) -> None:
    um, attachment, _ = s072_message()
    rendered = render_user_message(um, attachment, signer=pki.credentials(CNS), recipient=None)
    assert rendered is not None
    root = etree.fromstring(rendered[0])
    messaging = root.find(f"{{{SOAP_NS}}}Header/{{{EB_NS}}}Messaging")
    assert messaging is not None
    canonical = c14n(messaging)
    assert canonical != etree.tostring(messaging)  # namespaces and attribute order differ
    assert rendered[2][0].digest_value == b64(hashlib.sha256(canonical).digest())
    signed_info = root.find(f".//{{{DS_NS}}}SignedInfo")
    assert signed_info is not None
    public = pki.certificate(CNS).public_key()
    assert isinstance(public, RSAPublicKey)
    value = base64.b64decode(root.findtext(f".//{{{DS_NS}}}SignatureValue") or "")
    public.verify(value, c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("conversation_id", "FR-1&2"),
        ("message_id", "m<1>@x"),
        ("message_id", 'm"1"@x'),
        ("conversation_id", "caf\u00e9"),
        ("conversation_id", "a\tb"),
        ("message_id", ""),
    ],
)
def test_a_value_the_template_would_have_to_escape_goes_the_lxml_way(
    pki: Pki, field: str, value: str
) -> None:
    um, attachment, _ = s072_message()
    if field == "message_id":
        odd = replace(um, message_id=value)
    else:
        odd = replace(um, conversation_id=value)
    assert render_user_message(odd, attachment, signer=pki.credentials(CNS), recipient=None) is None


def test_a_message_id_with_an_ampersand_is_sent_the_lxml_way_and_received(pki: Pki) -> None:
    from as4_support import pmodes

    from eessi.as4.exchange import build_sed_message, receive_user_message
    from eessi.as4.mapping import Addressing

    pm = pmodes()
    _, _, sed = s072_message()
    out = build_sed_message(
        Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4"),
        pm.find("S_BUC_01", "S072"),
        sed,
        message_id="m&1@eessi-sim",
        timestamp=WHEN,
        content_id="sed-1@eessi-sim",
        credentials=pki.credentials(CNS),
        recipient=pki.certificate(CPAM),
    )
    assert b"m&amp;1@eessi-sim" in out.packaged.body
    got = receive_user_message(
        out.packaged.content_type,
        out.packaged.body,
        pmodes=pm,
        receiver=CPAM,
        credentials=pki.credentials(CPAM),
        trust=pki.trust,
        now=WHEN,
    )
    assert got.delivered.message.message_id == "m&1@eessi-sim"
    assert got.delivered.payload == sed
    assert got.references == out.references


# -- receipts (D170) ----------------------------------------------------------------------------


def _receipts() -> list[Receipt]:
    um, attachment, _ = s072_message()
    refs = references(user_message_envelope(um), [attachment])
    base = Receipt("r-1@eessi-sim", WHEN, um.message_id, refs)
    return [
        base,
        replace(base, references=refs[:1]),
        # another access point's references: no transform, or two
        replace(base, references=(replace(refs[0], transforms=()),)),
        replace(base, references=(replace(refs[0], transforms=(EXC_C14N, EXC_C14N)),)),
    ]


@pytest.mark.parametrize("signs", [True, False])
@pytest.mark.parametrize("variant", range(4))
def test_the_receipt_template_writes_the_bytes_the_lxml_path_makes(
    pki: Pki, signs: bool, variant: int
) -> None:
    receipt = _receipts()[variant]
    signer = pki.credentials(CPAM) if signs else None
    data = render_receipt(receipt, signer)
    assert data == serialize(signed_receipt(receipt, signer))
    parsed = parse_envelope(data)
    assert parsed.message == receipt
    if signs:  # lxml's C14N of what the receiver parses gives the signed digests
        check_receipt(
            parsed.root,
            receipt,
            message_id=receipt.ref_to_message_id,
            sent=receipt.references,
            trust=pki.trust,
            receiver=CPAM,
            now=WHEN,
        )


@pytest.mark.parametrize(
    "odd",
    [
        {"message_id": "r&1@x"},
        {"ref_to_message_id": "m<1>@x"},
        {"references": "digest with a line break"},
        {"references": "none"},  # an empty element: lxml self-closes it
    ],
)
def test_a_receipt_value_the_template_would_have_to_escape_goes_the_lxml_way(
    pki: Pki, odd: dict[str, str]
) -> None:
    receipt = _receipts()[0]
    if odd.get("references") == "none":
        receipt = replace(receipt, references=())
    elif "references" in odd:
        first = replace(receipt.references[0], digest_value="abc\ndef=")
        receipt = replace(receipt, references=(first, *receipt.references[1:]))
    else:
        receipt = replace(receipt, **odd)
    assert render_receipt(receipt, pki.credentials(CPAM)) is None
    # ...and the receipt the receiver answers with is still signed and checks
    if not receipt.references:
        return
    envelope = signed_receipt(receipt, pki.credentials(CPAM))
    parsed = parse_envelope(serialize(envelope))
    check_receipt(
        parsed.root,
        parsed.message,  # type: ignore[arg-type]
        message_id=receipt.ref_to_message_id,
        sent=receipt.references,
        trust=pki.trust,
        receiver=CPAM,
        now=WHEN,
    )
