"""``eessi institutions [--directory FILE] [--json]``: list the directory's institutions.

Prints one line per institution: IR ID, country, name, kind, endpoint, BUCs and SED versions
(an institution outside EESSI shows ``outside EESSI`` instead of BUCs). ``--json`` prints a
JSON object with the source file and the institutions. Credentials are never printed.

Without ``--directory`` the default directory is listed (the CNS and the mock funds on
loopback, shipped with eessi-sim). Exit codes: 0 listed; 2 the file is missing or wrong (the
message names the file, the institution and the key; with ``--json`` the error is printed as
JSON on stdout too).
"""

from __future__ import annotations

import argparse
from typing import Any

from eessi.cli._help import examples

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "institutions",
        help="list the institutions of a directory",
        description="List the institutions of a directory (the simulated Institution "
        "Repository; format: docs/directory-format.md).",
        **examples("eessi institutions", "eessi institutions --directory my-network.toml --json"),
    )
    parser.add_argument(
        "--directory",
        metavar="FILE",
        help="directory TOML file (default: the one shipped with eessi-sim)",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from eessi.directory import default_directory_path, load_directory
    from eessi.errors import EessiError

    path = args.directory or default_directory_path()
    try:
        directory = load_directory(path)
    except EessiError as exc:
        if args.json:
            print(json.dumps({"error": exc.to_dict()}, indent=2, ensure_ascii=False))
        print(f"eessi institutions: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        out = {"directory": str(path), "institutions": [e.to_dict() for e in directory]}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    header = ("IR ID", "COUNTRY", "NAME", "KIND", "ENDPOINT", "BUCS", "VERSIONS")
    rows = [
        (
            e.id,
            e.country,
            e.name,
            e.kind,
            e.endpoint,
            ", ".join(e.bucs) if e.eessi else "outside EESSI",
            ", ".join(e.versions) or "-",
        )
        for e in directory
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"{len(rows)} institutions in {path}")
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0
