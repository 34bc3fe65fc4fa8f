"""``eessi trace export|show|diff``: message traces (format: ``docs/trace-format.md``).

- ``export``: write a trace from institution journals (filters: ``--case``, ``--institution``,
  ``--since``; ``--pseudonymise`` to share it);
- ``show``: the trace as a sequence diagram in the terminal, or ``--mermaid`` / ``--plantuml``;
- ``diff A B``: compare two traces message by message and field by field.

Exit codes: 0 done (``diff``: no divergence), 1 ``diff`` found divergences, 2 usage, I/O or
trace errors (a truncated or corrupted trace is refused with its line number).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eessi.trace.diff import DiffResult

from eessi.cli._help import examples

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "trace",
        help="export, show and compare message traces",
        description="Export, show and compare message traces (format: docs/trace-format.md).",
        **examples(
            "eessi trace export --journal LU-CNS00001.sqlite -o run.jsonl",
            "eessi trace show run.jsonl",
            "eessi trace diff recorded.jsonl replayed.jsonl",
        ),
    )
    sub = parser.add_subparsers(dest="trace_command", metavar="SUBCOMMAND", required=True)

    export = sub.add_parser(
        "export",
        help="write a trace from institution journals",
        **examples(
            "eessi trace export --journal LU-CNS00001.sqlite --journal FR-CPAM5701.sqlite"
            " -o run.jsonl",
            "eessi trace export --journal LU-CNS00001.sqlite --case FR-1A2B3C4D5E6F"
            " --pseudonymise -o case.jsonl",
        ),
    )
    export.add_argument(
        "--journal",
        action="append",
        required=True,
        type=Path,
        metavar="PATH",
        help="an institution's SQLite journal (repeat for several institutions)",
    )
    which = export.add_mutually_exclusive_group()
    which.add_argument("--case", metavar="ID", help="only the messages of this case")
    which.add_argument(
        "--institution", metavar="ID", help="only messages sent or received by this institution"
    )
    which.add_argument("--all", action="store_true", help="every message (the default)")
    export.add_argument(
        "--since", metavar="T", help="only messages at or after T (ISO 8601, e.g. 2026-03-02)"
    )
    export.add_argument(
        "--directory", type=Path, metavar="FILE", help="directory the run used (default: shipped)"
    )
    export.add_argument(
        "--households",
        type=Path,
        metavar="PATH",
        help="household JSON file or directory the run used (stored for replay)",
    )
    export.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON object of further run configuration (rule parameters, seeds) to store",
    )
    export.add_argument(
        "--seed", type=int, metavar="N", help="the seed the run used (eessi up --seed N)"
    )
    export.add_argument(
        "--pseudonymise",
        action="store_true",
        help="replace names, PINs, dates of birth and addresses consistently",
    )
    export.add_argument("--key", metavar="TEXT", help="pseudonymisation key (default: derived)")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    export.add_argument("--json", action="store_true", help="print a JSON summary")
    export.set_defaults(func=run_export)

    show = sub.add_parser(
        "show",
        help="the trace as a sequence diagram",
        **examples("eessi trace show run.jsonl", "eessi trace show run.jsonl --mermaid"),
    )
    show.add_argument("file", type=Path, metavar="FILE")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--mermaid", action="store_true", help="a Mermaid sequenceDiagram")
    fmt.add_argument("--plantuml", action="store_true", help="a PlantUML diagram")
    fmt.add_argument("--json", action="store_true", help="the messages as JSON (no payloads)")
    show.add_argument("--ascii", action="store_true", help="plain ASCII lines and arrows")
    show.add_argument("--width", type=int, default=120, metavar="N", help="terminal width")
    show.set_defaults(func=run_show)

    diff = sub.add_parser(
        "diff",
        help="compare two traces field by field",
        **examples(
            "eessi trace diff recorded.jsonl replayed.jsonl",
            "eessi trace diff a.jsonl b.jsonl --ignore //startDate --json",
        ),
    )
    diff.add_argument("a", type=Path, metavar="A", help="the recorded (reference) trace")
    diff.add_argument("b", type=Path, metavar="B", help="the trace to compare with it")
    add_ignore_options(diff)
    diff.add_argument("--json", action="store_true", help="print one JSON object")
    diff.set_defaults(func=run_diff)


def add_ignore_options(parser: argparse.ArgumentParser) -> None:
    """``--ignore XPATH`` (repeatable) and ``--no-default-ignore``; shared with replay."""
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="XPATH",
        help="skip this field: //name anywhere, or an absolute path (repeatable; * wildcards)",
    )
    parser.add_argument(
        "--no-default-ignore",
        action="store_true",
        help="also compare IDs and creation times (ignored by default)",
    )


def ignore_rules(args: argparse.Namespace) -> list[str]:
    from eessi.trace.fields import DEFAULT_IGNORE

    return [*([] if args.no_default_ignore else DEFAULT_IGNORE), *args.ignore]


def load(path: Path, *, quiet: bool = False) -> Any:
    """Read and check a trace, with a counter on standard error for big files (a terminal
    only, and never with ``--json``)."""
    from eessi.trace.format import Trace, TraceMessage, iter_trace
    from eessi.trace.progress import Progress

    header, items = iter_trace(path)
    messages: list[Any] = []
    inputs: list[Any] = []
    big = path.stat().st_size > 8 * 1024 * 1024
    with Progress(f"reading {path.name}", enabled=False if quiet or not big else None) as bar:
        for item in items:
            (messages if isinstance(item, TraceMessage) else inputs).append(item)
            bar.advance()
    return Trace(header, tuple(messages), str(path), tuple(inputs))


def _since(text: str | None) -> datetime | None:
    from eessi.errors import ConfigError

    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is not a date or time",
            code="cli.bad-time",
            hint="write an ISO 8601 date or time: 2026-03-02 or 2026-03-02T09:00:00+00:00",
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _json_object(path: Path) -> dict[str, Any]:
    from eessi.errors import ConfigError

    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read: {exc.strerror or exc}", code="cli.config", where=str(path)
        ) from None
    except ValueError as exc:
        raise ConfigError(
            f"not JSON: {exc}", code="cli.config", where=str(path), hint="fix the JSON"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError("expected a JSON object", code="cli.config", where=str(path))
    return value


def household_documents(path: Path) -> list[dict[str, Any]]:
    """The household files at ``path`` (a file or a directory of ``*.json``), as JSON values,
    each checked by the household loader."""
    from eessi.core.household_json import parse_household
    from eessi.errors import ConfigError

    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not path.exists():
        raise ConfigError("no household file or directory here", where=str(path))
    out: list[dict[str, Any]] = []
    for f in files:
        doc = _json_object(f)
        parse_household(doc, source=str(f))
        out.append(doc)
    return out


def run_export(args: argparse.Namespace) -> int:
    import asyncio

    from eessi.directory import load_default_directory, load_directory
    from eessi.trace.export import (
        check_journal_paths,
        cns_of,
        collect,
        collect_inputs,
        make_header,
    )
    from eessi.trace.format import write_trace
    from eessi.trace.runlog import config_from_journals

    directory = load_directory(args.directory) if args.directory else load_default_directory()
    given: dict[str, Any] = _json_object(args.config) if args.config else {}
    if args.households is not None:
        given["households"] = household_documents(args.households)
    if args.seed is not None:
        given["seed"] = args.seed
        given.pop("seeds", None)
    since = _since(args.since)
    check_journal_paths(args.journal)

    async def read() -> tuple[list[Any], list[Any], dict[str, Any]]:
        from eessi.journal import open_journal

        journals = [await open_journal(p, synchronous="NORMAL") for p in args.journal]
        try:
            messages = await collect(
                journals, case=args.case, institution=args.institution, since=since
            )
            inputs = await collect_inputs(journals, case=args.case, since=since)
            noted = await config_from_journals(journals, prefer=cns_of(directory))
            return messages, inputs, noted
        finally:
            for j in journals:
                await j.close()

    messages, inputs, noted = asyncio.run(read())
    if args.seed is not None:
        noted.pop("seeds", None)
    config = {**noted, **given}
    source = {
        "journals": [p.name for p in args.journal],
        "case": args.case,
        "institution": args.institution,
        "since": since.isoformat() if since else None,
    }
    header = make_header(directory, config=config, source=source, created=datetime.now(UTC))
    pseudonymised = 0
    if args.pseudonymise:
        from eessi.trace.format import Trace
        from eessi.trace.pseudonymise import pseudonymise_trace

        trace = pseudonymise_trace(
            Trace(header, tuple(messages), inputs=tuple(inputs)), key=args.key
        )
        header, messages, pseudonymised = trace.header, list(trace.messages), len(messages)
        inputs = list(trace.inputs)
    count = write_trace(args.output, header, messages, inputs=inputs)
    summary = {
        "output": str(args.output),
        "messages": count,
        "cases": len({m.record.conversation_id for m in messages}),
        "pseudonymised": bool(args.pseudonymise),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        extra = f", {pseudonymised} pseudonymised" if args.pseudonymise else ""
        print(f"wrote {args.output}: {count} messages in {summary['cases']} case(s){extra}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from eessi.render import sequence
    from eessi.trace.show import arrows, participants

    trace = load(args.file, quiet=args.json)
    drawn = arrows(trace.messages)
    people = participants(trace)
    if args.json:
        out = {
            "format": trace.header.format,
            "tool": trace.header.tool,
            "created": trace.header.created,
            "messages": [
                {
                    "observer": m.observer,
                    "direction": m.record.direction.value,
                    "status": m.record.status.value,
                    "message_id": m.record.message_id,
                    "sender": m.record.sender,
                    "receiver": m.record.receiver,
                    "case": m.record.conversation_id,
                    "sed": m.record.sed_type,
                    "version": m.record.sed_version,
                    "created_at": m.record.created_at.isoformat(),
                }
                for m in trace.messages
            ],
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    elif args.mermaid:
        sys.stdout.write(sequence.mermaid(drawn, people))
    elif args.plantuml:
        sys.stdout.write(sequence.plantuml(drawn, people))
    else:
        sys.stdout.write(sequence.text(drawn, people, width=args.width, unicode=not args.ascii))
        print(f"{len(drawn)} messages ({len(trace.messages)} journal records)")
    return 0


def print_result(result: DiffResult, *, as_json: bool, what: str) -> None:
    """The divergences, one line each, then a summary (or one JSON object)."""
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    for d in result.divergences:
        print(d.describe())
    verdict = "no divergence" if result.ok else f"{len(result.divergences)} divergence(s)"
    print(
        f"{what}: {result.recorded} recorded message(s), {result.now} now,"
        f" {result.paired} paired: {verdict}"
    )


def run_diff(args: argparse.Namespace) -> int:
    from eessi.trace.diff import compare

    a = load(args.a, quiet=args.json)
    b = load(args.b, quiet=args.json)
    result = compare(a.messages, b.messages, ignore=ignore_rules(args))
    print_result(result, as_json=args.json, what="diff")
    return 0 if result.ok else 1
