"""A node's AS4 send posts the message it has just built without parsing it back: the sender
reads the journaled bytes (eessi.as4.wire.sent_from_wire) only for a message it did not build
(after a restart), docs/performance.md "re-read"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import eessi.as4.transport as as4_transport_module
from eessi.as4.node_transport import as4_transport_with_test_pki
from eessi.scenario.format import find_scenario, load_scenario
from eessi.scenario.runner import run_scenario


async def test_the_r17_flow_over_as4_sends_every_message_without_reading_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = as4_transport_module.sent_from_wire  # type: ignore[attr-defined]

    def counted(entity: bytes, pmodes: Any) -> Any:
        out = real(entity, pmodes)
        reads.append(out.message.message_id)
        return out

    monkeypatch.setattr(as4_transport_module, "sent_from_wire", counted)
    transport = as4_transport_with_test_pki(tmp_path / "pki")
    report = await run_scenario(
        load_scenario(find_scenario("r17-family-abroad")), transport=transport
    )
    assert report.passed
    assert len(report.exchanges) == 6
    assert reads == []
