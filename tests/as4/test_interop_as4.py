"""Interoperability with an implementation that is not ours: the PyPI package ``as4``.

``as4`` (Apache-2.0) builds and reads AS4 messages for the Peppol profile of eDelivery AS4, with
its own WS-Security code. Both directions, with the keys of our test PKI:

* its signed and encrypted message: our MIME reader, header parser, decrypter and verifier
  accept it, and our signed receipt passes its non-repudiation check;
* our signed and encrypted message: its generic AS4 layer verifies our signature (coverage of
  eb:Messaging, the Body and the attachment), decrypts, checks the attachment digest and
  decompresses the SED; it then refuses the message under the Peppol profile alone (PartyId
  type and SBDH are Peppol's, not EESSI's), and our side reads its error signal.

Skipped when ``as4`` is not installed (it is a test extra).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from as4_support import make_pki

from eessi.as4.ebms_build import serialize
from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.exchange import build_sed_message, read_signal
from eessi.as4.mapping import Addressing
from eessi.as4.mime import unpackage
from eessi.as4.model import ErrorSignal, Receipt, UserMessage
from eessi.as4.pki import Pki
from eessi.as4.pmode import default_pmodes_path, load_pmodes
from eessi.as4.security.decrypt import decrypt
from eessi.as4.security.receipt import signed_receipt
from eessi.as4.security.verify import verify
from eessi.sed.examples import example_xml

as4 = pytest.importorskip("as4", reason="the counterpart package `as4` is not installed")
if getattr(as4, "__file__", None) is None:  # only tests/as4 seen as a namespace package
    pytest.skip("the counterpart package `as4` is not installed", allow_module_level=True)
peppol = pytest.importorskip("as4.peppol")

CNS, CPAM = "LU:CNS00001", "FR:CPAM5701"
NOW = dt.datetime.now(dt.UTC)
INVOICE = (
    b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><ID>1</ID></Invoice>'
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM}, now=NOW)


def _their_message(pki: Pki) -> Any:
    cns = pki.credentials(CNS)
    return peppol.build_peppol_message(
        INVOICE,
        local_party=peppol.create_peppol_internal_party(
            "PTE000001", cns.certificate, as4.AS4LocalPrivateKey(cns.key)
        ),
        remote_party=peppol.create_peppol_external_party("PTE000002", pki.certificate(CPAM)),
        sender="9932:9999999999",
        recipient="9932:1111111111",
        sender_country_id="GB",
        document_type_identifier_scheme="busdox-docid-qns",
        document_type_identifier_value=(
            "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice"
            "##urn:cen.eu:en16931:2017::2.1"
        ),
        process_identifier="urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
    )


def _content_type(headers: dict[str, str]) -> str:
    return next(v for k, v in headers.items() if k.lower() == "content-type")


def test_we_read_verify_and_decrypt_their_message_and_they_accept_our_receipt(pki: Pki) -> None:
    message = _their_message(pki)
    body, boundary = message.get_request_data()
    parts = unpackage(_content_type(message.get_http_headers(boundary)), body)
    parsed = parse_envelope(parts.envelope)
    assert isinstance(parsed.message, UserMessage)
    cpam = pki.credentials(CPAM)
    plain = decrypt(parsed.root, parts.attachments, cpam)
    verified = verify(parsed.root, plain, pki.trust, sender=None, now=NOW)
    assert len(verified.references) == 3  # eb:Messaging, Body, the attachment
    import gzip

    assert b"StandardBusinessDocument" in gzip.decompress(plain[0].data)
    receipt = Receipt("r-1@eessi-sim", NOW, parsed.message.message_id, verified.references)
    their_view = peppol.parse_peppol_receipt(
        serialize(signed_receipt(receipt, cpam)), cpam.certificate
    )
    assert their_view.success  # parsed, and its signature verified under the CPAM's cert
    their_view.verify_non_repudiation(message.signed_references)  # raises if not bound


def test_they_verify_decrypt_and_decompress_our_message_and_we_read_their_answer(
    pki: Pki,
) -> None:
    sed = example_xml("S072", seed=1)
    cns, cpam = pki.credentials(CNS), pki.credentials(CPAM)
    out = build_sed_message(
        Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4"),
        load_pmodes(default_pmodes_path()).find("S_BUC_01", "S072"),
        sed,
        message_id="m-1@eessi-sim",
        timestamp=NOW,
        content_id="sed-1@eessi-sim",
        credentials=cns,
        recipient=cpam.certificate,
    )
    exchange = peppol.parse_peppol_message(
        {"Content-Type": out.packaged.content_type},
        out.packaged.body,
        peppol.create_peppol_internal_party(
            CPAM, cpam.certificate, as4.AS4LocalPrivateKey(cpam.key)
        ),
        security_policy=as4.SecurityPolicy(
            signer_resolver=as4.pinned_certificates(cns.certificate), verify_participants=False
        ),
    )
    # its generic AS4 processing (signature and coverage, decryption, attachment digest,
    # decompression) went through: it holds our SED in clear
    assert exchange.message.decrypted_data == {"sed-1@eessi-sim": sed}
    # and it refuses only under the Peppol profile's own party rules
    assert isinstance(exchange.message.parse_error, peppol.PeppolPartyIdentifierException)
    headers, signal = exchange.build_signal()
    answer = read_signal(
        _content_type(headers), signal, sent=out, trust=pki.trust, receiver=CPAM, now=NOW
    )
    assert isinstance(answer, ErrorSignal)
    assert answer.errors[0].ref_to_message_in_error == "m-1@eessi-sim"


# -- the same over HTTP: our live endpoint and sender (eessi.as4.transport) ----------------------


async def test_their_message_posted_to_our_live_endpoint_gets_an_error_signal_they_read(
    pki: Pki,
) -> None:
    """Their Peppol message over HTTP to our running endpoint: we unpackage and parse it and
    answer EBMS:0010 (no P-Mode of ours carries Peppol's Service/Action), an error signal
    that their parser reads as the refusal of their MessageId."""
    import aiohttp
    from aiohttp import web

    from eessi.as4.transport import As4Endpoint, As4Keys

    refusals: list[Any] = []

    async def never(inbound: Any) -> Any:
        raise AssertionError("their Peppol message cannot match an EESSI P-Mode")

    async def refused(refusal: Any) -> None:
        refusals.append(refusal)

    endpoint = As4Endpoint(
        never,
        CPAM,
        pmodes=load_pmodes(default_pmodes_path()),
        keys=As4Keys.from_pki(pki, CPAM),
        on_refused=refused,
    )
    runner = web.AppRunner(endpoint.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    message = _their_message(pki)
    body, boundary = message.get_request_data()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://{host}:{port}/as4", data=body, headers=message.get_http_headers(boundary)
            ) as resp,
        ):
            answer = await resp.read()
            status = resp.status
    finally:
        await runner.cleanup()
    assert status == 422
    theirs = peppol.parse_peppol_receipt(answer, pki.certificate(CPAM))
    assert theirs.error is not None
    assert theirs.original_message_id == message.message_id
    (refusal,) = refusals
    assert refusal.error.code == "EBMS:0010"


async def test_our_live_sender_posts_to_their_receiver_and_reads_its_answer(pki: Pki) -> None:
    """Our running sender (build once, POST, read the signal) to an HTTP server around their
    receiving side: it verifies, decrypts and decompresses our SED, then refuses under the
    Peppol profile's party rules; our sender reads that as a refusal (no retry)."""
    import random

    import aiohttp
    from aiohttp import web

    from eessi.as4.transport import As4Keys, As4Sender
    from eessi.transport.client import Failure

    cns, cpam = pki.credentials(CNS), pki.credentials(CPAM)
    seen: list[Any] = []

    async def their_msh(request: web.Request) -> web.Response:
        exchange = peppol.parse_peppol_message(
            dict(request.headers),
            await request.read(),
            peppol.create_peppol_internal_party(
                CPAM, cpam.certificate, as4.AS4LocalPrivateKey(cpam.key)
            ),
            security_policy=as4.SecurityPolicy(
                signer_resolver=as4.pinned_certificates(cns.certificate),
                verify_participants=False,
            ),
        )
        seen.append(exchange)
        headers, signal = exchange.build_signal()
        return web.Response(body=signal, headers=headers)

    app = web.Application()
    app.router.add_post("/msh", their_msh)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    sed = example_xml("S072", seed=3)
    try:
        async with aiohttp.ClientSession() as session:
            sender = As4Sender(
                session,
                CNS,
                pmodes=load_pmodes(default_pmodes_path()),
                keys=As4Keys.from_pki(pki, CNS),
                rng=random.Random(1),
            )
            entity = sender.build(
                Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4"),
                sed,
                message_id="m-3@eessi-sim",
                timestamp=NOW,
            )
            result = await sender.send(f"http://{host}:{port}/msh", entity)
    finally:
        await runner.cleanup()
    (exchange,) = seen
    assert list(exchange.message.decrypted_data.values()) == [sed]
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.attempts == 1
    assert result.error is not None
    assert result.error.ref_to_message_id == "m-3@eessi-sim"
