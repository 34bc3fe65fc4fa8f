"""Every command's ``--help`` ends with examples that parse, and shows no reST markup (issue
12.11)."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from eessi.cli import build_parser, main
from eessi.cli._help import EXAMPLES_HEADING


def commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """``("eessi up", parser)`` for every command and sub-command, depth first."""
    found: list[tuple[str, argparse.ArgumentParser]] = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, child in action.choices.items():
                    found.append((f"{name} {sub}", child))
                    walk(f"{name} {sub}", child)

    walk("eessi", build_parser())
    return found


def examples_of(text: str) -> list[str]:
    _, heading, rest = text.partition("\n" + EXAMPLES_HEADING + "\n")
    assert heading, "no examples"
    return [line.strip() for line in rest.splitlines() if line.startswith("  eessi ")]


COMMANDS = commands()


def test_every_command_module_is_covered() -> None:
    names = {name.split()[1] for name, _ in COMMANDS}
    assert {"up", "serve", "validate", "demo", "trace", "replay", "scenario"} <= names


@pytest.mark.parametrize(("name", "parser"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_shows_examples_of_the_command_and_no_rest_markup(
    name: str, parser: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*name.split()[1:], "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "`" not in text, text  # no ``literal`` nor `role`
    assert not re.search(r":(func|class|meth|mod|attr|data):", text), text
    shown = examples_of(text)
    assert shown, text
    for example in shown:
        assert example.startswith(name), f"{name}: example {example!r} is another command's"
        # Each example is a command line this parser accepts (nothing is run).
        build_parser().parse_args(shlex.split(example)[1:])
