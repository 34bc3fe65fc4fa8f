"""The event loop of the long-running commands: uvloop where installed, asyncio on request."""

from __future__ import annotations

import asyncio

import pytest

from eessi import event_loop
from eessi.errors import ConfigError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def test_serve_and_up_run_on_uvloop_where_it_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(event_loop.ENV, raising=False)
    assert event_loop.loop_name() == "uvloop"
    assert event_loop.run(_loop_module()) == "uvloop"


def test_the_standard_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "asyncio")
    assert event_loop.run(_loop_module()) == "asyncio"


def test_an_unknown_loop_name_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(event_loop.ENV, "tokio")
    coro = _loop_module()
    with pytest.raises(ConfigError) as info:
        event_loop.run(coro)
    assert info.value.where == event_loop.ENV
    assert "uvloop or asyncio" in str(info.value)
    assert coro.cr_frame is None  # closed, never left dangling
