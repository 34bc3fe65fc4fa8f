"""AS4 over real aiohttp servers on loopback: the endpoint and the sender of eessi.as4.transport.

Every message on the wire is read back and checked against the official schemas; refusals are
error signals with the ebMS code; the journal's bytes are the bytes of the wire.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from as4_support import CNS, CPAM, make_pki
from loopback import Serve, serve, session
from lxml import etree
from test_samples import _DEFAULT_TYPE, MANIFEST, _body

from eessi.as4.ebms_build import serialize
from eessi.as4.ebms_parse import parse_envelope
from eessi.as4.mapping import Addressing
from eessi.as4.mime import unpackage
from eessi.as4.model import ErrorSignal, Receipt
from eessi.as4.pki import Pki
from eessi.as4.pmode import PModeSet, default_pmodes_path, load_pmodes
from eessi.as4.security.receipt import signed_receipt
from eessi.as4.transport import As4Endpoint, As4Keys, As4Sender, sed_version_of
from eessi.as4.wire import from_entity, to_entity
from eessi.clock import VirtualClock
from eessi.sed.examples import example_xml
from eessi.transport.client import Failure, RetryPolicy, SendStatus, StatusUpdate
from eessi.transport.limits import InboundLimits
from eessi.transport.poster import KeepAlivePoster, Poster
from eessi.transport.server import Inbound, Outcome, Refusal

Schema = Callable[[bytes | etree._Element], None]
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CASE = "FR-1A2B3C4D5E6F"
__all__ = ["serve", "session"]  # the shared loopback fixtures (tests/loopback.py), used here
OPEN = InboundLimits(max_clock_skew=None, max_message_age=None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), {CNS, CPAM}, now=NOW)


def secured() -> PModeSet:
    return load_pmodes(default_pmodes_path())


def unsecured() -> PModeSet:
    ps = secured()
    return PModeSet(
        tuple(
            dataclasses.replace(pm, security=dataclasses.replace(pm.security, enabled=False))
            for pm in ps
        ),
        source=ps.source,
    )


@dataclasses.dataclass
class Node:
    """The node's stand-in behind the endpoint: a journal of message IDs and bytes."""

    journal: dict[str, Inbound] = dataclasses.field(default_factory=dict)
    answers: list[str] = dataclasses.field(default_factory=list)
    refusals: list[Refusal] = dataclasses.field(default_factory=list)
    refuse_with: Outcome | None = None

    async def on_message(self, inbound: Inbound) -> Outcome:
        if self.refuse_with is not None:
            return self.refuse_with
        mid = inbound.message.message_id
        if mid in self.journal:
            self.answers.append("duplicate")
            return Outcome.duplicate()
        self.journal[mid] = inbound
        self.answers.append("accepted")
        return Outcome.accepted()

    async def on_refused(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)


def addressing(sed: str = "S072", version: str = "4.4") -> Addressing:
    return Addressing(CNS, CPAM, CASE, "S_BUC_01", sed, version)


async def cpam(serve: Serve, node: Node, pmodes: PModeSet, keys: As4Keys) -> str:
    endpoint = As4Endpoint(
        node.on_message,
        CPAM,
        pmodes=pmodes,
        keys=keys,
        on_refused=node.on_refused,
        limits=OPEN,
    )
    return await serve(endpoint.app()) + "/as4"


def sender(
    session: aiohttp.ClientSession | Poster,
    pmodes: PModeSet,
    keys: As4Keys,
    *,
    updates: list[StatusUpdate] | None = None,
    sleeps: list[float] | None = None,
    policy: RetryPolicy | None = None,
) -> As4Sender:
    async def record(update: StatusUpdate) -> None:
        if updates is not None:
            updates.append(update)

    async def sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)

    return As4Sender(
        session,
        CNS,
        pmodes=pmodes,
        keys=keys,
        rng=random.Random(1),
        policy=policy,
        sleep=sleep,
        on_status=record,
    )


def build(s: As4Sender, n: int = 1, sed: str = "S072", version: str = "4.4") -> bytes:
    return s.build(
        addressing(sed, version),
        example_xml(sed, seed=n),
        message_id=f"m-{n}@eessi-sim",
        timestamp=NOW,
    )


async def test_secured_exchange_journals_the_wire_bytes_and_every_message_is_schema_valid(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, as4_schema: Schema
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    updates: list[StatusUpdate] = []
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS), updates=updates)
    entity = build(s)
    result = await s.send(url, entity)
    assert result.ok, result.reason
    assert result.attempts == 1, result.reason
    inbound = node.journal["m-1@eessi-sim"]
    # byte-exact: the receiver journals what the sender journaled, the MIME package as posted
    assert inbound.envelope == entity
    assert inbound.payload == example_xml("S072", seed=1)  # the SED in clear for the desk
    m = inbound.message
    assert (m.from_party, m.to_party, m.conversation_id, m.sed_type, m.sed_version) == (
        CNS,
        CPAM,
        CASE,
        "S072",
        "4.4",
    )
    assert (m.service, m.action) == ("S_BUC_01", "S072")
    packaged = from_entity(entity)
    parts = unpackage(packaged.content_type, packaged.body)
    as4_schema(parts.envelope)  # signed and encrypted user message
    assert b"wsse:Security" in parts.envelope
    assert b"xenc:EncryptedKey" in parts.envelope
    assert [u.status for u in updates] == [
        SendStatus.SENDING,
        SendStatus.WAITING_FOR_RECEIPT,
        SendStatus.ACKNOWLEDGED,
    ]
    # the receipt as it comes over the wire: signed, bound to the digests, schema-valid
    async with session.post(
        url, data=packaged.body, headers={"Content-Type": packaged.content_type}
    ) as resp:
        answer = await resp.read()
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/soap+xml")
    as4_schema(answer)
    receipt = parse_envelope(answer)
    assert isinstance(receipt.message, Receipt)
    assert receipt.security is not None  # signed (non-repudiation)
    assert len(receipt.message.references) == 3  # eb:Messaging, Body, the SED attachment
    assert node.answers == ["accepted", "duplicate"]  # the resend: a receipt again, no more


async def test_a_sender_on_kept_alive_connections_is_acknowledged_as_over_a_session(
    pki: Pki, serve: Serve
) -> None:
    """What a node serving alone sends with (D380): the same receipts and statuses, and a
    peer that is down is a connection failure with the system's reason."""
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    poster = KeepAlivePoster(4)
    updates: list[StatusUpdate] = []
    s = sender(poster, secured(), As4Keys.from_pki(pki, CNS), updates=updates)
    try:
        for n in (1, 2):
            result = await s.send(url, build(s, n))
            assert result.ok, result.reason
        down = await s.send("http://127.0.0.1:9/as4", build(s, 3))
    finally:
        await poster.close()
    assert set(node.journal) == {"m-1@eessi-sim", "m-2@eessi-sim"}
    assert [u.status for u in updates[:6]] == [
        SendStatus.SENDING,
        SendStatus.WAITING_FOR_RECEIPT,
        SendStatus.ACKNOWLEDGED,
    ] * 2
    assert not down.ok
    assert "EBMS:0005 ConnectionFailure: cannot connect to http://127.0.0.1:9/as4:" in (
        down.reason or ""
    )
    assert "Connection refused" in (down.reason or "")


async def test_duplicate_is_acknowledged_again_and_handed_on_once(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS))
    entity = build(s, 2)
    first, again = await s.send(url, entity), await s.send(url, entity)
    assert first.ok
    assert again.ok
    assert node.answers == ["accepted", "duplicate"]
    assert list(node.journal) == ["m-2@eessi-sim"]


async def test_a_message_built_before_a_restart_is_sent_and_its_receipt_checked_from_the_journal(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    entity = build(sender(session, secured(), As4Keys.from_pki(pki, CNS)), 3)
    fresh = sender(session, secured(), As4Keys.from_pki(pki, CNS))  # nothing in memory
    result = await fresh.send(url, entity)
    assert result.ok, result.reason
    assert node.journal["m-3@eessi-sim"].envelope == entity


async def test_unsecured_pmode_exchange_has_no_security_header_and_an_unsigned_receipt(
    serve: Serve, session: aiohttp.ClientSession, as4_schema: Schema
) -> None:
    node = Node()
    url = await cpam(serve, node, unsecured(), As4Keys())
    s = sender(session, unsecured(), As4Keys())
    entity = build(s, 4)
    assert (await s.send(url, entity)).ok
    packaged = from_entity(entity)
    envelope = unpackage(packaged.content_type, packaged.body).envelope
    as4_schema(envelope)
    assert b"Security" not in envelope
    async with session.post(
        url, data=packaged.body, headers={"Content-Type": packaged.content_type}
    ) as resp:
        answer = await resp.read()
    as4_schema(answer)
    parsed = parse_envelope(answer)
    assert isinstance(parsed.message, Receipt)
    assert parsed.security is None


async def _post(session: aiohttp.ClientSession, url: str, ct: str, body: bytes) -> tuple[int, str]:
    async with session.post(url, data=body, headers={"Content-Type": ct}) as resp:
        data = await resp.read()
        status = resp.status
    signal = parse_envelope(data).message
    assert isinstance(signal, ErrorSignal), data[:300]
    return status, signal.errors[0].code


async def test_tampered_attachment_is_refused_unauthenticated_with_the_security_code(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, as4_schema: Schema
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    packaged = from_entity(build(sender(session, secured(), As4Keys.from_pki(pki, CNS)), 5))
    body = bytearray(packaged.body)
    body[-60] ^= 0x01  # one bit of the encrypted SED
    async with session.post(
        url, data=bytes(body), headers={"Content-Type": packaged.content_type}
    ) as resp:
        answer = await resp.read()
        assert resp.status == 403
    as4_schema(answer)  # error signals are schema-valid too
    error = parse_envelope(answer).message
    assert isinstance(error, ErrorSignal)
    assert error.errors[0].code == "EBMS:0102"
    assert error.errors[0].ref_to_message_in_error == "m-5@eessi-sim"
    assert not node.journal
    (refusal,) = node.refusals
    assert not refusal.authenticated
    assert refusal.error.code == "EBMS:0102"


async def test_a_message_signed_by_someone_else_is_refused_0101(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    # the CPAM's own key signs a message that claims to come from the CNS
    forger = As4Keys(pki.credentials(CPAM), pki.trust, dict(pki.certificates))
    packaged = from_entity(build(sender(session, secured(), forger), 6))
    assert await _post(session, url, packaged.content_type, packaged.body) == (403, "EBMS:0101")
    assert not node.journal


async def test_unsecured_message_under_a_secured_pmode_is_refused_0103(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    packaged = from_entity(build(sender(session, unsecured(), As4Keys()), 7))
    assert await _post(session, url, packaged.content_type, packaged.body) == (403, "EBMS:0103")


async def test_unsupported_version_is_refused_0010_after_authentication_and_journaled(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS))
    result = await s.send(url, build(s, 8, version="4.2"))
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.attempts == 1
    assert result.error is not None
    assert result.error.code == "EBMS:0010"
    assert "supported versions: 4.4" in (result.reason or "")
    (refusal,) = node.refusals
    assert refusal.authenticated
    assert refusal.payload == example_xml("S072", seed=8)
    assert refusal.message is not None
    assert refusal.message.message_id == "m-8@eessi-sim"


async def test_node_refusal_becomes_an_error_signal_and_is_not_retried(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    from eessi.transport import codes

    node = Node(refuse_with=Outcome.refused("the SED is invalid", code=codes.OTHER, detail="/x"))
    url = await cpam(serve, node, secured(), As4Keys.from_pki(pki, CPAM))
    sleeps: list[float] = []
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS), sleeps=sleeps)
    result = await s.send(url, build(s, 9))
    assert result.failure is Failure.REFUSED_BY_PEER
    assert result.http_status == 422
    assert result.error is not None
    assert result.error.code == "EBMS:0004"
    assert result.error.description == "the SED is invalid"
    assert sleeps == []


async def test_not_mime_and_oversized_and_wrong_method_are_refused_before_parsing(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    endpoint = As4Endpoint(
        node.on_message, CPAM, pmodes=unsecured(), on_refused=node.on_refused, max_body=2000
    )
    url = await serve(endpoint.app()) + "/as4"
    assert await _post(session, url, "text/plain", b"hello") == (400, "EBMS:0007")
    status, code = await _post(session, url, "multipart/related", b"x" * 3000)
    assert (status, code) == (413, "EBMS:0004")
    async with session.get(url) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"
    assert [r.http_status for r in node.refusals] == [400, 413]
    assert not any(r.authenticated for r in node.refusals)


async def test_stale_timestamp_is_refused_0003(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    endpoint = As4Endpoint(
        node.on_message,
        CPAM,
        pmodes=secured(),
        keys=As4Keys.from_pki(pki, CPAM),
        clock=VirtualClock(NOW + dt.timedelta(days=3)),
        limits=InboundLimits(max_message_age=86400.0),
    )
    url = await serve(endpoint.app()) + "/as4"
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS))
    result = await s.send(url, build(s, 10))
    assert result.error is not None
    assert result.error.code == "EBMS:0003"
    assert "older than the receiver's clock" in result.error.description


async def test_peer_down_is_retried_as_the_pmode_says_then_missing_receipt(
    pki: Pki, session: aiohttp.ClientSession
) -> None:
    updates: list[StatusUpdate] = []
    sleeps: list[float] = []
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS), updates=updates, sleeps=sleeps)
    pm = secured().find("S_BUC_01", "S072").reception_awareness
    result = await s.send("http://127.0.0.1:9/as4", build(s, 11))
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert result.attempts == pm.retries + 1
    assert sleeps == list(pm.delays())  # 2, 4, 8, 16, 32 s: interval x backoff^n
    assert (result.reason or "").startswith("EBMS:0301 MissingReceipt")
    assert "EBMS:0005 ConnectionFailure" in (result.reason or "")
    assert updates[-1].status is SendStatus.FAILED


async def test_unavailable_then_receipt_is_retried_with_the_same_bytes(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    node = Node()
    endpoint = As4Endpoint(
        node.on_message,
        CPAM,
        pmodes=secured(),
        keys=As4Keys.from_pki(pki, CPAM),
        limits=OPEN,
    )
    bodies: list[bytes] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        if not bodies:
            bodies.append(await request.read())
            return web.Response(status=503, text="busy")
        return await endpoint.handle(request)

    app = web.Application()
    app.router.add_post("/as4", flaky)
    url = await serve(app) + "/as4"
    sleeps: list[float] = []
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS), sleeps=sleeps)
    entity = build(s, 12)
    result = await s.send(url, entity)
    assert result.ok
    assert result.attempts == 2
    assert sleeps == [2.0]
    assert bodies == [from_entity(entity).body]
    assert node.journal["m-12@eessi-sim"].envelope == entity  # the resend: the same bytes


async def test_a_receipt_for_other_digests_is_not_an_acknowledgement(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    """A receipt signed by the CPAM for this MessageId but another message's digests:
    EBMS:0302 InvalidReceipt, so not acknowledged (and retried while the budget lasts)."""
    other = sender(session, secured(), As4Keys.from_pki(pki, CNS))
    other_refs = other._outgoing(None, build(other, 13)).references

    async def wrong_receipt(request: web.Request) -> web.StreamResponse:
        await request.read()
        receipt = Receipt("r-1@eessi-sim", NOW, "m-14@eessi-sim", other_refs)
        body = serialize(signed_receipt(receipt, pki.credentials(CPAM)))
        return web.Response(body=body, headers={"Content-Type": "application/soap+xml"})

    app = web.Application()
    app.router.add_post("/as4", wrong_receipt)
    url = await serve(app) + "/as4"
    s = sender(session, secured(), As4Keys.from_pki(pki, CNS), policy=RetryPolicy(max_attempts=1))
    result = await s.send(url, build(s, 14))
    assert result.failure is Failure.RETRIES_EXHAUSTED
    assert "EBMS:0302 InvalidReceipt" in (result.reason or "")


#: The user messages among the samples (the signals are answers, never posted on their own).
USER_SAMPLES = [
    s
    for s in MANIFEST
    if not (s.get("file") in ("receipt.xml", "error.xml") and s["expect"] == "accept")
]


@pytest.mark.parametrize("sample", USER_SAMPLES, ids=[s["name"] for s in USER_SAMPLES])
async def test_hand_written_sample_over_http(
    sample: dict[str, object], serve: Serve, session: aiohttp.ClientSession
) -> None:
    """The hand-written messages (from the specification, not our encoder) posted to the live
    endpoint: accepted with a receipt, or refused with the manifest's ebMS code."""
    node = Node()
    endpoint = As4Endpoint(
        node.on_message, CNS, pmodes=unsecured(), on_refused=node.on_refused, limits=OPEN
    )
    url = await serve(endpoint.app()) + "/as4"
    content_type = str(sample.get("content_type", _DEFAULT_TYPE))
    async with session.post(url, data=_body(sample), headers={"Content-Type": content_type}) as r:
        answer = await r.read()
        status = r.status
    signal = parse_envelope(answer).message
    if sample["expect"] == "accept":
        assert status == 200, answer[:400]
        assert isinstance(signal, Receipt), answer[:400]
        assert list(node.journal) == [signal.ref_to_message_id]
    elif isinstance(signal, ErrorSignal) and signal.errors[0].code != sample["expect"]:
        pytest.fail(f"{sample['name']}: {signal.errors[0].code}, not {sample['expect']}")
    else:
        assert isinstance(signal, ErrorSignal)
        assert 400 <= status < 500
        assert not node.journal


def test_entity_round_trip() -> None:
    from eessi.as4.mime import Packaged

    p = Packaged('multipart/related; boundary="b"; type="application/soap+xml"', b"\r\n\r\nx")
    assert from_entity(to_entity(p)) == p


async def test_without_the_sed_version_part_property_the_version_is_the_seds_namespace(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """A Domibus submission carries no SedVersion part property: the SED's namespace says it."""
    node = Node()
    url = await cpam(serve, node, unsecured(), As4Keys())
    packaged = from_entity(build(sender(session, unsecured(), As4Keys()), 15))
    prop = b'<eb:Property name="SedVersion">4.4</eb:Property>'
    assert prop in packaged.body
    body = packaged.body.replace(prop, b"")
    async with session.post(url, data=body, headers={"Content-Type": packaged.content_type}) as r:
        assert r.status == 200
    assert node.journal["m-15@eessi-sim"].message.sed_version == "4.4"
    assert sed_version_of(None, b"<S072 xmlns='http://ec.europa.eu/eessi/ns/4_3/S072'/>") == "4.3"
    assert sed_version_of(None, b"<x/>") is None
