"""``eessi eligibility HOUSEHOLD.json [--on DATE] [--json]``: decide every member of a household.

``-`` reads the household from standard input.

Prints, per family member, the outcome, whom they are co-insured with and from when, what is
missing, and each rule applied with its explanation. ``--json`` prints the same as one JSON
object. The decision date is ``--on``, else the file's ``on``, else today.

Exit codes: 0 decided (whatever the outcomes); 2 the file cannot be read or is wrong (the
message gives the JSON pointer and what to do; with ``--json`` the error is printed as JSON on
stdout too).
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from eessi.cli._help import examples

__all__ = ["read_household", "register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eligibility",
        help="decide co-insurance for every member of a household file",
        description="Decide co-insurance (rules R1-R18) for every member of a household file "
        "(format: docs/household-format.md).",
        **examples(
            "eessi eligibility examples/households/cross-border-france.json",
            "eessi eligibility household.json --on 2026-03-01 --json",
        ),
    )
    parser.add_argument(
        "household", metavar="HOUSEHOLD.json", help="household file, or - for standard input"
    )
    parser.add_argument(
        "--on",
        metavar="DATE",
        type=_iso_date,
        help="decision date YYYY-MM-DD (default: the file's 'on', else today)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-01") from None


def read_household(name: str) -> Any:
    """The household file ``name`` (``-``: standard input), parsed: a
    :class:`~eessi.core.household_json.HouseholdFile`; a :class:`ConfigError` saying what to do."""
    import sys
    from pathlib import Path

    from eessi.core.household_json import loads_household
    from eessi.errors import ConfigError

    path = Path("<stdin>") if name == "-" else Path(name)
    try:
        if name == "-":
            text = sys.stdin.buffer.read().decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read the household file: {exc.__class__.__name__}: {exc}",
            where=str(path),
            hint="check the path and that the file is UTF-8 JSON",
            code="config.household",
        ) from None
    return loads_household(text, source=str(path))


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from eessi.core.eligibility import decide_all
    from eessi.errors import EessiError

    path = Path("<stdin>") if args.household == "-" else Path(args.household)
    try:
        hf = read_household(args.household)
        on = args.on or hf.on or date.today()
        decisions = decide_all(hf.household, on=on, facts=hf.facts, params=hf.parameters)
    except EessiError as exc:
        if args.json:
            print(json.dumps({"error": exc.to_dict()}, indent=2))
        print(f"eessi eligibility: error: {exc}", file=sys.stderr)
        return 2

    if args.json:
        out = {
            "household": hf.household.id,
            "file": str(path),
            "on": on.isoformat(),
            "parameters": hf.parameters.label,
            "decisions": [d.to_dict() for d in decisions],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    title = f"household {hf.household.id or path.name} on {on}"
    print(title)
    print("=" * len(title))
    if hf.description:
        print(hf.description)
    for p in hf.household.main_insured:
        where = p.country_of_residence
        end = f", affiliation ends {p.affiliation_end}" if p.affiliation_end else ""
        print(f"main insured {p.id}: {p.name}, {p.kind.value}, lives in {where}{end}")
    if not decisions:
        print("(no family members)")
    for d in decisions:
        print()
        print(d.render())
    return 0
