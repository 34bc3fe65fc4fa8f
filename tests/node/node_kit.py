"""Helpers for node tests: a directory on free loopback ports, journals in a temporary dir."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from eessi.directory import default_directory_path

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
FR = "FR:CPAM5701"
BE = "BE:MC000200"
DE = "DE:TKK00001"
RS = "RS:RFZO0001"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on a free port and no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    text = re.sub(r"127\.0\.0\.1:87\d\d", lambda _m: f"127.0.0.1:{free_port()}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path
