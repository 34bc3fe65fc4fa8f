"""The samples and test vectors of ``docs/protocol.md``, as a live ``eessi serve`` sends them.

Everything is fixed so the bytes are the same at every run: the keys and certificates of the
test PKI in ``tests/data/protocol/pki`` (``eessi pki init`` output, kept), the message IDs and
timestamp of the request, the SED (``eessi.sed.examples``, seeded), the P-Modes (the shipped
ones with ``compress = false`` and ``encrypt = false``), and the receivers: ``eessi serve``
processes of ``FR:CPAM5701`` and ``BE:MC000200`` started with ``--seed 7`` (their receipts'
and errors' MessageIds) and ``--virtual-clock`` at the answer time (their Timestamps).

:func:`samples` starts them, posts the request with the AS4 sender of the nodes
(:class:`eessi.as4.transport.As4Sender`, through a recording TCP relay: the request's bytes as
the sender writes them and the answer's as the server writes them) and each refused request
(raw HTTP/1.1), and returns every block. What must vary from run to run is normalised (and the
page says so): the ``Date`` and ``Server`` headers of the answers, the ``User-Agent`` of the
request, and the ports (shown as the directory's endpoint, ``127.0.0.1:8702``).

Each sample is one fenced block of the page, introduced by an HTML comment naming it
(``<!-- sample: NAME -->``); ``tests/test_protocol_doc.py`` makes them again and compares byte
for byte. Run ``python scripts/protocol_samples.py --write`` to rewrite the blocks of the page
after a deliberate change of the wire (the test says which block differs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from eessi.as4.exchange import (
    Outgoing,
    build_sed_message,
)
from eessi.as4.mapping import Addressing
from eessi.as4.mime import Packaged
from eessi.as4.model import DS_NS
from eessi.as4.pki import Pki, load_pki
from eessi.as4.pmode import PModeSet, default_pmodes_path, parse_pmodes
from eessi.as4.security import c14n
from eessi.as4.transport import As4Keys, As4Sender
from eessi.as4.wire import to_entity
from eessi.directory import default_directory_path
from eessi.sed.examples import example_xml
from eessi.transport import RetryPolicy

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "protocol.md"
PKI_DIR = ROOT / "tests" / "data" / "protocol" / "pki"

CNS, CPAM, OTHER = "LU:CNS00001", "FR:CPAM5701", "BE:MC000200"
CASE = "FR-1A2B3C4D5E6F"
SENT_AT = datetime(2027, 1, 15, 9, 0, 0, 123000, tzinfo=UTC)
ANSWERED_AT = datetime(2027, 1, 15, 9, 0, 0, 456000, tzinfo=UTC)
MESSAGE_ID = "6f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a@cns.eessi-sim"
S071_ID = "0d9e8f7a-6b5c-4d3e-8f21-0a1b2c3d4e5f@cpam.eessi-sim"
CONTENT_ID = "sed-6f1c2a4e@cns.eessi-sim"
SIGNAL_ID = "a3b4c5d6-e7f8-4a9b-8c0d-1e2f3a4b5c6d@cpam.eessi-sim"
#: The receivers' run: ``eessi serve --seed SEED --virtual-clock CLOCK``.
SEED = 7
CLOCK = "2027-01-15T09:00:00.456Z"
#: Shown for the receiver's host and port (its directory endpoint; the run's ports vary).
SHOWN_HOST = "127.0.0.1:8702"
#: Shown for header values that vary from run to run.
NORMALISED = {
    b"Date": b"<the time of the answer, RFC 9110 format>",
    b"Server": b"<the server software and version>",
    b"User-Agent": b"<the client software and version>",
}


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
    ("error-0003", "a message for another institution", _for_someone_else, OTHER),
)


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


# ---- the live receivers


def pmodes_file() -> str:
    """The P-Mode file of the receivers: the shipped one, ``compress`` and ``encrypt`` off."""
    text = default_pmodes_path().read_text(encoding="utf-8")
    for on, off in (("compress = true", "compress = false"), ("encrypt = true", "encrypt = false")):
        assert text.count(on) == 1, on
        text = text.replace(on, off)
    assert tomllib.loads(text)["defaults"]["security"]["encrypt"] is False
    return text


@asynccontextmanager
async def serving(ir_id: str, work: Path) -> AsyncIterator[str]:
    """``eessi serve`` of ``ir_id`` with the page's fixed inputs; yields its AS4 endpoint URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "serve", "--institution", ir_id,
        "--directory", str(work / "directory.toml"), "--pki", str(work / "pki"),
        "--db", str(work / (ir_id.replace(":", "-") + ".sqlite")),
        "--seed", str(SEED), "--virtual-clock", CLOCK, "--tick", "0",
        "--host", "127.0.0.1", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        seen = b""
        async with asyncio.timeout(60):
            while (found := re.search(rb"AS4 (http://[^\s,)]+)", seen)) is None:
                line = await proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"eessi serve {ir_id} ended: {seen.decode()}")
                seen += line
        yield found.group(1).decode()
    finally:
        if proc.returncode is None:
            proc.send_signal(2)  # SIGINT: a clean stop
        async with asyncio.timeout(30):
            _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"eessi serve {ir_id} exited {proc.returncode}: {err.decode()}")


class Relay:
    """A loopback TCP relay to ``host:port`` recording the bytes of each direction."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sent = bytearray()
        self.answered = bytearray()
        self.done: list[asyncio.Future[object]] = []

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, into: bytearray
    ) -> None:
        try:
            while data := await src.read(65536):
                into.extend(data)
                dst.write(data)
                await dst.drain()
        finally:
            dst.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        done = asyncio.get_running_loop().create_future()
        self.done.append(done)
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        await asyncio.gather(
            self._pump(reader, up_writer, self.sent),
            self._pump(up_reader, writer, self.answered),
            return_exceptions=True,
        )
        done.set_result(None)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            yield f"127.0.0.1:{port}"


async def send_request(endpoint: str) -> tuple[bytes, bytes]:
    """The signed request posted by the nodes' AS4 sender to ``endpoint`` through a
    :class:`Relay`: (the request's bytes, the answer's bytes) as they crossed it."""
    parts = endpoint.split("/", 3)
    host, port = parts[2].rsplit(":", 1)
    relay = Relay(host, int(port))
    async with relay.running() as netloc:
        async with aiohttp.ClientSession() as session:
            sender = As4Sender(
                session,
                CNS,
                pmodes=pmodes(encrypt=False, compress=False),
                keys=As4Keys.from_pki(pki(), CNS),
                policy=RetryPolicy(max_attempts=1, attempt_timeout=30.0),
            )
            entity = to_entity(signed_message().packaged)
            result = await sender.send(f"http://{netloc}/{parts[3]}", entity, message_id=MESSAGE_ID)
        async with asyncio.timeout(10):
            await asyncio.gather(*relay.done)
    if result.receipt is None:
        raise RuntimeError(f"the receiver did not acknowledge the request: {result.reason}")
    return bytes(relay.sent), bytes(relay.answered)


async def post_raw(endpoint: str, content_type: str, body: bytes) -> bytes:
    """``body`` posted as plain HTTP/1.1 to ``endpoint``; the answer's bytes as received."""
    parts = endpoint.split("/", 3)
    host, port = parts[2].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /{parts[3]} HTTP/1.1\r\nHost: {parts[2]}\r\nContent-Type: {content_type}\r\n"
        f'SOAPAction: ""\r\nContent-Length: {len(body)}\r\n\r\n'
    )
    writer.write(head.encode("ascii") + body)
    await writer.drain()
    async with asyncio.timeout(30):
        answer = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"\r\nContent-Length: (\d+)\r\n", answer)
        assert length is not None, answer
        answer += await reader.readexactly(int(length.group(1)))
    writer.close()
    return answer


def normalised(message: bytes) -> bytes:
    """``message`` with what varies from run to run replaced (:data:`NORMALISED`, the Host's
    port): the body is left as it is."""
    head, sep, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        name, colon, _value = line.partition(b": ")
        if colon and name in NORMALISED:
            lines[i] = name + b": " + NORMALISED[name]
        elif colon and name == b"Host":
            lines[i] = b"Host: " + SHOWN_HOST.encode()
    return b"\r\n".join(lines) + sep + body


async def _live() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="eessi-protocol-") as tmp:
        work = Path(tmp)
        (work / "directory.toml").write_bytes(default_directory_path().read_bytes())
        (work / "pmodes.toml").write_text(pmodes_file(), encoding="utf-8")
        # a copy: a node writes a lock file beside the PKI it uses, never in the source tree
        shutil.copytree(PKI_DIR, work / "pki")
        async with serving(CPAM, work) as cpam, serving(OTHER, work) as other:
            request, answer = await send_request(cpam)
            refused: dict[str, bytes] = {}
            for name, _what, make, receiver in REFUSALS:
                content_type, body = make()
                url = cpam if receiver == CPAM else other
                refused[name] = await post_raw(url, content_type, body)
    out = {
        "request": normalised(request),
        "request-envelope-indented": indented(envelope_of(signed_message().packaged)),
        "receipt": normalised(answer),
        "receipt-envelope-indented": indented(answer.partition(b"\r\n\r\n")[2]),
        "signed-info": canonical_signed_info(),
        "vectors": vectors().encode(),
    }
    for name, data in refused.items():
        out[name] = normalised(data)
    return out


def samples() -> dict[str, bytes]:
    """Every sample block of the page, by name, from live ``eessi serve`` processes."""
    return asyncio.run(_live())


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
