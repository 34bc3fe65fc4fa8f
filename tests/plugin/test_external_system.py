"""The plugin facing a tester's own system (issue 12.1): a CNS in its own process that does not
import ``eessi`` (``tests/sut/cns.py``) receives the mock fund's S071 and answers with an S072
per member; the fund registers each member and confirms with an S073."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from up_process import signing_pmodes_beside, unsecured_pmodes_beside

from eessi.directory import default_directory_path
from eessi.errors import ConfigError
from eessi.journal import Direction
from eessi.node.inputs import RequestEntitlement
from eessi.node.network import free_ports
from eessi.pytest_plugin import NetworkFactory

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
SUT = Path(__file__).resolve().parents[1] / "sut"

pytestmark = pytest.mark.slow


def directory_with_external_cns(where: Path) -> Path:
    """The shipped directory as a tester edits it: the CNS is their own system
    (``kind = "external"``), every institution on a port free now, no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    text = text.replace('kind = "cns"', 'kind = "external"', 1)
    path = where / "tester-directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(params=["unsecured", "signed"])
async def system_under_test(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Path, Path]]:
    """The tester's CNS running in its own process; yields the directory and its output file.
    ``unsecured``: its network's P-Modes have no security; ``signed``: they sign (messages and
    receipts) without encrypting, with the network's PKI made first as a tester would
    (``eessi pki init``), from which the system takes its key and the CA."""
    directory = directory_with_external_cns(tmp_path)
    if request.param == "signed":
        signing_pmodes_beside(directory)
        pki = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "eessi", "pki", "init", str(tmp_path / "pki"),
            "--directory", str(directory),
        )  # fmt: skip
        assert await pki.wait() == 0
    else:
        unsecured_pmodes_beside(directory)
    log = tmp_path / "sut.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SUT / "cns.py"), "--directory", str(directory),
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        yield directory, log
    finally:
        proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()


async def test_a_mock_funds_S071_reaches_the_external_system_and_its_S072_comes_back(
    eessi_network: NetworkFactory, system_under_test: tuple[Path, Path]
) -> None:
    directory, log = system_under_test
    network = eessi_network(
        cns=False,
        mocks=[FR],
        households=["cross-border-france"],
        directory=directory,
        fixed_ports=True,  # the system sends to the fund where the shared directory says
        external_within=30,  # the fixture waits until the system answers
    )
    async with network as net:
        assert net.url(CNS) == net.world.directory.get(CNS).endpoint  # kept, not moved
        for member in ("marie", "noah"):
            await net.submit(FR, RequestEntitlement(f"martin-thionville/{member}", to=CNS))
        cases = [net.case_of(FR, member) for member in ("marie", "noah")]
        for case in cases:
            await net.wait_case_state(FR, case, "completed", within=30)
            await net.idle()  # the case completes in the step that processes the S072; its
            # message row is marked processed when that step's block commits, just after
            (s072,) = await net.mocks.received(FR, case=case, sed="S072")  # what came back
            assert s072.sender == CNS
            assert s072.status.value == "processed"
            assert net.mocks.node(FR).desk.snapshot().cases[case].state.value == "completed"
            await net.assert_exchanged([f"{FR} -> {CNS} S071", f"{FR} -> {CNS} S073"], case=case)
            await net.idle()  # the case completes when the S073 is sent, before its receipt
            (sent,) = await net.messages(sed="S073", case=case)
            assert sent.sent_status == "acknowledged"  # the system's receipt came back
        signed = net.world.as4 is not None and net.world.as4.secured
        for record in await net.world[FR].journal.messages(direction=Direction.IN):
            # what the system sent is signed exactly when its P-Modes sign (and it verified)
            assert (b"<ds:Signature" in record.envelope) is signed, record.sed_type
    for case in cases:  # what the system itself says it received and sent
        await logged(log, f"received S071 {case} from {FR}")
        await logged(log, f"sent S072 {case} to {FR}")


async def logged(log: Path, line: str, within: float = 20.0) -> None:
    """Wait until the system under test has printed ``line``."""
    async with asyncio.timeout(within):
        # another process writes the file: nothing to wait on but the file itself
        while line not in await asyncio.to_thread(log.read_text, encoding="utf-8"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_an_external_system_that_does_not_answer_is_named_with_its_url(
    eessi_network: NetworkFactory, tmp_path: Path
) -> None:
    directory = directory_with_external_cns(tmp_path)  # nobody listens on the CNS's port
    url = re.search(r'endpoint = "([^"]+)"', directory.read_text(encoding="utf-8"))
    assert url is not None
    with pytest.raises(ConfigError, match=f"{CNS} does not answer at {re.escape(url[1])}"):
        async with eessi_network(cns=False, directory=directory, external_within=0.5):
            pass


def test_the_system_under_test_imports_nothing_of_eessi() -> None:
    for source in SUT.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if n.split(".")[0] == "eessi"], source
