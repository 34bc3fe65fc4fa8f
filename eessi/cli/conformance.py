"""``eessi conformance run|list``: a verdict on the tester's own system (docs/conformance.md).

``run`` starts the institutions the system under test (SUT) deals with on the endpoints of the
directory it was given, plays the role's test cases against it, prints each verdict as it goes
and writes JUnit XML, GITB TAR XML, JSON and HTML reports; exit 0 only when every assertion
held, 1 when one failed, 2 for a usage error (an unreachable SUT, an unknown test case).
"""

from __future__ import annotations

import argparse
from typing import Any

from eessi.cli._help import examples

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="check your own CNS or fund against the EESSI conformance suite",
        description="Check a system under test (SUT) that plays the CNS or a foreign fund:"
        " every document it sends (schema, BUC state, deadline, content), with reports in"
        " JUnit XML, GITB TAR, JSON and HTML (docs/conformance.md).",
        **examples(
            "eessi conformance list",
            "eessi conformance list --role fund --json",
            "eessi conformance run --role cns --sut LU:CNS00001 --directory my-net.toml",
            "eessi conformance run --role cns --sut http://127.0.0.1:8701/as4 --only CNS-S071-01",
            "eessi conformance run --role fund --sut FR:CPAM5701 --directory my-net.toml"
            " --report-dir reports/",
        ),
    )
    sub = parser.add_subparsers(dest="conformance_command", metavar="COMMAND", required=True)
    listing = sub.add_parser(
        "list",
        help="the test cases of each role",
        description="The test cases of each role: ID, title, what they cover, what they need.",
        **examples(
            "eessi conformance list",
            "eessi conformance list --role cns",
            "eessi conformance list --role fund --json",
        ),
    )
    listing.add_argument("--role", choices=("cns", "fund"), help="one role only")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)
    run = sub.add_parser(
        "run",
        help="run a role's suite against a SUT",
        description="Run the suite of a role against the SUT; exit 0 only when every"
        " assertion held.",
        **examples(
            "eessi conformance run --role cns --sut LU:CNS00001 --directory my-net.toml",
            "eessi conformance run --role cns --sut http://127.0.0.1:8701/as4"
            " --only CNS-S071-01 CNS-X009-01",
            "eessi conformance run --role fund --sut FR:CPAM5701 --directory my-net.toml"
            " --schemas official-xsd/ --report-dir reports/",
        ),
    )
    run.add_argument(
        "--role", choices=("cns", "fund"), required=True, help="the role the SUT plays"
    )
    run.add_argument(
        "--sut",
        required=True,
        metavar="URL|ID",
        help="the SUT's AS4 endpoint URL (it takes the role's institution in the directory)"
        " or its IR ID in --directory",
    )
    run.add_argument(
        "--directory",
        metavar="FILE",
        help="the directory the SUT was given (our institutions listen on its endpoints;"
        " default: the shipped one)",
    )
    run.add_argument("--only", nargs="+", metavar="ID", help="run only these test cases")
    run.add_argument(
        "--schemas", metavar="DIR", help="also validate the SUT's documents against these XSDs"
    )
    run.add_argument(
        "--report-dir", metavar="DIR", default="conformance-report", help="where the reports go"
    )
    run.add_argument(
        "--within",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for each document the SUT must send (default 10)",
    )
    run.add_argument(
        "--quiet",
        type=float,
        default=0.4,
        metavar="SECONDS",
        help="how long to watch for a document the SUT must not send (default 0.4)",
    )
    run.add_argument(
        "--deadline-seconds",
        type=float,
        metavar="SECONDS",
        help="the SUT has no clock route and its reply deadlines are configured short: its"
        " two-month reply deadline lasts SECONDS; the suite then waits its deadline cases out"
        " in real time, every period scaled alike (default: those cases are skipped)",
    )
    run.add_argument(
        "--startup",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the SUT's endpoint to answer (default 30)",
    )
    run.set_defaults(func=_run)


def _list(args: argparse.Namespace) -> int:
    import json

    from eessi.conformance.suite import load_suite, shipped_suite

    roles = [args.role] if args.role else ["cns", "fund"]
    suites = [load_suite(shipped_suite(r)) for r in roles]
    if args.json:
        data = [
            {
                "role": s.role,
                "sut": s.sut,
                "title": s.title,
                "cases": [c.to_dict() for c in s.cases],
            }
            for s in suites
        ]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    for s in suites:
        print(f"{s.role}: {s.title} (the SUT plays {s.sut}; {len(s.cases)} test cases)")
        for c in s.cases:
            needs = f"  [needs: {', '.join(c.needs)}]" if c.needs else ""
            print(f"  {c.id:<18} {c.title}{needs}")
            print(f"  {'':<18} covers {', '.join(c.covers)}; {len(c.steps)} steps")
        print()
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import sys

    from eessi.conformance.report_text import LiveProgress
    from eessi.conformance.reports import write_reports
    from eessi.conformance.runner import RunSettings, run_suite
    from eessi.conformance.suite import load_suite, shipped_suite
    from eessi.directory import default_directory_path, load_directory

    suite = load_suite(shipped_suite(args.role))
    directory = load_directory(args.directory or default_directory_path())
    if args.deadline_seconds is not None and args.deadline_seconds <= 0:
        print("eessi conformance run: --deadline-seconds must be positive", file=sys.stderr)
        return 2
    settings = RunSettings(
        within=args.within,
        quiet=args.quiet,
        startup=args.startup,
        deadline_seconds=args.deadline_seconds,
    )
    # our institutions refuse and fail on purpose (the transport cases): their warnings are the
    # suite working, not news; what the SUT did is in the verdicts and the reports
    logging.getLogger("eessi").setLevel(logging.ERROR)
    print(f"Conformance ({args.role}): {suite.title}; SUT {args.sut}", flush=True)
    result = asyncio.run(
        run_suite(
            suite,
            directory,
            args.sut,
            only=args.only,
            schemas=args.schemas,
            settings=settings,
            progress=LiveProgress(),
        )
    )
    paths = write_reports(result, args.report_dir)
    print()
    print(
        f"{result.summary()} in {result.seconds:.1f} s: {'PASSED' if result.passed else 'FAILED'}"
    )
    for kind, path in paths.items():
        print(f"  {kind:<6} {path}")
    return 0 if result.passed else 1
