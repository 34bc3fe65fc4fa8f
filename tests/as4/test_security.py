"""WS-Security for AS4: signed and encrypted messages round-trip, tampering is refused with the
right EBMS code, receipts are bound to what was sent, and xmlsec verifies what we sign."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from as4_support import CNS, CPAM, NOW, WHEN, make_pki, signed_s072
from as4_support import receive_secured as _receive
from lxml import etree

from eessi.as4.codes import ebms_error_of
from eessi.as4.ebms_build import GZIP_LEVEL
from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.exchange import (
    Outgoing,
    error_for,
    read_signal,
    receipt_for,
)
from eessi.as4.mime import Packaged, unpackage
from eessi.as4.model import ErrorSignal, Receipt
from eessi.as4.pki import Pki, directory_institutions
from eessi.as4.pmode import PModeSet, parse_pmodes
from eessi.as4.security.sign import sign
from eessi.as4.security.verify import verify
from eessi.directory import load_default_directory
from eessi.errors import EessiError
from eessi.sed.examples import example_xml

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
X509 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
B64 = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
Check = Callable[[bytes | etree._Element], None]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _send(
    pki: Pki, pm: PModeSet | None = None, *, to: str = CPAM, sed: bytes | None = None
) -> Outgoing:
    return signed_s072(pki, to=to, sed=sed, pm=pm)


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(EessiError) as info:
        call()
    return ebms_error_of(info.value).code


def test_signed_encrypted_message_round_trips_and_the_signed_receipt_is_accepted(pki: Pki) -> None:
    sed = example_xml("S072", seed=3)
    out = _send(pki, sed=sed)
    assert sed not in out.packaged.body  # encrypted (and compressed)
    incoming = _receive(pki, out.packaged)
    assert incoming.delivered.payload == sed
    assert incoming.references == out.references
    answer = receipt_for(
        incoming, message_id="r-1@eessi-sim", timestamp=NOW, credentials=pki.credentials(CPAM)
    )
    signal = read_signal(
        answer.content_type, answer.body, sent=out, trust=pki.trust, receiver=CPAM, now=NOW
    )
    assert isinstance(signal, Receipt)
    assert {r.uri for r in signal.references} == {
        "#_ebMessaging",
        "#_soapBody",
        "cid:sed-1@eessi-sim",
    }


def test_secured_messages_are_valid_against_the_official_schemas(
    pki: Pki, as4_schema: Check
) -> None:
    out = _send(pki)
    parts = unpackage(out.packaged.content_type, out.packaged.body)
    as4_schema(parts.envelope)
    incoming = _receive(pki, out.packaged)
    answer = receipt_for(
        incoming, message_id="r-1@eessi-sim", timestamp=NOW, credentials=pki.credentials(CPAM)
    )
    as4_schema(answer.body)


def _tamper(packaged: Packaged, old: bytes, new: bytes) -> Packaged:
    assert old in packaged.body
    return replace(packaged, body=packaged.body.replace(old, new, 1))


def test_a_changed_header_fails_authentication(pki: Pki) -> None:
    out = _send(pki)
    forged = _tamper(out.packaged, b"FR-1A2B3C4D5E6F", b"FR-FFFFFFFFFFFF")
    assert _code(lambda: _receive(pki, forged)) == "EBMS:0101"


def test_a_changed_attachment_fails_decryption(pki: Pki) -> None:
    out = _send(pki)
    parts = unpackage(out.packaged.content_type, out.packaged.body)
    data = parts.attachments[0].data
    flipped = data[:40] + bytes([data[40] ^ 1]) + data[41:]
    forged = _tamper(out.packaged, data, flipped)
    assert _code(lambda: _receive(pki, forged)) == "EBMS:0102"


def test_a_message_encrypted_for_another_institution_fails_decryption(pki: Pki) -> None:
    out = _send(pki, to=CPAM)
    # the BE fund receives a message meant for the CPAM (its key cannot unwrap the AES key)
    assert _code(lambda: _receive(pki, out.packaged, me="BE:MC000200")) == "EBMS:0102"


def test_a_signature_by_another_institutions_key_fails_authentication(pki: Pki) -> None:
    # the TKK pretends to be the CNS
    out = signed_s072(pki, credentials=pki.credentials("DE:TKK00001"))
    assert _code(lambda: _receive(pki, out.packaged)) == "EBMS:0101"


def test_an_expired_certificate_fails_authentication(pki: Pki) -> None:
    out = _send(pki)
    later = WHEN + dt.timedelta(days=400)
    assert _code(lambda: _receive(pki, out.packaged, now=later)) == "EBMS:0101"


def test_a_certificate_from_another_ca_fails_authentication(pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other", {CNS})
    out = signed_s072(pki, credentials=other.credentials(CNS))
    assert _code(lambda: _receive(pki, out.packaged)) == "EBMS:0101"


def _no_security() -> PModeSet:
    import tomllib

    from eessi.as4.pmode import default_pmodes_path

    doc = tomllib.loads(default_pmodes_path().read_text("utf-8"))
    doc["defaults"]["security"]["enabled"] = False
    return parse_pmodes(doc)


def test_an_unsecured_message_under_a_secured_pmode_is_policy_noncompliance(pki: Pki) -> None:
    plain = _send(pki, _no_security())
    assert _code(lambda: _receive(pki, plain.packaged)) == "EBMS:0103"


def test_a_secured_message_under_an_unsecured_pmode_is_policy_noncompliance(pki: Pki) -> None:
    secured = _send(pki)
    assert _code(lambda: _receive(pki, secured.packaged, _no_security())) == "EBMS:0103"


def test_without_security_the_message_round_trips_and_the_receipt_carries_the_digests(
    pki: Pki,
) -> None:
    pm = _no_security()
    sed = example_xml("S072", seed=4)
    out = _send(pki, pm, sed=sed)
    assert b"wsse:Security" not in out.packaged.body
    incoming = _receive(pki, out.packaged, pm)
    assert incoming.delivered.payload == sed
    answer = receipt_for(incoming, message_id="r-1@eessi-sim", timestamp=NOW, credentials=None)
    signal = read_signal(
        answer.content_type, answer.body, sent=out, trust=None, receiver=CPAM, now=NOW
    )
    assert isinstance(signal, Receipt)
    assert signal.references == out.references


def test_a_receipt_for_other_digests_is_an_invalid_receipt(pki: Pki) -> None:
    out = _send(pki)
    incoming = _receive(pki, out.packaged)
    other = _send(pki, sed=example_xml("S072", seed=9))
    # a receipt honestly signed by the CPAM, but for another message's content
    wrong = receipt_for(
        replace(incoming, references=other.references),
        message_id="r-1@eessi-sim",
        timestamp=NOW,
        credentials=pki.credentials(CPAM),
    )
    assert (
        _code(
            lambda: read_signal(
                wrong.content_type, wrong.body, sent=out, trust=pki.trust, receiver=CPAM, now=NOW
            )
        )
        == "EBMS:0302"
    )


def test_a_receipt_signed_by_someone_else_is_an_invalid_receipt(pki: Pki) -> None:
    out = _send(pki)
    incoming = _receive(pki, out.packaged)
    forged = receipt_for(
        incoming,
        message_id="r-1@eessi-sim",
        timestamp=NOW,
        credentials=pki.credentials("DE:TKK00001"),
    )
    assert (
        _code(
            lambda: read_signal(
                forged.content_type, forged.body, sent=out, trust=pki.trust, receiver=CPAM, now=NOW
            )
        )
        == "EBMS:0302"
    )


def test_a_refusal_becomes_an_error_signal_with_its_code(pki: Pki, as4_schema: Check) -> None:
    out = _send(pki)
    forged = _tamper(out.packaged, b"FR-1A2B3C4D5E6F", b"FR-FFFFFFFFFFFF")
    with pytest.raises(EessiError) as info:
        _receive(pki, forged)
    answer = error_for(
        info.value, ref_to_message_id="m-1@eessi-sim", message_id="e-1@eessi-sim", timestamp=NOW
    )
    as4_schema(answer.body)
    signal = read_signal(
        answer.content_type, answer.body, sent=out, trust=pki.trust, receiver=CPAM, now=NOW
    )
    assert isinstance(signal, ErrorSignal)
    (error,) = signal.errors
    assert (error.code, error.short_description, error.category) == (
        "EBMS:0101",
        "FailedAuthentication",
        "Processing",
    )
    assert error.ref_to_message_in_error == "m-1@eessi-sim"
    assert error.description is not None
    assert "digest" in error.description


# --- an independent verifier: xmlsec (libxmlsec1) ---------------------------------------------


def _xmlsec() -> Any:
    try:
        import xmlsec
    except Exception as exc:  # ImportError, or its libxml2 differs from lxml's
        pytest.skip(f"python-xmlsec is not usable here: {exc}")
    return xmlsec


def _xmlsec_verify(envelope: bytes, cert: Path) -> None:
    xmlsec = _xmlsec()
    root = etree.fromstring(envelope)
    xmlsec.tree.add_ids(root, ["Id"])
    signature = xmlsec.tree.find_node(root, xmlsec.constants.NodeSignature)
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_file(str(cert), xmlsec.constants.KeyDataFormatCertPem)
    ctx.verify(signature)


def test_xmlsec_verifies_our_signed_receipt(pki: Pki) -> None:
    xmlsec = _xmlsec()
    out = _send(pki)
    incoming = _receive(pki, out.packaged)
    answer = receipt_for(
        incoming, message_id="r-1@eessi-sim", timestamp=NOW, credentials=pki.credentials(CPAM)
    )
    _xmlsec_verify(answer.body, pki.root / "FR-CPAM5701.crt")
    with pytest.raises(xmlsec.Error):  # and it refuses the receipt once changed
        _xmlsec_verify(
            answer.body.replace(b"r-1@eessi-sim", b"r-2@eessi-sim"),
            pki.root / "FR-CPAM5701.crt",
        )


def test_xmlsec_verifies_our_signature_of_a_user_message_header_and_body(pki: Pki) -> None:
    """libxmlsec1 has no SwA Attachment-Content-Signature-Transform (docs/decisions.md D57),
    so it cannot follow the cid: reference of a full AS4 signature. Everything else is checked
    independently: xmlsec verifies our signature over a user message's eb:Messaging and Body
    (the same signing code, the attachment left out), and the attachment's digest in a full
    signature is recomputed here from the compressed SED with hashlib."""
    _xmlsec()
    sed = example_xml("S072", seed=3)
    unsecured = _send(pki, _no_security(), sed=sed)
    parsed = parse_envelope(
        unpackage(unsecured.packaged.content_type, unsecured.packaged.body).envelope
    )
    refs = sign(parsed.root, (), pki.credentials(CNS))
    assert {r.uri for r in refs} == {"#_ebMessaging", "#_soapBody"}
    _xmlsec_verify(etree.tostring(parsed.root), pki.root / "LU-CNS00001.crt")
    full = _send(pki, sed=sed)
    (attachment_ref,) = [r for r in full.references if r.uri.startswith("cid:")]
    digest = hashlib.sha256(gzip.compress(sed, compresslevel=GZIP_LEVEL, mtime=0)).digest()
    assert attachment_ref.digest_value == base64.b64encode(digest).decode()


def test_pki_files_and_index(pki: Pki) -> None:
    from eessi.as4.security import common_name

    for entry in directory_institutions(load_default_directory()):
        cert = pki.certificate(entry.id)
        assert common_name(cert) == entry.id
        assert (pki.root / f"{entry.id.replace(':', '-')}.key").stat().st_mode & 0o077 == 0
    assert "RS:RFZO0001" not in pki.certificates  # outside EESSI: no certificate


def test_a_wss4j_style_signature_with_inclusive_namespaces_verifies(pki: Pki) -> None:
    """WSS4J (Domibus, phase4) adds ec:InclusiveNamespaces PrefixList to its exclusive C14N.
    This signature is assembled here by hand (not by our signer), with a prefix that changes
    the canonical bytes: the verifier must honour the PrefixList, and refuse a forgery."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import Encoding

    sed = example_xml("S072", seed=3)
    plain = _send(pki, _no_security(), sed=sed)
    parts = unpackage(plain.packaged.content_type, plain.packaged.body)
    text = parts.envelope.replace(
        b"<env:Envelope ", b'<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" ', 1
    )
    root = etree.fromstring(text)
    ds, wsse = "http://www.w3.org/2000/09/xmldsig#", WSSE
    exc = "http://www.w3.org/2001/10/xml-exc-c14n#"
    header = root[0]
    security = etree.SubElement(header, f"{{{wsse}}}Security", nsmap={"wsse": wsse})
    token = etree.SubElement(security, f"{{{wsse}}}BinarySecurityToken")
    token.set("ValueType", X509)
    token.set("EncodingType", B64)
    token.set(f"{{{WSU}}}Id", "X509-1")
    cns = pki.credentials(CNS)
    token.text = base64.b64encode(cns.certificate.public_bytes(Encoding.DER)).decode()
    signature = etree.SubElement(security, f"{{{ds}}}Signature", nsmap={"ds": ds})
    info = etree.SubElement(signature, f"{{{ds}}}SignedInfo")
    method = etree.SubElement(info, f"{{{ds}}}CanonicalizationMethod", Algorithm=exc)
    etree.SubElement(method, f"{{{exc}}}InclusiveNamespaces", nsmap={"ec": exc}).set(
        "PrefixList", "env xsd"
    )
    etree.SubElement(info, f"{{{ds}}}SignatureMethod").set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    sha = "http://www.w3.org/2001/04/xmlenc#sha256"
    for uri, el in (("#_ebMessaging", header[0]), ("#_soapBody", root[1])):
        canonical = etree.tostring(el, method="c14n", exclusive=True, inclusive_ns_prefixes=["xsd"])
        assert b"xmlns:xsd" in canonical  # the PrefixList matters for these bytes
        ref = etree.SubElement(info, f"{{{ds}}}Reference", URI=uri)
        transform = etree.SubElement(
            etree.SubElement(ref, f"{{{ds}}}Transforms"), f"{{{ds}}}Transform", Algorithm=exc
        )
        etree.SubElement(transform, f"{{{exc}}}InclusiveNamespaces", nsmap={"ec": exc}).set(
            "PrefixList", "xsd"
        )
        etree.SubElement(ref, f"{{{ds}}}DigestMethod", Algorithm=sha)
        etree.SubElement(ref, f"{{{ds}}}DigestValue").text = base64.b64encode(
            hashlib.sha256(canonical).digest()
        ).decode()
    attachment = parts.attachments[0]
    ref = etree.SubElement(info, f"{{{ds}}}Reference", URI="cid:" + attachment.content_id)
    etree.SubElement(etree.SubElement(ref, f"{{{ds}}}Transforms"), f"{{{ds}}}Transform").set(
        "Algorithm",
        "http://docs.oasis-open.org/wss/oasis-wss-SwAProfile-1.1#Attachment-Content-Signature-Transform",
    )
    etree.SubElement(ref, f"{{{ds}}}DigestMethod", Algorithm=sha)
    etree.SubElement(ref, f"{{{ds}}}DigestValue").text = base64.b64encode(
        hashlib.sha256(attachment.data).digest()
    ).decode()
    canonical_info = etree.tostring(
        info, method="c14n", exclusive=True, inclusive_ns_prefixes=["env", "xsd"]
    )
    value = cns.key.sign(canonical_info, padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(signature, f"{{{ds}}}SignatureValue").text = base64.b64encode(value).decode()
    str_ = etree.SubElement(
        etree.SubElement(signature, f"{{{ds}}}KeyInfo"), f"{{{wsse}}}SecurityTokenReference"
    )
    etree.SubElement(str_, f"{{{wsse}}}Reference", URI="#X509-1", ValueType=X509)
    data = etree.tostring(root)
    parsed = parse_envelope(data)
    verified = verify(parsed.root, parts.attachments, pki.trust, sender=CNS, now=NOW)
    assert len(verified.references) == 3
    forged = parse_envelope(data.replace(b"FR-1A2B3C4D5E6F", b"FR-FFFFFFFFFFFF"))
    assert (
        _code(lambda: verify(forged.root, parts.attachments, pki.trust, sender=CNS, now=NOW))
        == "EBMS:0101"
    )
