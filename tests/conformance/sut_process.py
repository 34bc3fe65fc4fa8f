"""A system under test in its own process, for the conformance tests.

:func:`directories` writes the shipped directory moved onto free loopback ports (no admin URLs):
the one the SUT is given. :func:`start_sut` runs ``eessi serve`` for the SUT's institution with
that directory, on a virtual clock, knowing the suite's households, speaking eDelivery AS4 as
``eessi serve`` does by default (secured, with the PKI it makes beside the directory file, which
the harness reads too); ``mutant=NAME`` runs it
through ``tests/conformance/mutants.py`` instead (the same server with one deliberate bug).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from up_process import unsecured_pmodes_beside

from eessi.conformance.suite import suites_dir
from eessi.directory import default_directory_path
from eessi.node.network import free_ports

HERE = Path(__file__).resolve().parent
HOUSEHOLDS = suites_dir() / "households"
CHROMIUM = "/usr/bin/chromium"


def directory_on_free_ports(where: Path) -> Path:
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


#: Mutants that are the tester's CNS of ``tests/sut`` (AS4 without WS-Security): the network
#: they are tested in has an unsecured P-Mode file beside its directory.
UNSECURED = frozenset({"answers-duplicates"})


@contextlib.asynccontextmanager
async def start_sut(
    where: Path, institution: str, *, mutant: str | None = None, clock: bool = True
) -> AsyncIterator[Path]:
    """Run the SUT; yields the directory it was given. Its output goes to ``where/sut.log``."""
    directory = directory_on_free_ports(where)
    if mutant in UNSECURED:
        unsecured_pmodes_beside(directory)
    serve = [
        "serve",
        "--institution", institution,
        "--directory", str(directory),
        "--db", str(where / "sut.sqlite"),
        "--households", str(HOUSEHOLDS),
        "--tick", "0",
        "--retry-delay", "0.05",
    ]  # fmt: skip
    if clock:
        serve += ["--virtual-clock", "2026-04-15T09:00:00Z"]
    command = (
        [sys.executable, str(HERE / "mutants.py"), mutant, *serve]
        if mutant
        else [sys.executable, "-m", "eessi", *serve]
    )
    with (where / "sut.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log)
    try:
        yield directory
    finally:
        if proc.returncode is None:
            proc.terminate()
        async with asyncio.timeout(20):
            await proc.wait()


async def eessi(*args: str, cwd: Path | None = None, within: float = 120) -> tuple[int, str, str]:
    """Run ``python -m eessi ARGS`` and give its exit code, output and error output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eessi", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd,
    )  # fmt: skip
    async with asyncio.timeout(within):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def chromium(where: Path) -> AsyncIterator[Any]:
    """Debian's Chromium, headless, on a fresh profile (playwright drives it; it downloads
    nothing: no ``playwright install``)."""
    import pytest

    playwright = pytest.importorskip("playwright.async_api")
    if not await asyncio.to_thread(Path(CHROMIUM).is_file):
        pytest.skip(f"{CHROMIUM} is not installed (Debian's chromium package)")
    async with playwright.async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(where / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        try:
            yield context
        finally:
            await context.close()
