"""``eessi demo [NAME] [--list]``: show the simulator at work (``make demo`` runs it).

For now there is one demo, ``sed-catalogue``: for every SED of the catalogue and every version
we support, build the example document (:func:`eessi.sed.examples.example_xml`), validate it
against our schemas (:func:`eessi.sed.validate.validate`) and print a table. It exits 1 if any
example fails, so it doubles as a smoke test of the models, the schemas and the validator
together. Later scenario demos (a whole S_BUC_01 exchange between peers) register here by name.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DEMOS", "register"]

DEFAULT = "sed-catalogue"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a demo (default: every SED example, validated)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("name", nargs="?", default=DEFAULT, metavar="NAME", help="demo to run")
    parser.add_argument("--list", action="store_true", help="list the demos and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for name, (summary, _) in DEMOS.items():
            print(f"{name:16s} {summary}")
        return 0
    entry = DEMOS.get(args.name)
    if entry is None:
        print(
            f"eessi demo: error: no demo named {args.name!r}; "
            f"available: {', '.join(DEMOS)} (see eessi demo --list)",
            file=sys.stderr,
        )
        return 2
    return entry[1]()


def sed_catalogue() -> int:
    """Every SED example in every supported version, validated; a table; 1 if any fails."""
    from eessi.sed.catalogue import SEDS
    from eessi.sed.examples import example_xml
    from eessi.sed.validate import validate

    rows: list[tuple[str, str, str, str, str]] = []
    failures = 0
    started = time.perf_counter()
    for code, sed in SEDS.items():
        for version in sed.versions:
            data = example_xml(code, version)
            report = validate(data)
            if report.ok:
                result = "valid"
            else:
                failures += 1
                first = report.errors[0]
                result = f"INVALID {first.code}: {first.message} ({first.xpath})"
            rows.append((code, version, _short(sed.title, 58), str(len(data)), result))
    elapsed = time.perf_counter() - started
    header = ("SED", "version", "title", "bytes", "result")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    print("Every SED of the catalogue, generated and validated against schemas/:\n")
    for row in [header, *rows]:
        print(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]}"
        )
    print(
        f"\n{len(rows)} documents, {len(rows) - failures} valid, {failures} invalid "
        f"({elapsed * 1000:.0f} ms including schema compilation)"
    )
    return 1 if failures else 0


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


#: Demo name -> (one-line summary, function returning the exit code).
DEMOS: dict[str, tuple[str, Callable[[], int]]] = {
    DEFAULT: ("every SED example in every version, validated against our schemas", sed_catalogue),
}
