"""``eessi demo --web``'s page in a real browser: a seed situation played to its end."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from browser_kit import Loop, Page, on_loop

from eessi.scenario.format import find_scenario, load_scenario
from eessi.web.demo import DemoPlayer, serve_demo

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(loop: Loop) -> Iterator[tuple[DemoPlayer, str]]:
    player = DemoPlayer(load_scenario(find_scenario("r17-family-abroad")), delay=0.2)
    served: contextlib.AbstractAsyncContextManager[str] = serve_demo(player)
    url = loop.run(served.__aenter__())
    try:
        yield player, url
    finally:
        loop.run(served.__aexit__(None, None, None))


@on_loop
async def test_demo_r17_plays_step_by_step_to_registered_outcome_citing_r17(
    page: Page, demo: tuple[DemoPlayer, str], loop: Loop
) -> None:
    player, url = demo
    p = page.page
    await p.set_viewport_size({"width": 1024, "height": 768})  # a projector
    await p.goto(url)
    await page.ready()
    await p.get_by_text("ready: press Next step or Play").wait_for()
    await page.shot("demo-ready")
    # one step: its caption says who does what, and why (the rules cited)
    await p.get_by_role("button", name="Next step").click()
    caption = p.locator("#caption")
    await caption.get_by_text("Step 1 of 2").wait_for()
    await caption.get_by_text("CNS: ana co-insured with joao").wait_for()
    assert await caption.locator(".rule", has_text="R17").count() >= 1
    assert await p.locator("#demo-mode").inner_text() == "paused"
    assert player.steps[1]["status"] == "waiting"  # held before step 2
    await page.shot("demo-step-1")
    # then the rest, played
    await p.get_by_role("button", name="Play").click()
    outcome = p.locator("#outcome")
    await outcome.get_by_text("Ana Silva (spouse): REGISTERED").wait_for(timeout=20_000)
    await outcome.get_by_text("Rui Silva (child): REGISTERED").wait_for()
    assert "with joao from 2025-09-01" in await outcome.inner_text()
    assert await outcome.locator("[data-member='rui'] .rule", has_text="R10").count() == 1
    await p.get_by_text("finished").wait_for()
    # the sequence diagram drew each document: S071 -> S072 -> S073 per member
    arrows = p.locator("g.arrow")
    await arrows.nth(5).wait_for()
    assert [await arrows.nth(i).get_attribute("data-sed") for i in range(6)] == [
        "S071", "S072", "S073", "S071", "S072", "S073",
    ]  # fmt: skip
    await page.shot("demo-done")
    # an arrow opens its message
    await arrows.nth(1).click()
    await p.get_by_text("Valid S072").wait_for()
    await page.ready()
    await page.shot("demo-message")


@on_loop
async def test_demo_page_works_from_the_keyboard_next_step_then_an_arrow_opens_its_message(
    page: Page, demo: tuple[DemoPlayer, str], loop: Loop
) -> None:
    _player, url = demo
    p = page.page
    await p.goto(url)
    await page.ready()
    await p.get_by_text("ready: press Next step or Play").wait_for()
    await p.get_by_role("button", name="Next step").focus()
    await p.keyboard.press("Enter")
    await p.locator("#caption").get_by_text("Step 1 of 2").wait_for()
    arrow = p.get_by_role("link", name="S071 from PT:ISS00001 to LU:CNS00001", exact=False)
    await arrow.first.focus()
    await p.keyboard.press("Enter")
    await p.get_by_text("Valid S071").wait_for()
    assert "#/message/" in p.url
