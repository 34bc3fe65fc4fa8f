"""``eessi replay FILE``: replay a trace and report every divergence from what it recorded.

Fresh institutions are built from the trace's own directory and configuration, fed the recorded
inbound documents and submitted inputs through the same code path as live traffic (eDelivery
AS4 on loopback, signed and encrypted with a test PKI made for the replay; journal, desk), with
a virtual clock and seeded IDs; what they send is compared field by field with what the trace
recorded (IDs and creation times ignored by default). ``--transport twin`` does the same in
memory. ``--target URL`` plays the peers of one side against a live system instead, over AS4
with the target's P-Modes (beside ``--directory``) and PKI (``--pki``).

Exit codes: 0 no divergence, 1 divergences (or inputs refused now), 2 usage or trace errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eessi.cli._help import examples

__all__ = ["register"]


def register(subparsers: Any) -> None:
    from eessi.cli.trace import add_ignore_options

    parser = subparsers.add_parser(
        "replay",
        help="replay a trace and report divergences",
        description="Replay a trace and report every divergence from what it recorded"
        " (exit 0: none, 1: divergences, 2: usage or trace errors).",
        **examples(
            "eessi replay run.jsonl",
            "eessi replay run.jsonl --offline --json",
            "eessi replay run.jsonl --transport twin",
            "eessi replay run.jsonl --side LU:CNS00001 --target http://127.0.0.1:9001/as4"
            " --directory my-network.toml --pki db/pki",
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the trace to replay")
    parser.add_argument(
        "--side",
        action="append",
        metavar="ID",
        help="replay only this institution (repeatable; default: every one the trace recorded)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON object whose keys replace the trace's configuration (e.g. rules)",
    )
    add_ignore_options(parser)
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        metavar="X",
        help="wait the recorded gaps divided by X (default 0: delays pass instantly)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write the replay's own trace here"
    )
    parser.add_argument(
        "--target",
        metavar="URL",
        help="post one side's recorded inbound messages to a live system at URL (needs --side"
        " and --directory)",
    )
    parser.add_argument(
        "--directory",
        type=Path,
        metavar="FILE",
        help="with --target: the directory with the peers' endpoints and real credentials",
    )
    parser.add_argument(
        "--transport",
        choices=("as4", "twin"),
        default=None,
        help="as4 (default): the replayed institutions and their stand-in peers speak"
        " eDelivery AS4 on loopback, signed and encrypted with a test PKI made for the replay;"
        " twin: in memory, no HTTP and no wire checks (faster). --target is always AS4",
    )
    parser.add_argument(
        "--pki",
        type=Path,
        metavar="DIR",
        help="with --target: the test PKI the target runs with (eessi up: DB-DIR/pki; eessi"
        " serve: pki/ beside the directory file, or ./eessi-pki); default: the P-Mode file's",
    )
    parser.add_argument(
        "--no-security",
        action="store_true",
        help="AS4 without signing or encryption (with --target: the target runs so)",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=5.0,
        metavar="S",
        help="with --target: seconds of silence before comparing (default 5)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="documents through the desks only (no HTTP, no journal): fast, less faithful",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        metavar="N",
        help="with --offline: replay the sides in up to N processes at once (default 2)",
    )
    parser.add_argument(
        "--show",
        action="store_true",
        help="also draw the recorded exchange, marking the messages that diverge",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from eessi.cli.trace import _json_object, ignore_rules, load, print_result
    from eessi.errors import ConfigError
    from eessi.trace.format import write_trace
    from eessi.trace.progress import Progress
    from eessi.trace.replay import replay_against, replay_trace, timeline

    if args.speed < 0:
        raise ConfigError("--speed cannot be negative", hint="use 0 (instant) or a multiple")
    trace = load(args.file, quiet=args.json)
    config: dict[str, Any] | None = None
    if args.config is not None:
        config = {**trace.header.config, **_json_object(args.config)}
    sides = args.side
    total = sum(len(timeline(trace, s)) for s in (sides or _observers(trace)))
    bar = Progress("replaying", total, enabled=False if args.json else None)
    done: dict[str, int] = {}

    def progress(side: str, n: int, _of: int) -> None:
        bar.advance(n - done.get(side, 0))
        done[side] = n

    if args.offline:
        return _offline(args, trace, config)
    if args.target is None and args.pki is not None:
        raise ConfigError(
            "--pki is for --target (the PKI a live target runs with)",
            hint="an offline replay makes its own test PKI; leave --pki out",
        )
    with bar:
        if args.target is not None:
            if not sides or len(sides) != 1 or args.directory is None:
                raise ConfigError(
                    "--target needs exactly one --side and a --directory",
                    hint="e.g. eessi replay t.jsonl --target http://host:8701/as4"
                    " --side LU:CNS00001 --directory real-directory.toml --pki db/pki",
                )
            if args.transport == "twin":
                raise ConfigError(
                    "--target speaks eDelivery AS4 to a live system; --transport twin is"
                    " in memory only",
                    hint="leave --transport out (or give --transport as4) with --target",
                )
            from eessi.directory import load_directory
            from eessi.trace.as4peers import target_network

            directory = load_directory(args.directory)
            as4 = target_network(directory, pki=args.pki, security=not args.no_security)
            result = asyncio.run(
                replay_against(
                    trace,
                    side=sides[0],
                    url=args.target,
                    directory=directory,
                    as4=as4,
                    ignore=ignore_rules(args),
                    wait=args.wait,
                    progress=progress,
                )
            )
        else:
            result = asyncio.run(
                replay_trace(
                    trace,
                    sides=sides,
                    config=config,
                    ignore=ignore_rules(args),
                    speed=args.speed,
                    progress=progress,
                    transport=args.transport or "as4",
                    security=not args.no_security,
                )
            )
    if args.output is not None:
        out = result.output
        write_trace(args.output, out.header, out.messages, inputs=out.inputs)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        if args.show:
            _draw(trace, result.comparison)
        for note in result.notes:
            print(f"note: {note}")
        print_result(
            result.comparison,
            as_json=False,
            what=f"replay of {', '.join(result.sides)} ({result.fed} message(s) fed,"
            f" {result.submitted} input(s) submitted)",
        )
    if not result.ok and not args.json:
        why = (
            "the target dropped duplicates: reset it and replay again"
            if getattr(result, "duplicates", ())
            else "divergences found"
        )
        print(why, file=sys.stderr)
    return 0 if result.ok else 1


def _offline(args: argparse.Namespace, trace: Any, config: dict[str, Any] | None) -> int:
    from eessi.cli.trace import ignore_rules, print_result
    from eessi.errors import ConfigError
    from eessi.trace.offline import replay_offline

    if args.target is not None or args.output is not None:
        raise ConfigError(
            "--offline cannot be combined with --target or -o",
            hint="an offline replay writes no journal, so there is no trace to write",
        )
    if args.transport is not None or args.pki is not None or args.no_security:
        raise ConfigError(
            "--offline feeds the desks directly: no transport, keys or security to choose",
            hint="leave --transport, --pki and --no-security out, or drop --offline",
        )
    if args.processes < 1:
        raise ConfigError(
            f"--processes must be at least 1, not {args.processes}",
            hint="use --processes 1 to replay every side in this process",
        )
    result = replay_offline(
        trace,
        sides=args.side,
        config=config,
        ignore=ignore_rules(args),
        processes=args.processes,
    )
    if args.json:
        out = {
            **result.comparison.to_dict(),
            "ok": result.ok,
            "offline": True,
            "sides": list(result.sides),
            "fed_messages": result.fed,
            "submitted_inputs": result.submitted,
            "notes": list(result.notes),
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for note in result.notes:
            print(f"note: {note}")
        print_result(
            result.comparison,
            as_json=False,
            what=f"offline replay of {', '.join(result.sides)} ({result.fed} message(s) fed,"
            f" {result.submitted} input(s) submitted)",
        )
    return 0 if result.ok else 1


def _draw(trace: Any, comparison: Any) -> None:
    """The recorded sequence diagram, each diverging message marked (missing or how many
    fields differ)."""
    from eessi.render import sequence
    from eessi.trace.show import arrows, participants

    missing: set[tuple[str, str]] = set()
    fields: dict[tuple[str, str], int] = {}
    for d in comparison.divergences:
        if d.index is None:
            continue
        r = trace.messages[d.index - 1].record
        key = (r.sender, r.message_id)
        if d.kind == "missing":
            missing.add(key)
        else:
            fields[key] = fields.get(key, 0) + 1
    marks = {key: f"<< {n} field(s) differ" for key, n in fields.items()}
    marks.update(dict.fromkeys(missing, "<< MISSING NOW"))
    sys.stdout.write(sequence.text(arrows(trace.messages, notes=marks), participants(trace)))


def _observers(trace: Any) -> list[str]:
    seen: list[str] = []
    for m in trace.messages:
        if m.observer not in seen:
            seen.append(m.observer)
    return seen
