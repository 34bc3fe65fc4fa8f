"""The ``eessi`` command line: a thin dispatcher.

Every module in this package that defines ``register(subparsers)`` adds one sub-command;
``register`` adds the parser and sets ``func`` (a callable taking the parsed namespace and
returning an exit code). Heavy imports belong inside ``func``, so ``eessi --help`` stays fast.

Exit codes: 0 success; 1 the command ran and found a problem (an invalid document, a failed
expectation); 2 usage or I/O error. An :class:`~eessi.errors.EessiError` that escapes a command
is printed as one clear line (never a traceback) and gives 2. When the reader of the output
goes away (``eessi ... | head``), the command stops quietly with 141 (128 + SIGPIPE), as other
Unix tools do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
from collections.abc import Sequence

from eessi import __version__
from eessi.errors import EessiError

__all__ = ["BROKEN_PIPE", "build_parser", "main"]

#: The exit code when the output's reader went away: a shell's code for a process ended by
#: SIGPIPE (what ``yes | head`` leaves to ``yes``).
BROKEN_PIPE = 128 + signal.SIGPIPE


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``eessi`` parser with every sub-command; with ``command``, only the sub-commands of
    the module of that name (``serve``): the same parser for that command, without importing
    the other commands' modules (D231)."""
    parser, _ = _parser([command] if command is not None else _command_modules())
    return parser


def _command_modules() -> list[str]:
    return [
        info.name
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
        if not info.name.startswith("_")
    ]


def _parser(modules: Sequence[str]) -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser with the sub-commands of ``modules``, and their names."""
    parser = argparse.ArgumentParser(
        prog="eessi",
        description="Simulate EESSI exchanges between Luxembourg's CNS and foreign funds.",
    )
    parser.add_argument("--version", action="version", version=f"eessi-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser, set(sub.choices)


def _parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser ``main`` needs for ``argv``: when its first word names a sub-command module
    that registers that sub-command, that module's alone (D231); else all of them (``--help``,
    ``--version``, a mistyped command: the full list)."""
    first = argv[0] if argv else ""
    if first.isidentifier() and not first.startswith("_") and first in _command_modules():
        parser, commands = _parser([first])
        if first in commands:
            return parser
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = _parser_for(words)
    args = parser.parse_args(words)
    func = getattr(args, "func", None)
    if func is None:  # no command (or a command group without its sub-command)
        build_parser().print_help(sys.stderr)
        return 2
    try:
        code: int = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except BrokenPipeError:
        _drop_stdout()
        return BROKEN_PIPE
    except EessiError as exc:
        print(f"eessi {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def _drop_stdout() -> None:
    """Point stdout at the null device, so that nothing flushes into the closed pipe again
    (Python would print an 'Exception ignored' line at exit)."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by something without a descriptor
        pass
    finally:
        os.close(null)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
