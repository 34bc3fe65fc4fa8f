"""Every shipped scenario passes with the nodes speaking secured eDelivery AS4 on loopback.

The same scenarios as ``tests/scenario/test_runner.py``, the same expectations; only what
carries the SEDs differs: signed and encrypted AS4 messages, signed receipts, one test PKI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eessi.as4.node_transport import as4_transport
from eessi.as4.startup import As4Network, load_as4
from eessi.directory import load_default_directory
from eessi.journal.base import Direction
from eessi.scenario.format import load_scenario, shipped_scenarios
from eessi.scenario.runner import run_scenario
from eessi.transport.seam import TransportFactory

SHIPPED = shipped_scenarios()
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> As4Network:
    pki = tmp_path_factory.mktemp("as4") / "pki"
    return load_as4(load_default_directory(), pki_dir=None, default_pki_dir=pki)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
async def test_every_shipped_scenario_passes_over_secured_as4(
    path: Path, network: As4Network
) -> None:
    assert network.secured
    report = await run_scenario(load_scenario(path), transport=as4_transport(network))
    assert report.passed, report.render()
    assert report.checks


async def test_what_travelled_in_a_scenario_was_as4(network: As4Network, tmp_path: Path) -> None:
    """The journals of a scenario run over AS4 hold MIME packages, not legacy envelopes."""
    from eessi.as4.wire import is_entity
    from eessi.journal import open_journal

    factory: TransportFactory = as4_transport(network)
    path = next(p for p in SHIPPED if p.stem == "r17-family-abroad")
    report = await run_scenario(load_scenario(path), workdir=tmp_path, transport=factory)
    assert report.passed, report.render()
    journal = await open_journal(tmp_path / "LU-CNS00001.sqlite")
    try:
        inbound = await journal.messages(direction=Direction.IN)
    finally:
        await journal.close()
    assert inbound
    assert all(is_entity(m.envelope) for m in inbound)
    assert all(b"EncryptedKey" in m.envelope for m in inbound)


def test_eessi_scenario_run_over_as4_keeps_its_pki_with_the_journals(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "eessi", "scenario", "run", "r17-family-abroad", "--transport",
         "as4", "--keep", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 of 1 scenario(s) passed" in proc.stdout
    assert (tmp_path / "pki" / "pki.toml").is_file()
    assert (tmp_path / "r17-family-abroad" / "LU-CNS00001.sqlite").is_file()
