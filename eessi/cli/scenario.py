"""``eessi scenario run FILE... [--json]`` and ``eessi scenario list``.

``run`` plays each scenario on the embedded network (the CNS and the mock funds it names, real
HTTP on free loopback ports, a virtual clock) and prints an ITB-style report: each step and each
expectation passed or failed, with why. It exits 1 if any expectation or step failed, 2 if a
file cannot be read (the error names the file and key). A FILE is a path or the name of a
shipped scenario (``eessi scenario list``); ``all`` runs every shipped one.
Format: ``docs/scenario-format.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eessi.cli._help import examples

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scenario",
        help="run scenario files on the embedded network and check their expectations",
        description="Run scenario files on the embedded network and check their expectations"
        " (format: docs/scenario-format.md).",
        **examples("eessi scenario list", "eessi scenario run all"),
    )
    sub = parser.add_subparsers(dest="scenario_command", metavar="ACTION")
    run = sub.add_parser(
        "run",
        help="run scenarios and report each step and expectation",
        **examples(
            "eessi scenario run all",
            "eessi scenario run r5-former-fund-s040-s041 --json",
            "eessi scenario run my-scenario.toml --keep journals/",
            "eessi scenario run all --transport as4",
        ),
    )
    run.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="scenario file, shipped scenario name, or 'all' (every shipped scenario)",
    )
    run.add_argument("--json", action="store_true", help="print the reports as JSON")
    run.add_argument(
        "--keep", metavar="DIR", help="keep the journals in DIR (one sub-directory per scenario)"
    )
    run.add_argument(
        "--transport",
        choices=("embedded", "as4"),
        default="embedded",
        help="as4: the institutions speak signed and encrypted eDelivery AS4 on loopback (a"
        " test PKI made for the run, kept in DIR/pki with --keep); embedded (default): the"
        " embedded network's own transport",
    )
    run.set_defaults(func=run_command)
    listing = sub.add_parser(
        "list",
        help="list the shipped scenarios",
        **examples("eessi scenario list", "eessi scenario list --json"),
    )
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    listing.set_defaults(func=list_command)
    parser.set_defaults(func=lambda _args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def quiet_node_logs() -> None:
    """The nodes log refusals and retries as warnings; the report says what matters."""
    import logging

    logger = logging.getLogger("eessi")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def list_command(args: argparse.Namespace) -> int:
    from eessi.scenario.format import load_scenario, shipped_scenarios

    items = []
    for path in shipped_scenarios():
        s = load_scenario(path)
        items.append({"name": s.name, "rules": list(s.rules), "title": s.title, "file": str(path)})
    if args.json:
        print(json.dumps(items, indent=2, ensure_ascii=False))
        return 0
    width = max((len(i["name"]) for i in items), default=0)
    for i in items:
        rules = ",".join(i["rules"])
        print(f"{i['name']:<{width}}  {rules:<14} {i['title']}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile
    from pathlib import Path

    from eessi.scenario.format import find_scenario, load_scenario, shipped_scenarios
    from eessi.scenario.report import render_reports
    from eessi.scenario.runner import run_scenario

    quiet_node_logs()
    paths: list[Path] = []
    for name in args.files:
        if name == "all":
            paths.extend(shipped_scenarios())
        else:
            paths.append(find_scenario(name))
    scenarios = [load_scenario(p) for p in paths]  # every file checked before anything runs

    async def run_all(transport: Any) -> list[Any]:
        reports = []
        for s in scenarios:
            workdir = None if args.keep is None else Path(args.keep) / s.name
            reports.append(await run_scenario(s, workdir=workdir, transport=transport))
        return reports

    with tempfile.TemporaryDirectory(prefix="eessi-scenario-pki-") as tmp:
        transport: Any = "twin"  # the embedded network's own (in memory)
        if args.transport == "as4":
            from eessi.as4.node_transport import as4_transport_with_test_pki

            pki = Path(args.keep) / "pki" if args.keep is not None else Path(tmp) / "pki"
            transport = as4_transport_with_test_pki(pki)
        reports = asyncio.run(run_all(transport))
    if args.json:
        out = {
            "result": "passed" if all(r.passed for r in reports) else "failed",
            "scenarios": [r.to_dict() for r in reports],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(render_reports(reports), end="")
    return 0 if all(r.passed for r in reports) else 1
