"""The event loop the long-running commands use: uvloop where it is installed, else asyncio's.

``eessi serve`` and ``eessi up`` (and the benchmarks' node processes) run through :func:`run`.
uvloop (a regular dependency on Linux) runs the same asyncio code on libuv; it costs a node
less CPU per message (docs/performance.md, D96). ``EESSI_EVENT_LOOP=asyncio`` chooses the
standard loop anyway (to compare, or to rule the loop out when chasing a problem); an unknown
value is an error, not a silent fallback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from eessi.errors import ConfigError

__all__ = ["ENV", "loop_factory", "loop_name", "run"]

#: The environment variable that chooses the loop: ``uvloop`` (the default where installed)
#: or ``asyncio``.
ENV = "EESSI_EVENT_LOOP"

T = TypeVar("T")


def loop_name() -> str:
    """``"uvloop"`` or ``"asyncio"``: what :func:`run` will use here."""
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted not in ("", "uvloop", "asyncio"):
        raise ConfigError(
            f"{ENV}={wanted!r} names no event loop",
            code="config.event-loop",
            where=ENV,
            hint="use uvloop or asyncio (or leave it unset: uvloop where installed)",
        )
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise ConfigError(
                f"{ENV}=uvloop but uvloop is not installed",
                code="config.event-loop",
                where=ENV,
                hint="pip install uvloop (Linux, macOS), or unset the variable",
            ) from None
        return "asyncio"
    return "uvloop"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of new event loops of the kind :func:`loop_name` names."""
    if loop_name() == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop :func:`loop_name` names."""
    try:
        factory = loop_factory()
    except BaseException:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
