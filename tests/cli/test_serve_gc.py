"""The garbage collector's setting in a real ``eessi serve`` process (D290): once started, the
node has frozen its start-up heap and raised the young generation's threshold, and says so on
its ``gc`` line (read from its JSON log); ``EESSI_GC=python`` keeps Python's own setting; a bad
value refuses the start with a structured error."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from serve_process import BOUND, serve_command, serve_env
from test_up_serve_cmd import CNS, write_directory

from eessi.errors import ConfigError
from eessi.gc_tuning import DEFAULT_THRESHOLD, ENV, THRESHOLD_ENV, plan_from_env

pytestmark = pytest.mark.slow


async def _gc_line(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start ``eessi serve`` (JSON logs), return its ``gc`` event, stop it (it must exit 0)."""
    command = serve_command(
        write_directory(tmp_path), CNS, tmp_path / "cns.sqlite", "--no-security",
        "--log-format", "json",
    )  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=serve_env(env),
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(BOUND):
            while line := await proc.stdout.readline():
                event = json.loads(line)
                if event.get("event") == "gc":
                    break
            else:
                pytest.fail(f"serve exited (code {await proc.wait()}) without its gc line")
            proc.send_signal(signal.SIGTERM)
            await proc.stdout.read()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return event


async def test_serve_freezes_its_start_up_heap_and_raises_the_young_threshold(
    tmp_path: Path,
) -> None:
    event = await _gc_line(tmp_path, {ENV: "", THRESHOLD_ENV: "5000"})
    assert event["tuned"] is True
    assert event["thresholds"] == [5000, 10, 10]  # the older generations stay Python's
    assert event["frozen"] > 10_000  # modules, directory, registry, desk: out of the scans
    assert "start-up heap frozen" in event["message"]


async def test_serve_with_eessi_gc_python_keeps_pythons_setting(tmp_path: Path) -> None:
    event = await _gc_line(tmp_path, {ENV: "python"})
    assert event["tuned"] is False
    assert event["thresholds"] == [700, 10, 10]
    assert event["frozen"] == 0


async def test_serve_refuses_a_bad_gc_setting_before_it_listens(tmp_path: Path) -> None:
    command = serve_command(
        write_directory(tmp_path), CNS, tmp_path / "cns.sqlite", "--no-security"
    )
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=serve_env({THRESHOLD_ENV: "lots"}),
    )
    async with asyncio.timeout(BOUND):
        out, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"listening" not in out
    assert b"EESSI_GC_THRESHOLD='lots' is not a positive number" in err
    assert not (tmp_path / "cns.sqlite").exists()  # refused before the journal was opened


def test_the_default_plan_is_tuned_with_the_documented_threshold() -> None:
    assert plan_from_env({}) == plan_from_env({ENV: "tuned"})
    plan = plan_from_env({})
    assert plan.tuned
    assert plan.threshold == DEFAULT_THRESHOLD == 20_000
    assert plan_from_env({ENV: " Python "}).tuned is False


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({ENV: "off"}, ENV),
        ({THRESHOLD_ENV: "0"}, THRESHOLD_ENV),
        ({THRESHOLD_ENV: "1e4"}, THRESHOLD_ENV),
    ],
)
def test_a_bad_gc_setting_is_a_config_error_naming_the_variable(
    env: dict[str, str], where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_from_env(env)
    assert caught.value.code == "config.gc"
    assert caught.value.where == where
    assert caught.value.hint
