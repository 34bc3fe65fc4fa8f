"""Helpers of the dashboard's browser tests (fixtures in conftest.py): the server loop, the page.

The dashboard's pages driven in a real browser: Debian's Chromium, through Playwright.

One browser for the whole session (``browser``); each test gets a fresh page (``page``) that
records every console error and uncaught exception: a test fails if a page logged one. The
servers and Playwright (its asyncio API) run on one event loop in a thread of their own
(``loop``): each test is a coroutine run there with ``loop.run``, so nothing holds an event loop
in pytest's thread (Playwright's synchronous API would, for every test after it). Playwright
never downloads a browser here: it launches ``/usr/bin/chromium``
(installed by ``make test``; ``EESSI_TEST_SKIP_BROWSER=1`` skips these tests, nothing else does).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHROMIUM = os.environ.get("EESSI_CHROMIUM", "/usr/bin/chromium")
SKIP_VARIABLE = "EESSI_TEST_SKIP_BROWSER"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Loop:
    """An asyncio event loop in a daemon thread; :meth:`run` runs a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def on_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run the coroutine test ``test`` on the ``loop`` fixture's loop (the test must take the
    ``loop`` fixture); for pytest it is a plain function."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        kwargs["loop"].run(test(*args, **kwargs), timeout=120)
        page = kwargs.get("page")
        if isinstance(page, Page):  # what the pages logged during the test, not at teardown
            page.check_console()

    return run


#: The visible form controls, buttons and diagram links without an accessible name.
_NAMELESS = """() => [...document.querySelectorAll(
    "input, select, textarea, button, [role=link], [role=img]")]
  .filter((el) => el.offsetParent !== null || el.closest("svg"))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
    && !el.getAttribute("aria-labelledby") && !(el.textContent || "").trim())
  .map((el) => el.outerHTML.slice(0, 80))"""


class Page:
    """A browser page that remembers console errors, and takes screenshots into ``shots``."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        self.checked = False
        page.on("console", lambda m: self._error(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self._error(f"uncaught: {exc}"))

    def _error(self, text: str) -> None:
        if not self.checked:  # once checked, the servers may stop under the page: not its fault
            self.errors.append(text)

    def check_console(self) -> None:
        """Fail if the page logged a console error or an uncaught exception so far."""
        self.checked = True
        assert not self.errors, f"the page logged console errors: {self.errors}"

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path

    async def ready(self) -> None:
        """Wait until the page showing has loaded what it shows; then check that every form
        control and button on it has a name a screen reader can say."""
        await self.page.wait_for_selector("#main > div[data-ready='true']", timeout=15_000)
        nameless = await self.page.evaluate(_NAMELESS)
        assert not nameless, f"controls without a label or name: {nameless}"
        wide = await self.page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert wide <= 1, f"the page is {wide} px wider than the window: it scrolls sideways"
