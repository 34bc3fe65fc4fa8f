"""Access Points that name their messages the Domibus way (``<uuid>@<host>``, RFC 2822) over
real AS4 on loopback: the receiver names the document by the UUID (its SED references must be
UUIDs), answers the AS4 message by its full MessageId, and the case runs to its end (D165)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from as4_support import as4_network, loopback_as4
from lxml import etree

from eessi.as4.node_transport import As4Transport
from eessi.core.messages import Outgoing
from eessi.journal.base import Direction, MessageRecord, MessageStatus
from eessi.node.hooks import OutboundSed
from eessi.node.inputs import RequestEntitlement
from eessi.node.message_ids import AnsweredMessages, document_of
from eessi.node.network import Network

CNS, PT = "LU:CNS00001", "PT:ISS00001"
ANA = "silva-luxembourg/ana"
HOSTS = {CNS: "cns.eessi-sim", PT: "iss.pt.example"}


class DomibusIds:
    """Sends every SED under ``<uuid>@<host>``, as Domibus generates MessageIds."""

    def __init__(self, host: str, copies: int = 1) -> None:
        self.host = host
        self.copies = copies

    def outbound(self, sed: OutboundSed, outgoing: Outgoing) -> OutboundSed | None:
        return replace(sed, message_id=f"{sed.message_id}@{self.host}", copies=self.copies)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Network]:
    async with as4_network(tmp_path, loopback_as4(tmp_path), seed=7) as n:
        for ir_id, host in HOSTS.items():
            n[ir_id].outbound_policy = DomibusIds(host)
        yield n


async def _settle(net: Network) -> None:
    async with asyncio.timeout(30):
        await net.idle()


def _sed_ids(record: MessageRecord) -> list[str]:
    return [e.text or "" for e in etree.fromstring(record.payload).iter("sedId")]


async def _by_type(net: Network, ir_id: str, direction: Direction) -> dict[str, MessageRecord]:
    return {m.sed_type: m for m in await net[ir_id].journal.messages(direction=direction)}


async def test_R17_with_domibus_message_ids_is_answered_by_reference_and_completes(
    net: Network,
) -> None:
    assert isinstance(net[PT].transport, As4Transport)
    await net[PT].submit(RequestEntitlement(ANA))
    await _settle(net)
    cns_in = await _by_type(net, CNS, Direction.IN)
    cns_out = await _by_type(net, CNS, Direction.OUT)
    pt_in = await _by_type(net, PT, Direction.IN)
    pt_out = await _by_type(net, PT, Direction.OUT)
    # R17: S071 from the fund, the CNS's S072, the fund's S073: all processed where received
    assert set(cns_in) == {"S071", "S073"}
    assert set(pt_in) == {"S072"}
    for record in [*cns_in.values(), *pt_in.values()]:
        assert record.status is MessageStatus.PROCESSED, (record.sed_type, record.error)
    s071, s072, s073 = pt_out["S071"], cns_out["S072"], pt_out["S073"]
    assert s071.message_id.endswith("@iss.pt.example")
    assert s072.message_id.endswith("@cns.eessi-sim")
    # RefToMessageId names the AS4 message answered, whole
    assert s072.ref_to_message_id == s071.message_id
    assert s073.ref_to_message_id == s072.message_id
    assert cns_in["S073"].ref_to_message_id == s072.message_id
    # the S073's SED reference names the S1 by the UUID its sender knows it by
    assert _sed_ids(s073) == [s072.message_id.partition("@")[0]]
    # both sides see the case completed
    case = s071.conversation_id
    for ir_id in (CNS, PT):
        state = net[ir_id].desk.snapshot().cases[case].snapshot.state
        assert state.name == "COMPLETED", (ir_id, state)


async def test_a_duplicate_domibus_message_id_is_processed_once(net: Network) -> None:
    net[PT].outbound_policy = DomibusIds(HOSTS[PT], copies=3)  # each SED posted three times
    await net[PT].submit(RequestEntitlement(ANA))
    await _settle(net)
    s071 = (await _by_type(net, PT, Direction.OUT))["S071"]
    inbound = await net[CNS].journal.messages(direction=Direction.IN)
    assert [m.message_id for m in inbound].count(s071.message_id) == 1
    answers = [m for m in await net[CNS].journal.messages(direction=Direction.OUT)]
    assert [m.sed_type for m in answers] == ["S072"]  # one answer, not three
    assert answers[0].ref_to_message_id == s071.message_id


def test_document_of_reads_the_uuid_a_message_id_carries() -> None:
    doc = "6f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a"
    assert document_of(doc) == (doc, 1)
    assert document_of(f"{doc}~3") == (doc, 3)
    assert document_of(f"{doc}@cns.eessi-sim") == (doc, 1)
    # any other ebMS MessageId: one UUID derived from it, the same every time
    other, revision = document_of("m-1@eessi-sim")
    assert revision == 1
    assert other == document_of("m-1@eessi-sim")[0]
    assert other != document_of("m-2@eessi-sim")[0]
    assert len(other) == 36
    assert other.count("-") == 4
    answered = AnsweredMessages()
    answered.received(doc, f"{doc}@cns.eessi-sim")
    answered.received(
        "7f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a", "7f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a"
    )
    assert answered.message_of(doc) == f"{doc}@cns.eessi-sim"
    assert answered.message_of("7f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a") == (
        "7f1c2a4e-0b7d-4c1e-9a51-2f3e4d5c6b7a"
    )
    assert answered.message_of(None) is None


async def test_after_a_restart_a_reply_still_names_the_domibus_message(net: Network) -> None:
    await net[PT].submit(RequestEntitlement(ANA))
    await _settle(net)
    s072 = (await _by_type(net, CNS, Direction.OUT))["S072"]
    document = s072.message_id.partition("@")[0]
    await net[PT].stop()  # writes a checkpoint: the restart replays nothing
    await net[PT].start()
    assert net[PT].answered.message_of(document) == s072.message_id
