"""A seed situation played step by step for the dashboard (``eessi demo --web``).

:class:`DemoPlayer` runs a shipped scenario with :func:`~eessi.scenario.runner.run_scenario`
(the CNS and the mock funds on loopback, a virtual clock) and holds it before each step until
the page says ``next`` or ``play`` (``pause`` holds it again): the scenario runner awaits its
observer, so each step starts only once the player lets it. Each step gets a caption: who does
what (the step's title), then what happened, the documents that moved and the CNS's
decisions with the rules they cite. Once the last step has played the network keeps running
(its pages stay browsable) until :meth:`DemoPlayer.close`; the outcome of each family member
is then shown, as ``eessi demo`` prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from eessi.scenario.format import Scenario
from eessi.scenario.report import StepResult
from eessi.scenario.runner import member_outcomes, run_scenario

__all__ = ["DemoPlayer", "serve_demo"]


class DemoPlayer:
    """Plays ``scenario`` one step at a time (see the module docstring). ``delay``: seconds
    between two steps while playing."""

    def __init__(self, scenario: Scenario, *, delay: float = 1.5, transport: Any = "http") -> None:
        self.scenario = scenario
        self.delay = delay
        #: ``"http"`` or a transport factory on loopback (``eessi demo --web``: AS4).
        self.transport = transport
        #: The running institutions by IR ID, once the network has started (the dashboard's).
        self.nodes: dict[str, Any] = {}
        #: Bumped at every change the page should see.
        self.version = 0
        self.mode = "starting"  # starting, ready, playing, paused, done, failed
        self.playing = False
        self.current = 0  # the step playing, or about to play (1-based; 0 before the first)
        self.steps: list[dict[str, Any]] = [
            {"index": s.index, "title": s.title, "status": "waiting", "lines": [], "at": None}
            for s in scenario.steps
        ]
        self.outcome: dict[str, dict[str, Any]] | None = None
        self.error: str | None = None
        self._credit = 0
        self._go = asyncio.Event()
        self._closed = asyncio.Event()
        self._net: Any = None
        self._decided: dict[str, Any] = {}

    # ---- what the page sees and says

    def state(self) -> dict[str, Any]:
        s = self.scenario
        members = [
            {"id": m.id, "name": m.name, "relation": m.relation.value} for m in s.household.members
        ]
        return {
            "name": s.name,
            "title": s.title,
            "rules": list(s.rules),
            "description": s.description,
            "institutions": list(s.institutions),
            "mode": self.mode,
            "current": self.current,
            "steps": self.steps,
            "members": members,
            "outcome": self.outcome,
            "error": self.error,
            "version": self.version,
        }

    def next(self) -> None:
        """Play one step (the next), then hold."""
        if self.mode in ("done", "failed"):
            return
        self.playing = False
        self._credit += 1
        self._changed("paused")
        self._go.set()

    def play(self) -> None:
        """Play the steps one after the other, ``delay`` seconds apart."""
        if self.mode in ("done", "failed"):
            return
        self.playing = True
        self._changed("playing")
        self._go.set()

    def pause(self) -> None:
        """Hold before the next step."""
        if self.mode in ("done", "failed"):
            return
        self.playing = False
        self._changed("paused")
        self._go.set()

    def close(self) -> None:
        """Let the run finish: the network stops."""
        self._closed.set()
        self.playing = True
        self._go.set()

    # ---- the run

    async def run(self) -> None:
        """Play the scenario; returns once it has played and :meth:`close` was called."""
        # On loopback, not the in-memory twin: the pages read each node's admin API.
        report = await run_scenario(self.scenario, observer=self._observe, transport=self.transport)
        if report.error:
            self.error = report.error
            self._changed("failed")
        elif self.mode != "done":
            self._changed("done")

    async def _observe(self, kind: str, value: Any) -> None:
        if kind == "start":
            self._net = value
            self.nodes.update(value.nodes)
            inner_stop = value.stop

            async def held_stop() -> None:  # the pages stay browsable until close()
                self._finish()
                await self._closed.wait()
                await inner_stop()

            value.stop = held_stop
            self._changed("ready")
        elif kind == "begin":
            await self._gate(first=value.index == 1)
            self.current = value.index
            self.steps[value.index - 1]["status"] = "playing"
            self._changed(self.mode)
        elif kind == "step":
            self._record(value)

    async def _gate(self, *, first: bool) -> None:
        if self.playing and not first and not self._closed.is_set():
            self._go.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._go.wait(), self.delay)
        while not self.playing and self._credit == 0:
            self._go.clear()
            await self._go.wait()
        if self._credit:
            self._credit -= 1

    def _record(self, result: StepResult) -> None:
        step = self.steps[result.index - 1]
        step["status"] = result.status
        step["at"] = result.at
        lines = list(result.happened)
        if result.why:
            lines.append(f"{result.status}: {result.why}")
        net = self._net
        if net is not None:
            for member, decision in net.decisions.items():
                if self._decided.get(member) is decision:
                    continue
                self._decided[member] = decision
                lines.append(f"CNS decides for {member}: {decision.outcome.value}")
                lines += [f"  {r.rule}: {r.explanation}" for r in decision.reasons]
        step["lines"] = lines
        self._changed(self.mode)

    def _finish(self) -> None:
        if self._net is not None:
            with contextlib.suppress(Exception):  # a CNS that did not run: no outcome to show
                self.outcome = member_outcomes(self.scenario, self._net)
        self.playing = False
        self._changed("failed" if any(s["status"] == "failed" for s in self.steps) else "done")

    def _changed(self, mode: str) -> None:
        self.mode = mode
        self.version += 1


@contextlib.asynccontextmanager
async def serve_demo(
    player: DemoPlayer,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    report_dir: str | Path | None = None,
) -> AsyncIterator[str]:
    """The dashboard of ``player``'s network on ``host:port`` (0: a free port), the scenario
    started and held before its first step; yields the page's URL. On exit the player is
    closed, the network stopped and the server too."""
    from eessi.node.http_api import admin_auth
    from eessi.web.app import Dashboard, dashboard_app, serve_root

    dashboard = Dashboard(player.nodes, report_dir=report_dir, demo=player)
    app = web.Application()
    auth = admin_auth(app, host=host, token=None)
    app.add_subapp("/ui/", dashboard_app(dashboard, auth))
    serve_root(app)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    task: asyncio.Task[None] | None = None
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        task = asyncio.create_task(player.run(), name="eessi demo")
        yield f"http://{host}:{bound}/ui/#/demo"
    finally:
        player.close()
        if task is not None:
            await task
        await runner.cleanup()
