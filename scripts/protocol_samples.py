"""The samples and test vectors of ``docs/protocol.md``, made by the code that speaks the wire.

Everything is fixed so the bytes are the same at every run: the keys and certificates of the
test PKI in ``tests/data/protocol/pki`` (``eessi pki init`` output, kept), the message IDs, the
timestamps and the SED (``eessi.sed.examples``, seeded). Each sample is one fenced block of the
page, introduced by an HTML comment naming it (``<!-- sample: NAME -->``);
``tests/test_protocol_doc.py`` makes them again and compares byte for byte.

Run ``python scripts/protocol_samples.py --write`` to rewrite the blocks of the page after a
deliberate change of the wire (the test says which block differs).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from eessi.as4.exchange import (
    Outgoing,
    build_sed_message,
    error_for,
    receipt_for,
    receive_user_message,
)
from eessi.as4.mapping import Addressing
from eessi.as4.mime import Packaged
from eessi.as4.model import DS_NS
from eessi.as4.pki import Pki, load_pki
from eessi.as4.pmode import PModeSet, default_pmodes_path, parse_pmodes
from eessi.as4.security import c14n
from eessi.errors import EessiError
from eessi.sed.examples import example_xml

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "protocol.md"
PKI_DIR = ROOT / "tests" / "data" / "protocol" / "pki"

CNS, CPAM = "LU:CNS00001", "FR:CPAM5701"
CASE = "FR-1A2B3C4D5E6F"
SENT_AT = datetime(2027, 1, 15, 9, 0, 0, 123000, tzinfo=UTC)
ANSWERED_AT = datetime(2027, 1, 15, 9, 0, 0, 456000, tzinfo=UTC)
MESSAGE_ID = "6f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a@cns.eessi-sim"
S071_ID = "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f@cpam.eessi-sim"
CONTENT_ID = "sed-6f1c2a4e@cns.eessi-sim"
SIGNAL_ID = "a3b4c5d6-e7f8-4a9b-8c0d-1e2f3a4b5c6d@cpam.eessi-sim"


def pmodes(*, encrypt: bool, compress: bool) -> PModeSet:
    """The shipped P-Modes with the security and compression switches of a sample."""
    import tomllib

    doc = tomllib.loads(default_pmodes_path().read_text(encoding="utf-8"))
    doc["defaults"]["compress"] = compress
    doc["defaults"]["security"]["encrypt"] = encrypt
    return parse_pmodes(doc, source="docs/protocol.md sample P-Modes")


def pki() -> Pki:
    return load_pki(PKI_DIR)


def s072() -> bytes:
    return example_xml("S072", seed=7)


def signed_message() -> Outgoing:
    """The readable sample: an S072 from the CNS to the CPAM, signed, neither compressed nor
    encrypted (``compress = false``, ``[security] encrypt = false``)."""
    keys = pki()
    pm = pmodes(encrypt=False, compress=False).find("S_BUC_01", "S072")
    return build_sed_message(
        Addressing(CNS, CPAM, CASE, "S_BUC_01", "S072", "4.4"),
        pm,
        s072(),
        message_id=MESSAGE_ID,
        timestamp=SENT_AT,
        content_id=CONTENT_ID,
        ref_to_message_id=S071_ID,
        credentials=keys.credentials(CNS),
    )


def http_request(packaged: Packaged, *, host: str = "127.0.0.1:8702", path: str = "/as4") -> bytes:
    """The request as it goes on the wire (HTTP/1.1 framing, the headers a sender sets)."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Content-Type: {packaged.content_type}\r\n"
        f'SOAPAction: ""\r\n'
        f"Content-Length: {len(packaged.body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + packaged.body


def receipt() -> Packaged:
    """The CPAM's signed receipt of :func:`signed_message`."""
    out = signed_message()
    keys = pki()
    incoming = receive_user_message(
        out.packaged.content_type,
        out.packaged.body,
        pmodes=pmodes(encrypt=False, compress=False),
        receiver=CPAM,
        credentials=keys.credentials(CPAM),
        trust=keys.trust,
        now=ANSWERED_AT,
    )
    return receipt_for(
        incoming, message_id=SIGNAL_ID, timestamp=ANSWERED_AT, credentials=keys.credentials(CPAM)
    )


@dataclass(frozen=True)
class Refusal:
    name: str
    what: str
    content_type: str
    body: bytes


def _tampered() -> tuple[str, bytes]:
    """The signed sample with one byte of its SED changed (``UTF-8`` to ``utf-8`` in its XML
    declaration: still the same document to a parser, not the same bytes to the signature)."""
    out = signed_message()
    start = out.packaged.body.index(f"Content-ID: <{CONTENT_ID}>".encode())
    head, tail = out.packaged.body[:start], out.packaged.body[start:]
    changed = tail.replace(b"UTF-8", b"utf-8", 1)
    assert changed != tail
    return out.packaged.content_type, head + changed


def _unsigned() -> tuple[str, bytes]:
    pm = pmodes(encrypt=False, compress=False)
    unsecured = parse_pmodes(
        {
            "format": 1,
            "defaults": {"security": {"enabled": False}, "compress": False},
            "pmode": [
                {"id": p.id, "service": p.business.service, "actions": list(p.business.actions)}
                for p in pm
            ],
        }
    )
    out = build_sed_message(
        Addressing(CNS, CPAM, CASE, "S_BUC_01", "S072", "4.4"),
        unsecured.find("S_BUC_01", "S072"),
        s072(),
        message_id=MESSAGE_ID,
        timestamp=SENT_AT,
        content_id=CONTENT_ID,
        ref_to_message_id=S071_ID,
    )
    return out.packaged.content_type, out.packaged.body


def _for_someone_else() -> tuple[str, bytes]:
    out = signed_message()
    return out.packaged.content_type, out.packaged.body


#: The refusals shown: (name, what the sender did, how to make the request).
REFUSALS: tuple[tuple[str, str, Callable[[], tuple[str, bytes]], str], ...] = (
    (
        "error-0009",
        "the body is not a SOAP envelope",
        lambda: ("application/soap+xml; charset=UTF-8", b"<hello/>"),
        CPAM,
    ),
    ("error-0007", "not multipart/related nor SOAP", lambda: ("text/plain", b"hello"), CPAM),
    ("error-0101", "a byte of the SED changed after signing", _tampered, CPAM),
    ("error-0103", "no signature, where the P-Mode signs", _unsigned, CPAM),
    ("error-0003", "a message for another institution", _for_someone_else, "BE:MC000200"),
)


def refusal(name: str) -> Packaged:
    """The error signal the receiver answers the refusal ``name`` with."""
    for n, _what, make, receiver in REFUSALS:
        if n == name:
            content_type, body = make()
            keys = pki()
            try:
                receive_user_message(
                    content_type,
                    body,
                    pmodes=pmodes(encrypt=False, compress=False),
                    receiver=receiver,
                    credentials=keys.credentials(CPAM),
                    trust=keys.trust,
                    now=ANSWERED_AT,
                )
            except EessiError as exc:
                ref = MESSAGE_ID if b"MessageId" in body else None
                return error_for(
                    exc, ref_to_message_id=ref, message_id=SIGNAL_ID, timestamp=ANSWERED_AT
                )
            raise AssertionError(f"{name}: the message was accepted")
    raise KeyError(name)


# ---- test vectors


def vectors() -> str:
    """The signature's test vectors: each reference's canonical bytes' digest, the canonical
    SignedInfo, its SHA-256 and the SignatureValue, recomputed here step by step."""
    out = signed_message()
    envelope = etree.fromstring(out.packaged.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0])
    ds = {"ds": DS_NS}
    signed_info = envelope.find(".//ds:SignedInfo", ds)
    assert signed_info is not None
    canonical = c14n(signed_info)
    key = pki().credentials(CNS).key
    value = key.sign(canonical, padding.PKCS1v15(), hashes.SHA256())
    lines = []
    for ref in out.references:
        lines.append(f"Reference {ref.uri}: DigestValue {ref.digest_value}")
    lines.append(f"SHA-256 of the canonical SignedInfo: {hashlib.sha256(canonical).hexdigest()}")
    lines.append(f"SignatureValue: {base64.b64encode(value).decode()}")
    return "\n".join(lines) + "\n"


def canonical_signed_info() -> bytes:
    out = signed_message()
    envelope = etree.fromstring(out.packaged.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0])
    signed_info = envelope.find(".//ds:SignedInfo", {"ds": DS_NS})
    assert signed_info is not None
    return c14n(signed_info)


def indented(xml: bytes) -> bytes:
    """An envelope indented for reading (not the bytes sent: those are on one line)."""
    root = etree.fromstring(xml)
    for el in root.iter():
        if el.text is not None and not el.text.strip() and len(el):
            el.text = None
        el.tail = None
    etree.indent(root, space="  ")
    return etree.tostring(root) + b"\n"


def envelope_of(packaged: Packaged) -> bytes:
    """The SOAP envelope of a package (its first MIME part, or the whole body of a signal)."""
    if not packaged.content_type.startswith("multipart/"):
        return packaged.body
    return packaged.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0]


def samples() -> dict[str, bytes]:
    """Every sample block of the page, by name."""
    request = signed_message().packaged
    answer = receipt()
    out: dict[str, bytes] = {
        "request": http_request(request),
        "request-envelope-indented": indented(envelope_of(request)),
        "receipt": _response(answer),
        "receipt-envelope-indented": indented(envelope_of(answer)),
        "signed-info": canonical_signed_info(),
        "vectors": vectors().encode(),
    }
    for name, _what, _make, _receiver in REFUSALS:
        out[name] = _response(refusal(name), status=_status(name))
    return out


_REASONS = {400: "Bad Request", 403: "Forbidden", 422: "Unprocessable Entity"}


def _status(name: str) -> str:
    """The HTTP status an error signal travels with (``eessi.as4.transport.http_status``)."""
    code = "EBMS:" + name.rsplit("-", 1)[1]
    status = http_status(code)
    return f"{status} {_REASONS[status]}"


def http_status(code: str) -> int:
    try:
        from eessi.as4.transport import http_status as live  # type: ignore[import-not-found]
    except ImportError:  # before the AS4 transport: its documented mapping
        if code in ("EBMS:0101", "EBMS:0102", "EBMS:0103"):
            return 403
        return 400 if code in ("EBMS:0007", "EBMS:0008", "EBMS:0009") else 422
    return int(live(code))


def _response(packaged: Packaged, status: str = "200 OK") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        f"Content-Type: {packaged.content_type}\r\n"
        f"Content-Length: {len(packaged.body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + packaged.body


# ---- the page


_BLOCK = re.compile(r"<!-- sample: (?P<name>[a-z0-9-]+) -->\n```[a-z]*\n(?P<body>.*?)```\n", re.S)


#: How a carriage return is shown: the page marks each CR (before its LF) with this symbol.
CR_MARK = "\u240d"
#: A sample that does not end with a line break ends with this mark (then the fence's).
NO_EOL = "\u2400"


def shown(data: bytes) -> str:
    """How a sample is shown in its block: the bytes as UTF-8 text, each CR as ``␍`` (so a
    CRLF line end shows as ``␍`` at the end of the line), and ``␀`` after the last byte when
    the sample does not end with a line break."""
    text = data.decode("utf-8").replace("\r", CR_MARK)
    return text if text.endswith("\n") else text + NO_EOL + "\n"


def unshown(block: str) -> bytes:
    """The bytes a block shows (the inverse of :func:`shown`)."""
    text = block[: -len(NO_EOL) - 1] if block.endswith(NO_EOL + "\n") else block
    return text.replace(CR_MARK, "\r").encode("utf-8")


def blocks(page: str) -> dict[str, str]:
    return {m["name"]: m["body"] for m in _BLOCK.finditer(page)}


def rewrite(page: str, made: dict[str, bytes]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in made:
            return m[0]
        fence = m[0].split("\n", 2)[1]
        return f"<!-- sample: {name} -->\n{fence}\n{shown(made[name])}```\n"

    return _BLOCK.sub(one, page)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the blocks of the page")
    args = parser.parse_args(argv)
    made = samples()
    if args.write:
        PAGE.write_text(rewrite(PAGE.read_text(encoding="utf-8"), made), encoding="utf-8")
        return 0
    for name, data in made.items():
        print(f"<!-- sample: {name} -->\n```\n{shown(data)}```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
