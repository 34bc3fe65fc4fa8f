"""Fixtures of the dashboard's browser tests: one Chromium per session, a fresh page per test
(failing the test if the page logged a console error), the servers' event loop (see
browser_kit.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import ARGS, CHROMIUM, SKIP_VARIABLE, Loop, Page


@pytest.fixture(scope="session")
def loop() -> Iterator[Loop]:
    loop = Loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def browser(loop: Loop) -> Iterator[Any]:
    if os.environ.get(SKIP_VARIABLE) == "1":
        pytest.skip(f"browser tests skipped: {SKIP_VARIABLE}=1")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (as root);"
            f" install it, set EESSI_CHROMIUM, or set {SKIP_VARIABLE}=1 to skip these tests",
            pytrace=False,
        )
    from playwright.async_api import async_playwright

    async def launch() -> tuple[Any, Any]:
        pw = await async_playwright().start()
        return pw, await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

    pw, browser = loop.run(launch())
    yield browser
    loop.run(browser.close())
    loop.run(pw.stop())


@pytest.fixture
def page(browser: Any, loop: Loop, tmp_path: Path) -> Iterator[Page]:
    context = loop.run(
        browser.new_context(viewport={"width": 1400, "height": 900}, reduced_motion="reduce")
    )
    shots = tmp_path / "screens"
    shots.mkdir()

    async def open_page() -> Page:  # listeners are set on the loop's thread
        return Page(await context.new_page(), shots)

    p = loop.run(open_page())
    yield p
    p.check_console()  # (done already by @on_loop, before the servers stop)
    loop.run(context.close())
