"""The ``eessi`` command line: a thin dispatcher.

Every module in this package that defines ``register(subparsers)`` adds one sub-command;
``register`` adds the parser and sets ``func`` (a callable taking the parsed namespace and
returning an exit code). Heavy imports belong inside ``func``, so ``eessi --help`` stays fast.

Exit codes: 0 success; 1 the command ran and found a problem (an invalid document, a failed
expectation); 2 usage or I/O error. An :class:`~eessi.errors.EessiError` that escapes a command
is printed as one clear line (never a traceback) and gives 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from eessi import __version__
from eessi.errors import EessiError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eessi",
        description="Simulate EESSI exchanges between Luxembourg's CNS and foreign funds.",
    )
    parser.add_argument("--version", action="version", version=f"eessi-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = func(args)
    except EessiError as exc:
        print(f"eessi {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
