"""Deliberately broken systems under test: ``eessi serve`` with one bug each (test-only).

Run: ``python tests/conformance/mutants.py NAME serve --institution ... (eessi serve's
arguments)``. The bug is patched into this process before the node starts; nothing of it leaves
this file. Each mutant names the test case, step and check that must catch it
(``tests/conformance/test_conformance_mutants.py``). One name is not a bug:
``short-deadlines:SECONDS`` (the suite's real-time path); names combine with ``+``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def no_s072() -> None:
    """A CNS that never sends the S072 the fund's S073 waits for (R13/R17)."""
    import eessi.core.cns as cns

    def answer_eligible(run: Any, cf: Any, ref: Any) -> None:
        return None

    cns.answer_eligible = answer_eligible  # type: ignore[assignment]


def confirms_refused() -> None:
    """A CNS that confirms every S072, even for a member the rules refuse (R17: insured
    where she lives)."""
    import eessi.core.cns as cns
    from eessi.core import cns_answers
    from eessi.sed.model import OpenPeriod, OpenPeriodType

    def answer_refused(run: Any, cf: Any, ref: Any, decision: Any) -> None:
        found = cf.in_effect("S071")
        period = OpenPeriod(type=OpenPeriodType.OPEN_ENDED, start=run.today)
        cns_answers._send_s072(run, cf, found[1], ref, None, period)

    cns.answer_refused = answer_refused  # type: ignore[assignment]


def invalid_s072() -> None:
    """A CNS whose S072 breaks the schema: an element the schema does not know before
    ``entitlementConfirmed``."""
    from eessi.sed import documents

    plain = documents.S072.to_xml

    def to_xml(self: Any) -> bytes:
        return plain(self).replace(
            b"<entitlementConfirmed>", b"<bogus>1</bogus><entitlementConfirmed>", 1
        )

    documents.S072.to_xml = to_xml  # type: ignore[method-assign]


def no_reminder() -> None:
    """A CNS that never reminds a silent fund (no X009 when the S073 is overdue)."""
    import eessi.core.cns as cns

    def time_passed(*args: Any, **kwargs: Any) -> None:
        return None

    cns.time_passed = time_passed  # type: ignore[assignment]


def no_x013() -> None:
    """A fund that never answers a clarification request (X012): it takes it, says nothing."""
    from eessi.core import fund

    class _NeverAnX012:
        pass

    fund.X012 = _NeverAnX012  # type: ignore[misc, assignment]


def ignores_r11() -> None:
    """A CNS that confirms a child aged 30 without studies: R11 forgotten, such a child is
    judged as one under R9's age limit (then, arrived from Germany insured personally, R5
    asks the former fund for the S041: an S040)."""
    from eessi.core import eligibility
    from eessi.core.household import age_on

    plain = eligibility._child_limits

    def child_limits(ctx: Any) -> None:
        m = ctx.m
        if age_on(m.date_of_birth, ctx.on) >= ctx.p.child_age_limit and not m.higher_education:
            ctx.apply("R9", "aged 30 or more: judged as under the limit (the mutant's bug)")
            return
        plain(ctx)

    eligibility._child_limits = child_limits


class _NeverSeen(set[str]):
    """A set of seen message IDs that never holds any: every copy looks new."""

    def __contains__(self, item: object) -> bool:
        return False


def answers_duplicates(argv: list[str]) -> int:
    """A CNS that does not drop a duplicate delivery (same MessageId): it answers every copy.
    The tester's CNS of ``tests/sut`` (no ``eessi`` inside), with its memory of message IDs
    taken away; it takes ``eessi serve``'s ``--directory`` and ``--institution``."""
    import asyncio
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sut"))
    import cns  # type: ignore[import-not-found]

    plain = cns.Cns.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        plain(self, *args, **kwargs)
        self.seen = _NeverSeen()

    cns.Cns.__init__ = init
    directory = argv[argv.index("--directory") + 1]
    own = argv[argv.index("--institution") + 1]
    return int(asyncio.run(cns.main(["--directory", directory, "--id", own])))


def short_deadlines(seconds: str) -> list[str]:
    """Not a bug: a SUT whose reply deadlines are configured short (the two-month BUC reply
    deadline lasts ``seconds``), checked every quarter second on the wall clock: for the
    suite's real-time path (``RunSettings.deadline_seconds``). Extra ``eessi serve``
    arguments it needs."""
    from eessi.conformance.runner import short_deadlines as scaled
    from eessi.core import case
    from eessi.sed.catalogue import BUCS

    short = scaled(float(seconds))
    case.DEFAULT_DEADLINES = {buc: short for buc in BUCS}  # type: ignore[misc]
    return ["--tick", "0.25"]


MUTANTS: dict[str, Callable[[], None]] = {
    "no-s072": no_s072,
    "confirms-refused": confirms_refused,
    "invalid-s072": invalid_s072,
    "no-reminder": no_reminder,
    "ignores-r11": ignores_r11,
    "no-x013": no_x013,
}
#: Mutants that are a whole program of their own (given ``eessi serve``'s arguments).
PROGRAMS: dict[str, Callable[[list[str]], int]] = {"answers-duplicates": answers_duplicates}


def main(argv: list[str]) -> int:
    """``NAME[+NAME...] serve ...``: each name a mutant, or ``short-deadlines:SECONDS``."""
    names, *rest = argv
    if names in PROGRAMS:
        return PROGRAMS[names](rest)
    for name in names.split("+"):
        kind, _, value = name.partition(":")
        if kind == "short-deadlines":
            rest += short_deadlines(value)
        else:
            MUTANTS[name]()
    from eessi.cli import main as eessi

    return eessi(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
