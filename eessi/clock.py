"""Time, injected. The domain core never reads the wall clock; it is handed a :class:`Clock`.

:class:`VirtualClock` is what tests, scenarios and replays use (deadlines pass instantly);
:class:`SystemClock` is what a live institution uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import isodate

__all__ = ["Clock", "SystemClock", "VirtualClock", "after", "parse_instant"]


def after(when: datetime, duration: str) -> datetime:
    """``when`` moved forward by the ISO 8601 ``duration`` (``P2M``, ``P1Y2M10D``, ``PT1H``,
    ``P1DT12H``, ``P2W``), months and years the calendar way (31 January + ``P1M`` is 28 or 29
    February), parsed by ``isodate``. A :class:`ValueError` saying why for anything else
    (a negative or empty duration too: time here only moves forward)."""
    text = duration.strip()
    try:
        parsed = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError) as exc:
        raise ValueError(f"{duration!r} is not an ISO 8601 duration ({exc})") from None
    moved: datetime = when + parsed
    if moved < when or text.startswith("-"):
        raise ValueError(f"{duration!r} is negative: time only moves forward")
    return moved


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time (``2026-03-01T09:00:00Z``, ``...+01:00``) or date (midnight),
    in UTC; one without an offset is taken as UTC. A :class:`ValueError` saying why."""
    raw = text.strip()
    try:
        when = (
            datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
            if "T" in raw or " " in raw
            else datetime.fromisoformat(raw + "T00:00:00")
        )
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time ({exc})") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


class Clock(Protocol):
    """Something that tells the time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC. Only runtime code (never the core) creates one."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to. Starts at ``start`` (UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backwards) and return the new time."""
        if delta < timedelta(0):
            raise ValueError("a VirtualClock never goes backwards")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when``, which must not be earlier than now."""
        if when < self._now:
            raise ValueError("a VirtualClock never goes backwards")
        self._now = when
        return self._now

    def rewind(self, when: datetime) -> datetime:
        """Back to ``when`` (a reset of the whole run: the one way back); the new time."""
        if when.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware time")
        self._now = when
        return self._now
