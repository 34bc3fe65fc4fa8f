from __future__ import annotations

import io

from eessi.trace.progress import Progress


def test_bar_draws_counts_and_ends_with_a_newline_when_enabled() -> None:
    out = io.StringIO()
    with Progress("replaying", 4, enabled=True, stream=out) as bar:
        for _ in range(4):
            bar.advance()
    text = out.getvalue()
    assert text.endswith("replaying [" + "#" * 30 + "] 4/4\n")


def test_bar_is_silent_when_not_a_terminal() -> None:
    out = io.StringIO()  # not a TTY
    with Progress("reading", stream=out) as bar:
        bar.advance(10)
    assert out.getvalue() == ""
    assert bar.done == 10
