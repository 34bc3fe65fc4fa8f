"""``eessi sed example``: deterministic bytes on stdout, exit 2 for what does not exist."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eessi.cli import main
from eessi.sed.documents import S072
from eessi.sed.examples import example_xml


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "eessi", "sed", "example", *args], capture_output=True, check=False
    )


def test_same_seed_prints_identical_bytes_twice() -> None:
    first, second = run("S072", "--seed", "3"), run("S072", "--seed", "3")
    assert first.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout == example_xml("S072", "4.4", 3)
    assert S072.from_xml(first.stdout).version == "4.4"


def test_version_option_selects_the_namespace(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["sed", "example", "x001", "--version", "4.3", "--seed", "1"]) == 0
    out = capsysbinary.readouterr().out
    assert b"http://ec.europa.eu/eessi/ns/4_3/X001" in out
    assert out == example_xml("X001", "4.3", 1)


def test_unknown_code_exits_2_with_a_clear_message() -> None:
    result = run("S999")
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"unknown SED type 'S999'" in result.stderr
    assert b"Traceback" not in result.stderr


def test_unknown_version_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sed", "example", "S071", "--version", "3.9"]) == 2
    assert "no version '3.9'" in capsys.readouterr().err


def test_sed_without_subcommand_shows_help_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sed"]) == 2
    assert "example" in capsys.readouterr().err
