"""Nodes speaking eDelivery AS4 through the transport seam: real institutions on loopback.

The Portuguese fund asks the CNS for an entitlement (R17): the S071 and the CNS's answer travel
as signed and encrypted AS4 messages; each journal keeps the MIME package as it was on the wire
(D90), the same bytes on both sides; a receiver that was down gets the same bytes after it
restarts; a duplicate is acknowledged and processed once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from as4_support import as4_network, loopback_as4
from lxml import etree

from eessi.as4.mime import unpackage
from eessi.as4.node_transport import As4Transport, as4_transport
from eessi.as4.startup import As4Network, load_as4
from eessi.as4.wire import from_entity
from eessi.directory import Directory, load_default_directory
from eessi.journal.base import Direction, MessageStatus
from eessi.node.inputs import RequestEntitlement
from eessi.node.institution import NodeOptions
from eessi.node.network import Network, loopback_directory
from eessi.transport.client import RetryPolicy

CNS, PT = "LU:CNS00001", "PT:ISS00001"
ANA = "silva-luxembourg/ana"
Schema = Callable[[bytes | etree._Element], None]


@pytest.fixture
def as4(tmp_path: Path) -> tuple[Directory, As4Network]:
    return loopback_as4(tmp_path)


@pytest.fixture
async def net(tmp_path: Path, as4: tuple[Directory, As4Network]) -> AsyncIterator[Network]:
    async with as4_network(tmp_path, as4, seed=5) as n:
        yield n


async def _settle(net: Network) -> None:
    async with asyncio.timeout(30):
        await net.idle()


async def test_R17_over_secured_as4_journals_the_same_wire_bytes_on_both_sides(
    net: Network, as4_schema: Schema
) -> None:
    assert isinstance(net[PT].transport, As4Transport)
    await net[PT].submit(RequestEntitlement(ANA))
    await _settle(net)
    sent = {m.message_id: m for m in await net[PT].journal.messages(direction=Direction.OUT)}
    got = {m.message_id: m for m in await net[CNS].journal.messages(direction=Direction.IN)}
    s071 = next(m for m in sent.values() if m.sed_type == "S071")
    assert s071.status is MessageStatus.ACKNOWLEDGED
    received = got[s071.message_id]
    assert received.envelope == s071.envelope  # the package as on the wire, byte for byte
    assert received.payload == s071.payload  # the SED in clear
    packaged = from_entity(received.envelope)
    envelope = unpackage(packaged.content_type, packaged.body).envelope
    as4_schema(envelope)
    assert b"xenc:EncryptedKey" in envelope
    # the CNS answered (R17): its answer travelled back over AS4 and was acknowledged
    answers = [m for m in await net[CNS].journal.messages(direction=Direction.OUT)]
    assert answers
    assert all(m.status is MessageStatus.ACKNOWLEDGED for m in answers)
    assert {m.message_id for m in answers} <= {
        m.message_id for m in await net[PT].journal.messages(direction=Direction.IN)
    }


async def test_acknowledged_messages_leave_no_built_envelope_in_either_nodes_memory(
    net: Network,
) -> None:
    """D495: what a node built for a send is dropped once the receipt came (before: the last
    4,096 sent messages stayed, about 11.5 KB each)."""
    await net[PT].submit(RequestEntitlement(ANA))
    await _settle(net)
    for node_id in (PT, CNS):
        out = await net[node_id].journal.messages(direction=Direction.OUT)
        assert out
        assert all(m.status is MessageStatus.ACKNOWLEDGED for m in out)
        transport = net[node_id].transport
        assert isinstance(transport, As4Transport)
        assert transport.kept_messages == 0


async def test_an_outbound_message_waits_for_a_receiver_that_is_down_and_goes_unchanged(
    tmp_path: Path, as4: tuple[Directory, As4Network]
) -> None:
    directory, network = as4
    options = NodeOptions(
        tick_interval=None, retry=RetryPolicy(max_attempts=30, base_delay=0.05, max_delay=0.2)
    )
    fund = Network(
        directory,
        tmp_path / "pt",
        ids=[PT],
        seed=5,
        options=options,
        transport=as4_transport(network),
    )
    cns = Network(
        directory,
        tmp_path / "cns",
        ids=[CNS],
        seed=5,
        options=options,
        transport=as4_transport(network),
    )
    await fund.start()
    try:
        await fund[PT].submit(RequestEntitlement(ANA))
        queued = (await fund[PT].journal.messages(direction=Direction.OUT))[0]
        await cns.start()
        try:
            async with asyncio.timeout(30):
                while True:
                    inbound = await cns[CNS].journal.messages(direction=Direction.IN)
                    if inbound:
                        break
                    await asyncio.sleep(0.05)
            assert inbound[0].envelope == queued.envelope
        finally:
            await cns.stop()
    finally:
        await fund.stop()


def test_without_security_no_pki_is_made(tmp_path: Path) -> None:
    directory = loopback_directory(load_default_directory(), [CNS, PT])
    network = load_as4(directory, pki_dir=None, default_pki_dir=tmp_path / "pki", security=False)
    assert network.pki is None
    assert not (tmp_path / "pki").exists()
    assert all(not pm.security.enabled for pm in network.pmodes)


def test_one_pki_for_processes_started_together(tmp_path: Path) -> None:
    """Two nodes of one network loading at once share the PKI the first one made."""
    directory = loopback_directory(load_default_directory(), [CNS, PT])
    first = load_as4(directory, pki_dir=None, default_pki_dir=tmp_path / "pki")
    second = load_as4(directory, pki_dir=None, default_pki_dir=tmp_path / "pki")
    assert first.pki is not None
    assert second.pki is not None
    assert first.pki.trust.ca == second.pki.trust.ca
