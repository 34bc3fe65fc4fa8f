from __future__ import annotations

import subprocess
import sys

import pytest

from eessi.cli import main


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: eessi" in capsys.readouterr().err


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "eessi", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("eessi-sim ")
