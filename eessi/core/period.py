"""Calendar periods written as ISO 8601 durations: ``P90D``, ``P6M``, ``P1Y``, ``P1Y2M10D``.

A waiting period of six months is not 180 days: enrolled on 31 August, it ends on the last day
of February, and enrolled on 15 January, on 15 July. :class:`Period` keeps years, months and days
apart and adds them the calendar way (years and months first, the day clamped to the end of a
shorter month, then the days), as ISO 8601 and the civil code count them.

The text is parsed by ``isodate`` (the parser ``eessi.clock.after`` uses for moving a virtual
clock over HTTP); only whole date periods are accepted here (``nY``, ``nM``, ``nW``, ``nD``): a
waiting period in hours, with fractions or negative is a mistake worth a clear error (D65).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import isodate

from eessi.errors import DomainError

__all__ = ["Period"]


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
        try:
            parsed = isodate.parse_duration(text.strip()) if isinstance(text, str) else None
        except (isodate.ISO8601Error, ValueError):
            parsed = None
        if isinstance(parsed, isodate.Duration):
            years, months, rest = Decimal(parsed.years), Decimal(parsed.months), parsed.tdelta
        else:
            years, months, rest = Decimal(0), Decimal(0), parsed
        whole = rest is not None and not (rest.seconds or rest.microseconds) and rest.days >= 0
        if not whole or years % 1 or months % 1 or years < 0 or months < 0:
            raise DomainError(
                f"{text!r} is not an ISO 8601 date period",
                hint='use P, then years Y, months M, weeks W, days D in that order: "P90D", '
                '"P6M", "P1Y", "P1Y2M10D" (whole numbers, no time part)',
                code="domain.bad-period",
            )
        assert rest is not None
        return cls(int(years), int(months), rest.days)

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
