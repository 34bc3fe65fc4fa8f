"""``eessi ... | head`` (the reader of the output goes away): the command stops quietly, with
the shell's code for a process ended by SIGPIPE, as other Unix tools do; no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eessi.cli import BROKEN_PIPE


@pytest.mark.parametrize("argv", [["institutions"], ["sed", "example", "S072"]])
def test_a_closed_output_pipe_ends_the_command_quietly(argv: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as `| head -0` would be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "eessi", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == BROKEN_PIPE == 141


def test_eessi_piped_into_head_prints_its_first_line_and_nothing_on_stderr() -> None:
    done = subprocess.run(
        f"{sys.executable} -m eessi sed example S072 | head -n 1",
        shell=True,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.decode().startswith("<?xml")
    assert done.stderr.decode() == ""
