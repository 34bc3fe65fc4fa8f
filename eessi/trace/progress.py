"""A small progress bar on standard error, for long trace operations (no dependency).

It draws only when the stream is a terminal and the command is not asked for ``--json`` (a
machine reading the output wants no bar), and redraws at most every 0.1 s, so counting a
30,000-message trace costs nothing measurable.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO, Self

__all__ = ["Progress"]

_WIDTH = 30


class Progress:
    """``with Progress("replaying", total) as bar: bar.advance()``."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = self._stream.isatty()
        self.enabled = enabled
        self._last = 0.0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= 0.1 or (self.total is not None and self.done >= self.total):
            self._last = now
            self._draw()

    def _draw(self) -> None:
        if self.total:
            filled = min(_WIDTH, _WIDTH * self.done // self.total)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            text = f"\r{self.label} [{bar}] {self.done}/{self.total}"
        else:
            text = f"\r{self.label} {self.done}"
        self._stream.write(text)
        self._stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()
            self.enabled = False
