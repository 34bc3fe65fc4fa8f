"""``eessi COMMAND`` builds the parser of COMMAND's module alone (D231): the same help, the
same parsed arguments and the same errors as with every command's module imported."""

from __future__ import annotations

import argparse
import shlex

import pytest

from eessi.cli import build_parser, main
from eessi.cli._help import EXAMPLES_HEADING


def subcommands(parser: argparse.ArgumentParser, name: str) -> dict[str, argparse.ArgumentParser]:
    """``{"eessi trace export": parser, ...}`` under ``parser``, depth first."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                found[f"{name} {sub}"] = child
                found.update(subcommands(child, f"{name} {sub}"))
    return found


FULL = subcommands(build_parser(), "eessi")
TOP = sorted({name.split()[1] for name in FULL})


def test_every_command_has_a_module_of_its_name() -> None:
    assert {"serve", "up", "validate", "trace", "replay"} <= set(TOP)
    for command in TOP:
        assert f"eessi {command}" in subcommands(build_parser(command), "eessi")


@pytest.mark.parametrize("command", TOP)
def test_a_command_alone_has_the_same_help_and_parses_its_examples_the_same(
    command: str,
) -> None:
    alone = subcommands(build_parser(command), "eessi")
    mine = {name: parser for name, parser in FULL.items() if name.split()[1] == command}
    assert sorted(alone) == sorted(mine)
    for name, parser in mine.items():
        text = parser.format_help()
        assert alone[name].format_help() == text
        _, _, examples = text.partition("\n" + EXAMPLES_HEADING + "\n")
        for line in examples.splitlines():
            if line.startswith(f"  {name}"):
                words = shlex.split(line.strip())[1:]
                assert build_parser(command).parse_args(words) == build_parser().parse_args(words)


def test_a_bad_option_of_a_command_is_refused_with_the_same_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--institution", "LU:CNS00001", "--no-such-option"])
    assert exited.value.code == 2
    alone = capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--institution", "LU:CNS00001", "--no-such-option"])
    assert capsys.readouterr().err == alone
    assert "unrecognized arguments: --no-such-option" in alone


def test_without_a_command_the_whole_list_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    shown = capsys.readouterr().err
    assert shown == build_parser().format_help()
    for command in TOP:
        assert command in shown


@pytest.mark.parametrize("argv", [["trace"], ["pki"]], ids=["trace", "pki"])
def test_a_command_group_without_its_action_is_refused_with_the_same_words(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    alone = capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert capsys.readouterr().err == alone
    assert "the following arguments are required" in alone


def test_an_unknown_command_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serv"])
    assert exited.value.code == 2
    refused = capsys.readouterr().err
    assert "invalid choice: 'serv'" in refused
    for command in TOP:
        assert repr(command) in refused
