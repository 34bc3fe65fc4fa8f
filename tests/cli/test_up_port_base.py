"""``eessi up --port-base N``: two networks side by side, each on its own run of ports (issue
12.10); a port clash names the flag that avoids it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from eessi.directory import load_default_directory
from eessi.node.network import directory_on_ports, free_port_run

CNS, FR = "LU:CNS00001", "FR:CPAM5701"

pytestmark = pytest.mark.slow


async def up(base: int, where: Path) -> tuple[asyncio.subprocess.Process, str]:
    """``eessi up --port-base base`` with the CNS and the CPAM; its output until ready."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "up", "--port-base", str(base),
        "--institution", CNS, "--institution", FR, "--db-dir", str(where), "--tick", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(60):
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await proc.stdout.readline()
            if not line:
                break
            lines.append(line.decode())
    return proc, "".join(lines)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int | None, str]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _out, err = await proc.communicate()
    return proc.returncode, err.decode()


def test_port_base_puts_cns_and_mock_entries_on_consecutive_ports_in_directory_order() -> None:
    base = load_default_directory()
    moved = directory_on_ports(base, 20000)
    ours = [e for e in base if e.kind != "external"]
    assert [moved.get(e.id).endpoint for e in ours] == [
        f"http://127.0.0.1:{20000 + i}/as4" for i in range(len(ours))
    ]
    assert all(e.admin is None for e in moved)


async def test_two_networks_run_side_by_side_with_port_base_and_a_clash_names_the_flag(
    tmp_path: Path,
) -> None:
    size = len(load_default_directory())
    a = free_port_run(size)
    b = free_port_run(size, avoid=range(a, a + size))
    first, first_out = await up(a, tmp_path / "a")
    second, second_out = await up(b, tmp_path / "b")
    try:
        assert f"http://127.0.0.1:{a}/as4" in first_out, first_out  # the CNS: first entry
        assert f"http://127.0.0.1:{b}/as4" in second_out, second_out
        async with aiohttp.ClientSession() as session:
            for port in (a, a + 1, b, b + 1):  # the CNS and the CPAM of each network
                async with session.get(f"http://127.0.0.1:{port}/api/health") as resp:
                    assert resp.status == 200
            async with session.get(f"http://127.0.0.1:{b + 1}/api/mock/rules") as resp:
                assert resp.status == 200  # the second network's CPAM is a mock
        clash, clash_out = await up(a, tmp_path / "c")
        async with asyncio.timeout(30):  # it exits on its own: no signal to race its exit
            _out, raw = await clash.communicate()
        code, err = clash.returncode, raw.decode()
        assert code == 2, clash_out + err
        assert "--port-base" in err
        assert f"127.0.0.1:{a}" in err
    finally:
        assert (await stop(first))[0] == 0
        assert (await stop(second))[0] == 0
