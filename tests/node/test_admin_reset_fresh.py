"""A reset is exactly a fresh start (issue 12.6 leftover): after ``POST /api/reset`` the same
seeded flow gives the same case and message IDs, the same bytes on the wire, the same
receipt IDs and the same start notes (what ``eessi trace export`` reads) as the first run did
(before, the receipts' IDs and the retry jitter went on from where the first run left them,
and the journals noted their start at the clock's time before it was put back)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from eessi.node.households import load_households
from eessi.node.inputs import RequestEntitlement
from eessi.scenario.world import LoopbackNetwork
from eessi.transport.http import http_transport
from eessi.transport.seam import Transport, TransportSetup

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
MARIE = "martin-thionville/marie"

pytestmark = pytest.mark.slow


class Receipts:
    """A transport factory (the real HTTP one) that notes the receipts each sender got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, setup: TransportSetup) -> Transport:
        transport = http_transport(setup)
        send = transport.send

        async def noted(message: Any, **kwargs: Any) -> Any:
            result = await send(message, **kwargs)
            if result.receipt is not None:
                receipt = result.receipt
                self.seen.append((setup.entry.id, receipt.message_id, receipt.ref_to_message_id))
            return result

        transport.send = noted  # type: ignore[method-assign]
        return transport


async def _run(net: LoopbackNetwork) -> list[tuple[str, ...]]:
    """Marie's request (S071, S072, S073): every message of both journals, with its bytes,
    and what each journal noted of its start (time, clock, seed, a mock's rules)."""
    await net[FR].submit(RequestEntitlement(MARIE, to=CNS))
    await net.idle()
    out: list[tuple[str, ...]] = []
    for ir_id in (CNS, FR):
        for e in await net[ir_id].journal.case_events("~run"):
            out.append((ir_id, e.kind, e.at.isoformat(), json.dumps(e.data, sort_keys=True)))
    for ir_id in (CNS, FR):
        for m in await net[ir_id].journal.messages():
            where = (ir_id, m.direction.value, m.message_id, m.conversation_id)
            out.append((*where, m.status.value, m.payload.decode(), m.envelope.decode()))
    return out


async def test_after_post_api_reset_a_seeded_run_has_the_first_runs_ids_bytes_and_receipts(
    tmp_path: Path,
) -> None:
    receipts = Receipts()
    net = LoopbackNetwork(
        [CNS, FR], load_households(), workdir=tmp_path, seed=7, transport=receipts
    )
    async with net, aiohttp.ClientSession() as http:
        first = await _run(net)
        first_receipts, receipts.seen = receipts.seen, []
        assert (
            sorted(m[4] for m in first if len(m) == 7) == ["acknowledged"] * 3 + ["processed"] * 3
        )
        net.clock.advance(timedelta(days=3))  # the run went on; a reset takes it back
        assert len(first_receipts) == 3  # S071, S072, S073 each acknowledged

        async with http.post(f"{net[CNS].url}/api/reset", json={}) as resp:
            assert resp.status == 200, await resp.text()

        again = await _run(net)
        assert again == first  # IDs, statuses, payloads, envelopes and start notes
        assert receipts.seen == first_receipts  # the receipts' own IDs too
