"""The plugin facing an external system over eDelivery AS4 (issue 12.1 over issue 11's wire).

The external CNS is ``eessi serve`` in its own process (an AS4 endpoint we did not start in
this process; it speaks AS4 by default). The plugin's mock fund, whose network has that CNS as
an ``external`` entry, sends its S071 there over AS4, secured as ``eessi up`` is by default
(signed, the SED encrypted, with the PKI both sides read beside the directory file), or
without security when the P-Mode file beside the directory says so; a security mismatch is
refused by the external system with the ebMS code, and the fund's journal says so.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_external_system import directory_with_external_cns
from up_process import unsecured_pmodes_beside

from eessi.directory import load_directory
from eessi.journal import Direction
from eessi.node.inputs import RequestEntitlement
from eessi.pytest_plugin import EessiNetwork, NetworkFactory

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
START = "2026-03-02T09:00:00+00:00"

pytestmark = pytest.mark.slow


@asynccontextmanager
async def external_cns(tester_directory: Path, *extra: str) -> AsyncIterator[str]:
    """``eessi serve`` of the CNS in its own process, from the same folder as the tester's
    directory (so the same P-Modes and PKI beside it); yields its admin base URL."""
    where = tester_directory.parent
    own = served_directory(tester_directory)
    log = where / "cns.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "eessi", "serve", "--institution", CNS,
            "--directory", str(own), "--db", str(where / "cns.sqlite"),
            "--virtual-clock", START, "--tick", "0", "--retry-delay", "0.05", *extra,
            stdout=out, stderr=out,
        )  # fmt: skip
    endpoint = load_directory(own).get(CNS).endpoint
    try:
        yield endpoint.rsplit("/", 1)[0]
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(30):
            await proc.wait()


def served_directory(tester_directory: Path) -> Path:
    """The same network with the CNS as the institution ``eessi serve`` runs, beside it."""
    own = tester_directory.parent / "directory.toml"
    text = tester_directory.read_text(encoding="utf-8")
    own.write_text(text.replace('kind = "external"', 'kind = "cns"', 1), encoding="utf-8")
    return own


def fund_network(eessi_network: NetworkFactory, directory: Path, **kw: Any) -> Any:
    return eessi_network(
        cns=False,
        mocks=[FR],
        households=["cross-border-france"],
        directory=directory,
        fixed_ports=True,  # the external CNS sends back to the fund where the directory says
        external_within=60,
        start=datetime.fromisoformat(START),
        **kw,
    )


async def r17_with_the_external_cns(net: EessiNetwork, admin: str) -> bytes:
    """The fund asks the external CNS about Marie; R17 completes; what the fund journaled as
    sent (the S071's wire bytes) comes back."""
    await net.submit(FR, RequestEntitlement("martin-thionville/marie", to=CNS))
    case = net.case_of(FR, "marie")
    await net.wait_case_state(FR, case, "completed", within=60)
    await net.idle()  # the case completes in the desk's step, before the journal marks it
    (s072,) = await net.mocks.received(FR, case=case, sed="S072")
    assert (s072.sender, s072.status.value) == (CNS, "processed")
    async with aiohttp.ClientSession() as http:  # what the external system says it received
        url = f"{admin}/api/messages?case={case}&direction=in"
        async with http.get(url) as resp:
            page = await resp.json()
    assert [(m["sed_type"], m["status"]) for m in page["items"]][:1] == [("S071", "processed")]
    journal = net.world[FR].journal
    (s071,) = [m for m in await journal.messages(direction=Direction.OUT) if m.sed_type == "S071"]
    assert s071.status.value == "acknowledged"  # the external system's receipt was accepted
    envelope: bytes = s071.envelope
    return envelope


async def test_R17_with_an_external_AS4_system_secured_by_default(
    eessi_network: NetworkFactory, tmp_path: Path
) -> None:
    directory = directory_with_external_cns(tmp_path)
    async with (
        external_cns(directory) as admin,
        fund_network(eessi_network, directory) as net,
    ):
        envelope = await r17_with_the_external_cns(net, admin)
        assert net.world.as4.secured
    # the S071 went as a signed eDelivery AS4 message with the SED encrypted, not legacy
    assert b"eb:Messaging" in envelope
    assert b"<ds:Signature" in envelope
    assert b"xenc:EncryptedData" in envelope
    assert b"sed:S071" not in envelope  # the SED is not readable on the wire
    # one PKI for both processes, beside the directory (the external system's key is there)
    assert (tmp_path / "pki" / "LU-CNS00001.key").is_file()
    assert (tmp_path / "pki" / "FR-CPAM5701.crt").is_file()


async def test_R17_with_an_external_AS4_system_whose_P_Mode_is_unsecured(
    eessi_network: NetworkFactory, tmp_path: Path
) -> None:
    directory = directory_with_external_cns(tmp_path)
    unsecured_pmodes_beside(directory)
    async with (
        external_cns(directory) as admin,
        fund_network(eessi_network, directory) as net,
    ):
        envelope = await r17_with_the_external_cns(net, admin)
        assert not net.world.as4.secured
    assert b"eb:Messaging" in envelope
    assert b"<ds:Signature" not in envelope
    assert not (tmp_path / "pki").exists()  # no keys needed


async def test_a_security_mismatch_is_refused_by_the_external_system_with_EBMS_0103(
    eessi_network: NetworkFactory, tmp_path: Path
) -> None:
    directory = directory_with_external_cns(tmp_path)
    async with (
        external_cns(directory, "--no-security"),
        fund_network(eessi_network, directory) as net,
    ):
        await net.submit(FR, RequestEntitlement("martin-thionville/marie", to=CNS))
        (s071,) = [
            m
            for m in await net.world[FR].journal.messages(direction=Direction.OUT)
            if m.sed_type == "S071"
        ]
        assert s071.status.value == "failed"
        assert "EBMS:0103" in (s071.last_error or "")
