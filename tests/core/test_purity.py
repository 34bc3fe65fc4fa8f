"""The domain core is pure: importing it pulls in no I/O, XML or clock-reading machinery."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import eessi.core

FORBIDDEN = ("asyncio", "aiohttp", "aiosqlite", "sqlite3", "lxml", "xmlschema", "socket")


def test_importing_every_core_module_pulls_in_no_io_or_xml_library() -> None:
    modules = [m.name for m in pkgutil.walk_packages(eessi.core.__path__, "eessi.core.")]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in ["eessi.core", *modules])
        + f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imports forbidden modules: {out.stdout.strip()}"
