"""``eessi serve`` and ``eessi up`` as real processes: a refused start-up exits (code 2, the
refusal on stderr) instead of hanging on what it had opened, and SIGINT or SIGTERM during
normal running ends the process cleanly (code 0, "stopping").

Every wait is bounded generously (the machine may be loaded): a process that hangs fails the
test at the bound; none of these tests times anything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from test_up_serve_cmd import CNS, FR, eessi, serve_args, up_args, write_directory

from eessi.directory import load_directory

pytestmark = pytest.mark.slow

#: Bound on every wait for a process (a hang fails here, a loaded machine still passes).
BOUND = 60.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("EESSI_ADMIN_TOKEN", None)
    env.pop("EESSI_CRASH_AT", None)
    return env


async def _spawn(args: Sequence[str]) -> asyncio.subprocess.Process:
    return await eessi(*args, stdin=asyncio.subprocess.DEVNULL, env=_env())


async def _exit(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    """The process's exit code and stderr; kills it (and fails) if it outlives :data:`BOUND`."""
    try:
        async with asyncio.timeout(BOUND):
            _out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the process did not exit within {BOUND:.0f} s (it hangs)")
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def _until_line(proc: asyncio.subprocess.Process, prefix: str) -> None:
    assert proc.stdout is not None
    async with asyncio.timeout(BOUND):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "the process ended before it was ready"
            if line.startswith(prefix) or prefix in line:
                return


@pytest.fixture
def directory_file(tmp_path: Path) -> Path:
    return write_directory(tmp_path)


@pytest.fixture
def taken_cns_port(directory_file: Path) -> Iterator[int]:
    """The CNS's directory port, held by another socket for the test."""
    port = load_directory(directory_file).get(CNS).endpoint.split(":")[2].split("/")[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(port)))
        s.listen()
        yield int(port)


@pytest.mark.parametrize(
    ("institution", "host", "refusal"),
    [
        (FR, "0.0.0.0", "without a token"),  # a mock fund's admin API, all interfaces
        (CNS, "0.0.0.0", "without a token"),  # the CNS's admin API
    ],
)
async def test_serve_refused_at_start_up_exits_2_instead_of_hanging(
    directory_file: Path, tmp_path: Path, institution: str, host: str, refusal: str
) -> None:
    proc = await _spawn(
        serve_args(directory_file, institution, tmp_path / "node.sqlite", "--host", host)
    )
    code, err = await _exit(proc)
    assert code == 2, err
    assert refusal in err
    assert "EESSI_ADMIN_TOKEN" in err  # what to do
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["serve", "up"])
async def test_serve_or_up_on_a_port_in_use_exits_2_naming_the_port(
    directory_file: Path, tmp_path: Path, taken_cns_port: int, command: str
) -> None:
    if command == "serve":
        args = serve_args(directory_file, CNS, tmp_path / "cns.sqlite")
    else:
        args = up_args(directory_file, tmp_path / "dbs")
    code, err = await _exit(await _spawn(args))
    assert code == 2, err
    assert f"cannot listen on 127.0.0.1:{taken_cns_port}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["serve", "up"])
async def test_serve_or_up_stops_cleanly_on_a_signal(
    directory_file: Path, tmp_path: Path, sig: signal.Signals, command: str
) -> None:
    if command == "serve":
        args = serve_args(directory_file, FR, tmp_path / "fr.sqlite")
        ready, stopping = "listening on", f"{FR}: stopping"
    else:
        args = up_args(directory_file, tmp_path / "dbs", "--institution", CNS, "--institution", FR)
        ready, stopping = "Ctrl-C", "eessi up: stopping"
    proc = await _spawn(args)
    await _until_line(proc, ready)
    proc.send_signal(sig)
    code, err = await _exit(proc)
    assert code == 0, err
    assert stopping in err
