"""``eessi up`` as a real process for the tests that face it over HTTP (the tester's journey, the
export of a live run): started with the given arguments, ready once it prints its Ctrl-C line,
stopped with SIGINT and required to exit 0. :func:`unsecured_pmodes_beside` writes the P-Mode
file a tester whose system speaks AS4 without WS-Security puts beside the directory."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from eessi.as4.pmode import default_pmodes_path


@asynccontextmanager
async def eessi_up_process(*args: str) -> AsyncIterator[list[str]]:
    """``eessi up`` with ``args``: the lines it printed up to its Ctrl-C line (its URLs)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", "up", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not lines or not lines[-1].startswith("Ctrl-C"):
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError("eessi up ended: " + "".join(lines))
                lines.append(line.decode())
        yield lines
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()


def unsecured_pmodes_beside(directory: Path) -> Path:
    """The shipped P-Modes with ``[defaults.security] enabled = false``, as ``pmodes.toml``
    beside the directory file (docs/pytest-plugin.md, "Security"): every process of the
    network reading that directory (``eessi up``/``serve``, the plugin, the conformance
    harness, the tester's system) then speaks AS4 without signing or encryption."""
    text = default_pmodes_path().read_text(encoding="utf-8")
    head, sep, tail = text.partition("[defaults.security]\nenabled = true")
    assert sep, "the shipped P-Modes changed: [defaults.security] enabled"
    path = directory.parent / "pmodes.toml"
    path.write_text(head + "[defaults.security]\nenabled = false" + tail, encoding="utf-8")
    return path


def signing_pmodes_beside(directory: Path) -> Path:
    """The shipped P-Modes with ``[defaults.security] encrypt = false`` beside the directory
    file: signed messages and receipts, the SED not encrypted (what ``tests/sut`` implements
    of WS-Security, from docs/protocol.md)."""
    text = default_pmodes_path().read_text(encoding="utf-8")
    head, sep, tail = text.partition("[defaults.security]\n")
    assert sep, "the shipped P-Modes changed: [defaults.security]"
    assert "\nencrypt = true\n" in tail, "the shipped P-Modes changed: encrypt"
    tail = tail.replace("\nencrypt = true\n", "\nencrypt = false\n", 1)
    path = directory.parent / "pmodes.toml"
    path.write_text(head + sep + tail, encoding="utf-8")
    return path
