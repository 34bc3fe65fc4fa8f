"""Helpers for node tests: a directory on free loopback ports, journals in a temporary dir."""

from __future__ import annotations

import re
from pathlib import Path

from eessi.directory import default_directory_path
from eessi.node.network import free_ports

CNS = "LU:CNS00001"
PT = "PT:ISS00001"
FR = "FR:CPAM5701"
BE = "BE:MC000200"
DE = "DE:TKK00001"
RS = "RS:RFZO0001"
#: A household of the shipped examples: the CNS insures João, his wife Ana lives in Portugal.
ANA = "silva-luxembourg/ana"


def free_port() -> int:
    return free_ports(1)[0]


def write_directory(where: Path) -> Path:
    """The shipped directory with every endpoint on its own free port and no admin URLs."""
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path
