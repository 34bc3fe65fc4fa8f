"""Calendar periods written as ISO 8601 durations: ``P90D``, ``P6M``, ``P1Y``, ``P1Y2M10D``.

A waiting period of six months is not 180 days: enrolled on 31 August, it ends on the last day
of February, and enrolled on 15 January, on 15 July. :class:`Period` keeps years, months and days
apart and adds them the calendar way (years and months first, the day clamped to the end of a
shorter month, then the days), as ISO 8601 and the civil code count them.

Only date periods are accepted (``P``, then ``nY``, ``nM``, ``nW``, ``nD`` in that order, whole
numbers): a waiting period in hours or with fractions is a mistake worth a clear error. Written
here, not taken from a library, because the whole grammar is this one regular expression and the
core stays free of dependencies (see ``docs/decisions.md``, D65).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from eessi.errors import DomainError

__all__ = ["Period"]

_ISO = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")


@dataclass(frozen=True, slots=True)
class Period:
    """A whole number of years, months and days (all >= 0)."""

    years: int = 0
    months: int = 0
    days: int = 0

    def __post_init__(self) -> None:
        for name in ("years", "months", "days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DomainError(
                    f"period {name} {value!r} is not a whole number >= 0",
                    hint='write the period as an ISO 8601 duration, e.g. "P6M" or "P90D"',
                    code="domain.bad-period",
                )

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"P6M"`` -> ``Period(months=6)``; weeks count as 7 days."""
        m = _ISO.fullmatch(text.strip()) if isinstance(text, str) else None
        if m is None or text.strip() == "P":
            raise DomainError(
                f"{text!r} is not an ISO 8601 date period",
                hint='use P, then years Y, months M, weeks W, days D in that order: "P90D", '
                '"P6M", "P1Y", "P1Y2M10D" (whole numbers, no time part)',
                code="domain.bad-period",
            )
        years, months, weeks, days = (int(g) if g else 0 for g in m.groups())
        return cls(years, months, weeks * 7 + days)

    def after(self, day: date) -> date:
        """``day`` plus this period: months first (clamped to the month's end), then days."""
        month0 = day.month - 1 + self.months + 12 * self.years
        year, month = day.year + month0 // 12, month0 % 12 + 1
        last = calendar.monthrange(year, month)[1]
        return date(year, month, min(day.day, last)) + timedelta(days=self.days)

    def iso(self) -> str:
        """The ISO 8601 text (``"P0D"`` for no period)."""
        parts = [(self.years, "Y"), (self.months, "M"), (self.days, "D")]
        body = "".join(f"{n}{unit}" for n, unit in parts if n)
        return f"P{body or '0D'}"

    def __str__(self) -> str:
        return self.iso()
