"""``eessi sed``: work with SED documents.

``eessi sed example CODE [--version 4.3] [--seed N]`` prints a realistic example document's
XML bytes to stdout: the same arguments always print the same bytes, so examples can be
diffed, validated and fed to peers. An unknown code or version exits with 2 and one clear line.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from eessi.cli._help import examples

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sed",
        help="work with SED documents (examples)",
        description="Work with SED documents.",
        **examples("eessi sed example S072"),
    )
    sub = parser.add_subparsers(dest="sed_command", metavar="SUBCOMMAND")
    ex = sub.add_parser(
        "example",
        help="print a realistic example SED as XML",
        description="Print a deterministic, schema-valid example of a SED to stdout.",
        **examples("eessi sed example S072", "eessi sed example S071 --version 4.3 --seed 2"),
    )
    ex.add_argument("code", metavar="CODE", help="SED code, e.g. S071, S072, X009")
    ex.add_argument(
        "--version",
        dest="sed_version",
        default=None,
        metavar="VERSION",
        help="CDM version (default: the current one, 4.4; 4.3 also supported)",
    )
    ex.add_argument("--seed", type=int, default=0, help="example seed (default 0)")
    ex.set_defaults(func=_example)
    parser.set_defaults(func=_help(parser))


def _help(parser: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return show


def _example(args: argparse.Namespace) -> int:
    from eessi.sed.catalogue import CURRENT_VERSION
    from eessi.sed.examples import example_xml

    version = args.sed_version or CURRENT_VERSION
    data = example_xml(args.code.upper(), version, args.seed)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0
