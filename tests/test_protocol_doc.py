"""docs/protocol.md is true (issue 12.7): every sample block is, byte for byte, what a live
``eessi serve`` sends (and the nodes' AS4 sender posts) with the page's fixed inputs, normalised
only where the page says (Date, Server, User-Agent, the port), and the signature's test vectors
check out with nothing but the page, the certificate and a generic XML/crypto library."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "protocol.md"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "protocol_samples", ROOT / "scripts" / "protocol_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("protocol_samples", module)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def page_samples() -> dict[str, bytes]:
    blocks = GEN.blocks(PAGE.read_text(encoding="utf-8"))
    return {name: GEN.unshown(body) for name, body in blocks.items()}


@pytest.mark.slow
def test_every_sample_block_of_the_page_is_what_a_live_eessi_serve_sends_byte_for_byte() -> None:
    made = GEN.samples()
    shown = page_samples()
    assert sorted(shown) == sorted(made), "the page's sample blocks and the generator's differ"
    for name, data in made.items():
        if shown[name] != data:
            want, got = data.split(b"\n"), shown[name].split(b"\n")
            line = next(
                (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                min(len(want), len(got)),
            )
            raise AssertionError(
                f"docs/protocol.md block {name!r} differs at its line {line + 1}: the server sends"
                f" {want[line][:200] if line < len(want) else b'(end)'!r}, the page shows"
                f" {got[line][:200] if line < len(got) else b'(end)'!r}"
                " (python scripts/protocol_samples.py --write rewrites the blocks)"
            )


def test_each_error_sample_carries_its_code_and_the_http_status_that_says_do_not_resend() -> None:
    for name, data in page_samples().items():
        if not name.startswith("error-"):
            continue
        code = "EBMS:" + name.rsplit("-", 1)[1]
        status = int(data.split(b" ", 2)[1])
        assert 400 <= status < 500, name
        signal = etree.fromstring(data.split(b"\r\n\r\n", 1)[1])
        (error,) = signal.iter("{*}Error")
        assert error.get("errorCode") == code
        assert error.get("origin") == "ebMS"
        description = error.find("{*}Description")
        assert description is not None
        assert description.text


def _part(request: bytes, index: int) -> bytes:
    """The content of MIME part ``index`` of the page's request (CRLF framing)."""
    head, body = request.split(b"\r\n\r\n", 1)
    boundary = head.split(b'boundary="', 1)[1].split(b'"', 1)[0]
    parts = body.split(b"--" + boundary)[1:-1]
    return parts[index].split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")


def test_the_signature_test_vectors_check_out_from_the_page_alone() -> None:
    shown = page_samples()
    envelope = etree.fromstring(_part(shown["request"], 0))
    sed = _part(shown["request"], 1)
    vectors = dict(
        line.split(": ", 1) for line in shown["vectors"].decode().splitlines() if ": " in line
    )

    def digest(data: bytes) -> str:
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    def exc_c14n(el: etree._Element) -> bytes:
        return etree.tostring(el, method="c14n", exclusive=True, with_comments=False)

    wsu = "{http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd}Id"
    by_id = {el.get(wsu): el for el in envelope.iter() if el.get(wsu)}
    assert vectors["Reference #_ebMessaging"] == "DigestValue " + digest(
        exc_c14n(by_id["_ebMessaging"])
    )
    assert vectors["Reference #_soapBody"] == "DigestValue " + digest(exc_c14n(by_id["_soapBody"]))
    (cid,) = [k for k in vectors if k.startswith("Reference cid:")]
    assert vectors[cid] == "DigestValue " + digest(sed)

    (signed_info,) = envelope.iter("{http://www.w3.org/2000/09/xmldsig#}SignedInfo")
    canonical = exc_c14n(signed_info)
    assert canonical == shown["signed-info"]
    assert vectors["SHA-256 of the canonical SignedInfo"] == hashlib.sha256(canonical).hexdigest()
    (value,) = envelope.iter("{http://www.w3.org/2000/09/xmldsig#}SignatureValue")
    assert vectors["SignatureValue"] == value.text
    cert = x509.load_pem_x509_certificate((GEN.PKI_DIR / "LU-CNS00001.crt").read_bytes())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    key.verify(
        base64.b64decode(vectors["SignatureValue"]), canonical, padding.PKCS1v15(), hashes.SHA256()
    )
    # The receipt repeats the request's references: what the sender checks.
    receipt = shown["receipt"].split(b"\r\n\r\n", 1)[1]
    carried = [el.text for el in etree.fromstring(receipt).iter("{*}DigestValue")]
    for ref in ("Reference #_ebMessaging", "Reference #_soapBody", cid):
        assert vectors[ref].removeprefix("DigestValue ") in carried
