"""A genuine message posted again to the AS4 endpoint over loopback (D450): its sender gets the
answer it got before this change, byte for byte, and the receiver pays no RSA unwrap for it.

"Before" is the same endpoint keeping no transported key (``KnownKeys(limit=0)``: every copy
unwrapped again, D390's behaviour); "now" is the default. Receipt IDs and clocks are seeded, and
RSA PKCS#1 v1.5 signatures are deterministic, so the two endpoints' answers can be compared
as bytes. The receiver's key is the real key behind a counter of its private-key operations.
"""

from __future__ import annotations

import aiohttp
from as4_support import CNS, CPAM
from loopback import Serve, serve, session
from test_transport import NOW, OPEN, Node, addressing, pki, secured

from eessi.as4.exchange import Outgoing, read_signal
from eessi.as4.mime import Packaged
from eessi.as4.model import Receipt
from eessi.as4.pki import Pki
from eessi.as4.security import Credentials
from eessi.as4.security.decrypt import KnownKeys
from eessi.as4.security.keys import CountingKey
from eessi.as4.transport import As4Endpoint, As4Keys, build_outgoing
from eessi.clock import VirtualClock
from eessi.ids import SeededIds
from eessi.sed.examples import example_xml
from eessi.transport import codes
from eessi.transport.server import Outcome

__all__ = [
    "pki",
    "serve",
    "session",
]  # fixtures: test_transport's PKI (valid around NOW), loopback's
Answer = tuple[int, str, bytes]


async def _post(session: aiohttp.ClientSession, url: str, packaged: Packaged) -> Answer:
    headers = {"Content-Type": packaged.content_type}
    async with session.post(url, data=packaged.body, headers=headers) as resp:
        return resp.status, resp.headers["Content-Type"], await resp.read()


async def _three_posts(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession, known: KnownKeys
) -> tuple[list[Answer], CountingKey, Node]:
    """The same S072 posted three times to a CPAM endpoint keeping ``known``."""
    own = pki.credentials(CPAM)
    key = CountingKey(own.key)
    keys = As4Keys(Credentials(key, own.certificate), pki.trust, dict(pki.certificates))
    node = Node()
    endpoint = As4Endpoint(
        node.on_message,
        CPAM,
        pmodes=secured(),
        keys=keys,
        limits=OPEN,
        clock=VirtualClock(NOW),
        wall_clock=VirtualClock(NOW),
        ids=SeededIds(7),
        known_keys=known,
    )
    url = await serve(endpoint.app()) + "/as4"
    sent = _sent(pki)
    return [await _post(session, url, sent.packaged) for _ in range(3)], key, node


def _sent(pki: Pki) -> Outgoing:
    return build_outgoing(
        secured(),
        As4Keys.from_pki(pki, CNS),
        addressing(),
        example_xml("S072", seed=4),
        message_id="m-replayed@eessi-sim",
        timestamp=NOW,
    )


async def test_a_copy_is_answered_as_before_and_costs_no_unwrap(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    before, key_before, node_before = await _three_posts(pki, serve, session, KnownKeys(limit=0))
    now, key_now, node_now = await _three_posts(pki, serve, session, KnownKeys())
    assert now == before  # status, Content-Type and the signed receipt, byte for byte
    assert [status for status, _, _ in now] == [200, 200, 200]
    assert node_now.answers == node_before.answers == ["accepted", "duplicate", "duplicate"]
    assert (key_before.decrypts, key_now.decrypts) == (3, 1)  # the copies: no unwrap
    assert (key_before.signs, key_now.signs) == (3, 3)  # each answer a signed receipt
    # The node got the same message (header, SED in clear, envelope) every time.
    (inbound,) = node_now.journal.values()
    assert inbound.payload == example_xml("S072", seed=4)


async def test_each_answer_to_a_copy_is_a_receipt_the_sender_accepts(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    answers, _, _ = await _three_posts(pki, serve, session, KnownKeys())
    sent = _sent(pki)
    for _, content_type, body in answers:
        signal = read_signal(content_type, body, sent=sent, trust=pki.trust, receiver=CPAM, now=NOW)
        assert isinstance(signal, Receipt)
        assert signal.ref_to_message_id == "m-replayed@eessi-sim"
        assert signal.references == sent.references  # non-repudiation of what was sent


async def test_a_message_the_node_refused_is_not_remembered(
    pki: Pki, serve: Serve, session: aiohttp.ClientSession
) -> None:
    # Only a receipt keeps the key: a resend of a message refused (here: the node said
    # "not now") is unwrapped again, as every message the node has not journaled.
    own = pki.credentials(CPAM)
    key = CountingKey(own.key)
    keys = As4Keys(Credentials(key, own.certificate), pki.trust, dict(pki.certificates))
    node = Node()
    node.refuse_with = Outcome.refused("not now", code=codes.UNAVAILABLE)
    endpoint = As4Endpoint(node.on_message, CPAM, pmodes=secured(), keys=keys, limits=OPEN)
    url = await serve(endpoint.app()) + "/as4"
    sent = _sent(pki)
    statuses = [(await _post(session, url, sent.packaged))[0] for _ in range(2)]
    assert statuses == [503, 503]
    assert key.decrypts == 2
    assert len(endpoint.known_keys) == 0
    node.refuse_with = None
    assert [(await _post(session, url, sent.packaged))[0] for _ in range(2)] == [200, 200]
    assert key.decrypts == 3  # the third post unwrapped and receipted; the fourth did not
