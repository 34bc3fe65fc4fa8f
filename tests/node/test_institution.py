"""Institutions on real aiohttp servers (loopback) with real SQLite journals: the R17 flow,
duplicates, refusals at the door, out-of-order documents, fund actions, failed sends."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from node_kit import ANA, BE, CNS, PT, RS, sent_s071, settle, write_directory

from eessi.core.messages import CoInsuranceRequested, Outgoing
from eessi.directory import load_directory
from eessi.errors import DomainError
from eessi.journal.base import Direction, MessageStatus
from eessi.node.hooks import OutboundSed
from eessi.node.inputs import InvalidateDocument, RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import Network
from eessi.node.records import REFUSED_LOG
from eessi.transport.auth import SIGNATURE_HEADER, sign
from eessi.transport.client import RetryPolicy
from eessi.transport.envelope import UserMessage, decode_signal, encode
from eessi.transport.framing import frame

FAST = NodeOptions(retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2))


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    directory = load_directory(write_directory(tmp_path))
    async with Network(
        directory, tmp_path, ids=[CNS, PT, BE], seed=7, options=FAST, synchronous="NORMAL"
    ) as network:
        yield network


async def statuses(net: Network, ir_id: str) -> list[tuple[str, str, str]]:
    return [
        (m.direction.value, m.sed_type, m.status.value) for m in await net[ir_id].journal.messages()
    ]


async def test_R17_fund_request_is_answered_registered_and_confirmed(net: Network) -> None:
    step = await net[PT].submit(RequestEntitlement(ANA))
    case_id = step.outgoing[0].case_id
    await settle(net)
    assert await statuses(net, PT) == [
        ("out", "S071", "acknowledged"),
        ("in", "S072", "processed"),
        ("out", "S073", "acknowledged"),
    ]
    assert await statuses(net, CNS) == [
        ("in", "S071", "processed"),
        ("out", "S072", "acknowledged"),
        ("in", "S073", "processed"),
    ]
    registration = next(iter(net[CNS].desk.registrations.values()))
    assert registration.case_id == case_id
    assert "R17" in registration.rules
    snapshot = await net[CNS].journal.case(case_id)
    assert snapshot is not None
    assert snapshot.state["state"] == "completed"
    assert [d["sed"] for d in snapshot.state["documents"]] == ["S071", "S072", "S073"]
    kinds = [e.kind for e in await net[CNS].journal.case_events(case_id)]
    assert "co-insurance-registered" in kinds


async def test_SED_goes_out_in_a_version_the_receiver_accepts(net: Network) -> None:
    # The Portuguese fund accepts 4.3 only (directory): both sides write 4.3 to each other.
    await net[PT].submit(RequestEntitlement(ANA))
    await settle(net)
    versions = {m.sed_version for m in await net[CNS].journal.messages()}
    assert versions == {"4.3"}


async def post(
    url: str,
    payload: bytes,
    message: UserMessage,
    credential: str,
    *,
    envelope: bytes | None = None,
) -> tuple[int, bytes]:
    framed = frame(envelope or encode(message), payload, boundary_seed=message.payload_digest)
    headers = {"Content-Type": framed.content_type, SIGNATURE_HEADER: sign(framed.body, credential)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=io.BytesIO(framed.body), headers=headers) as resp,
    ):
        return resp.status, await resp.read()


async def test_redelivered_message_gets_its_receipt_again_and_is_processed_once(
    net: Network,
) -> None:
    message, payload = await sent_s071(net)
    cns = net[CNS]
    credential = net.directory.get(PT).credential
    status, body = await post(cns.endpoint_url or "", payload, message, credential)
    await settle(net)
    assert status == 200
    assert decode_signal(body).ref_to_message_id == message.message_id
    record = await cns.journal.message(message.message_id, Direction.IN)
    assert record is not None
    assert record.duplicates == 1
    assert record.status is MessageStatus.PROCESSED
    # processed once: one S072 only
    assert [m.sed_type for m in await cns.journal.messages(direction=Direction.OUT)] == ["S072"]


async def test_spoofed_sender_is_refused_and_journaled_as_refused(net: Network) -> None:
    message, payload = await sent_s071(net)
    forged = replace(message, message_id="forged-0001")
    # Claims to be the Portuguese fund but signs with the Belgian fund's credential.
    status, body = await post(
        net[CNS].endpoint_url or "", payload, forged, net.directory.get(BE).credential
    )
    assert status == 403
    assert decode_signal(body).code == "EBMS:0101"  # type: ignore[union-attr]
    # Not authenticated: a bounded summary under the ~refused pseudo case, not a message.
    assert await net[CNS].journal.messages(status=MessageStatus.REFUSED) == []
    [event] = await net[CNS].journal.case_events(REFUSED_LOG)
    assert event.data["claimed"]["message_id"] == "forged-0001"
    assert event.data["claimed"]["from"] == PT
    assert "not who it claims" in event.data["reason"]


async def test_unsupported_sed_version_is_refused_naming_the_supported_ones(
    net: Network,
) -> None:
    message, payload = await sent_s071(net)  # a 4.3 S071; Belgium accepts 4.4 only
    to_be = replace(message, to_party=BE, message_id="v43-to-be")
    status, body = await post(
        net[BE].endpoint_url or "", payload, to_be, net.directory.get(PT).credential
    )
    signal = decode_signal(body)
    assert status == 422
    assert signal.code == "EBMS:0010"  # type: ignore[union-attr]
    assert "supported versions: 4.4" in signal.description  # type: ignore[union-attr]


async def test_unknown_receiver_is_refused_by_the_endpoint(net: Network) -> None:
    message, payload = await sent_s071(net)
    lost = replace(message, to_party="XX:NOBODY01", message_id="lost-0001")
    status, body = await post(
        net[CNS].endpoint_url or "", payload, lost, net.directory.get(PT).credential
    )
    assert status == 404
    assert "XX:NOBODY01" in decode_signal(body).description  # type: ignore[union-attr]


async def test_request_to_an_institution_outside_the_directory_is_refused_at_submit(
    net: Network,
) -> None:
    with pytest.raises(DomainError, match="not an EESSI institution") as caught:
        await net[PT].submit(RequestEntitlement(ANA, to="XX:NOBODY01"))
    assert caught.value.code == "node.unknown-receiver"
    with pytest.raises(DomainError, match="not an EESSI institution"):
        await net[PT].submit(RequestEntitlement(ANA, to=RS))  # bilateral: outside EESSI
    assert await net[PT].journal.messages() == []


async def test_malformed_envelope_is_refused_with_EBMS_0009(net: Network) -> None:
    message, payload = await sent_s071(net)
    status, body = await post(
        net[CNS].endpoint_url or "",
        payload,
        message,
        net.directory.get(PT).credential,
        envelope=b"<Messaging><oops/></Messaging>",
    )
    assert status == 400
    assert decode_signal(body).code == "EBMS:0009"  # type: ignore[union-attr]
    assert await net[CNS].journal.messages(status=MessageStatus.REFUSED) == []
    [event] = await net[CNS].journal.case_events(REFUSED_LOG)
    assert event.data["code"] == "EBMS:0009"
    assert event.data["claimed"] is None


async def test_oversized_body_gets_413_with_a_message(net: Network) -> None:
    message, payload = await sent_s071(net)
    big = payload + b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->"
    huge = UserMessage.for_payload(
        big,
        message_id="huge-0001",
        timestamp=message.timestamp,
        from_party=PT,
        to_party=CNS,
        conversation_id=message.conversation_id,
        sed_type="S071",
        sed_version="4.3",
    )
    status, body = await post(net[CNS].endpoint_url or "", big, huge, "x" * 16)
    assert status == 413
    assert "accepts at most" in decode_signal(body).description  # type: ignore[union-attr]


async def test_SED_invalid_against_its_schema_is_refused_and_not_processed(
    net: Network,
) -> None:
    message, payload = await sent_s071(net)
    broken = payload.replace(b"<sex>", b"<sexx>").replace(b"</sex>", b"</sexx>")
    assert broken != payload
    bad = UserMessage.for_payload(
        broken,
        message_id="bad-0001",
        timestamp=message.timestamp,
        from_party=PT,
        to_party=CNS,
        conversation_id="PT-BADBADBAD001",
        sed_type="S071",
        sed_version="4.3",
    )
    status, body = await post(
        net[CNS].endpoint_url or "", broken, bad, net.directory.get(PT).credential
    )
    assert status == 422
    assert "schema" in decode_signal(body).description  # type: ignore[union-attr]
    record = await net[CNS].journal.message("bad-0001")
    assert record is not None
    assert record.status is MessageStatus.REFUSED


class DelayS071:
    """Outbound policy: the S071 leaves one second late (so what follows overtakes it)."""

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return replace(sed, delay=1.0) if sed.sed_type == "S071" else sed


async def test_document_arriving_before_its_case_is_parked_then_processed(net: Network) -> None:
    pt = net[PT]
    pt.outbound_policy = DelayS071()
    step = await pt.submit(RequestEntitlement(ANA))
    case_id = step.outgoing[0].case_id
    await pt.submit(InvalidateDocument(case_id, "S071"))  # X008 overtakes the S071
    await settle(net)
    cns = net[CNS]
    assert cns.stats["parked"] == 1
    assert cns.parked == []
    inbound = await cns.journal.messages(direction=Direction.IN)
    assert [m.sed_type for m in inbound] == ["X008", "S071"]
    assert all(m.status is not MessageStatus.RECEIVED for m in inbound)
    x008 = inbound[0]
    assert x008.status is MessageStatus.PROCESSED, x008.last_error


async def test_document_reusing_another_documents_id_is_rejected_not_parked(
    net: Network, caplog: pytest.LogCaptureFixture
) -> None:
    # A refusal that waiting cannot cure (its document ID already names the S071) is final,
    # even though the document it answers is unknown: rejected with the reason, at WARNING.
    message, _ = await sent_s071(net)
    s073 = next(
        m for m in await net[PT].journal.messages(direction=Direction.OUT) if m.sed_type == "S073"
    )
    forged = UserMessage.for_payload(
        s073.payload,
        message_id=f"{message.message_id}~7",  # document ID: the S071's
        timestamp=s073.created_at,
        from_party=PT,
        to_party=CNS,
        conversation_id=message.conversation_id,
        sed_type="S073",
        sed_version=s073.sed_version,
        ref_to_message_id="never-sent-0001",
    )
    cns = net[CNS]
    credential = net.directory.get(PT).credential
    with caplog.at_level("WARNING", logger="eessi.node"):
        status, _ = await post(cns.endpoint_url or "", s073.payload, forged, credential)
        await settle(net)
    assert status == 200
    record = await cns.journal.message(forged.message_id, Direction.IN)
    assert record is not None
    assert record.status is MessageStatus.REJECTED
    assert (record.last_error or "").startswith("cannot receive S073")
    assert cns.stats["parked"] == 0
    assert cns.parked == []
    assert any(
        r.levelname == "WARNING" and forged.message_id in r.getMessage() for r in caplog.records
    )


async def test_CNS_input_submitted_to_a_fund_is_refused(net: Network) -> None:
    with pytest.raises(DomainError, match="CNS's input"):
        await net[PT].submit(CoInsuranceRequested("1978072712345", "ana"))
    with pytest.raises(DomainError, match="foreign fund's action"):
        await net[CNS].submit(RequestEntitlement(ANA))
