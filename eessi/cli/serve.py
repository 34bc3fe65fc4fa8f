"""``eessi serve --institution ID``: one institution of the directory as its own process.

So that institutions can run on separate hosts and reach each other through the directory, as
real access points do. The institution listens on its directory endpoint (``--port`` and
``--host`` override it), journals to ``--db`` (default ``<ID>.sqlite`` in the current
directory, e.g. ``LU-CNS00001.sqlite``) or to a PostgreSQL database (``--journal
postgresql://USER@HOST:PORT/DB``, docs/journal.md), and on start resumes whatever the journal holds
(pending sends, unprocessed messages). Ctrl-C or SIGTERM stops it cleanly: readiness goes
false, what is in flight is drained for at most ``--drain-timeout`` seconds (the rest stays
journaled), then it stops (:mod:`eessi.ops.shutdown`). A mock fund is a
scriptable mock (its profile's behaviours, the routes at ``/api/mock/``). Once started it
freezes its start-up heap for the garbage collector and collects the young generation less
often (``EESSI_GC``, ``EESSI_GC_THRESHOLD``: :mod:`eessi.gc_tuning`, docs/operations.md).

Debug: ``EESSI_CRASH_AT=after-accept|before-commit|after-commit[:SED]`` makes the process
SIGKILL itself at that point (for crash tests).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from eessi.node.partitions import SharedInstitution

from eessi.cli._help import examples

__all__ = ["add_node_arguments", "register", "report_drain", "run"]


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """Options ``serve`` and ``up`` share."""
    parser.add_argument(
        "--directory",
        metavar="FILE",
        help="directory TOML file (default: the one shipped with eessi-sim)",
    )
    parser.add_argument(
        "--households",
        metavar="DIR",
        help="directory of household JSON files the CNS insures and the funds know"
        " (default: the examples shipped with eessi-sim)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        help="seed IDs and retry jitter (reproducible runs; the institution ID is mixed in, so"
        " two institutions given one seed still draw different IDs)",
    )
    parser.add_argument(
        "--synchronous",
        choices=("FULL", "NORMAL"),
        default="FULL",
        help="journal durability: FULL survives power loss (default), NORMAL a killed process",
    )
    parser.add_argument(
        "--tick",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="check reply deadlines (reminders) every SECONDS; 0 turns it off (default 60)",
    )
    parser.add_argument(
        "--retry-attempts",
        type=int,
        default=6,
        metavar="N",
        help="attempts per outbound message before it is marked failed (default 6)",
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="first retry delay, doubled at each retry, with jitter (default 0.5)",
    )
    parser.add_argument(
        "--parked-expiry",
        type=float,
        default=86_400.0,
        metavar="SECONDS",
        help="a document whose case (or answered document) stays unknown this long expires:"
        " journaled expired, its sender answered with an X050; 0 turns it off (default 86400)",
    )
    parser.add_argument(
        "--virtual-clock",
        nargs="?",
        const="now",
        metavar="START",
        help='a clock that moves only when told (POST /api/clock {"advance": "P2M"}),'
        " starting at START (ISO 8601 date-time; default: now, to the second); with up, every"
        " institution shares it",
    )
    parser.add_argument(
        "--transport",
        choices=("as4",),
        default="as4",
        help="as4 (the default and the only wire): eDelivery AS4 (docs/as4.md); the AS4-like"
        " envelope with an HMAC of earlier versions is retired (D167); --no-security for fast"
        " local runs",
    )
    parser.add_argument(
        "--pki",
        metavar="DIR",
        help="the network's test PKI for AS4 security, created there at the first start if"
        " missing (default: the P-Mode file's pki, else up: DB-DIR/pki, serve: pki/ beside"
        " the directory file, or ./eessi-pki for the shipped directory)",
    )
    parser.add_argument(
        "--no-security",
        action="store_true",
        help="AS4 without signing or encryption whatever the P-Modes say (no keys needed;"
        " fast local simulation)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C, wait at most SECONDS for the messages in flight to be"
        " processed and sent before stopping (what is left stays journaled for the next"
        " start); 0 stops at once (default 5)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log each message in and out and each decision (same as --log-level INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text (default) or as one JSON object per line (see docs/operations.md)",
    )
    parser.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        type=str.upper,
        help="least severe level logged (default WARNING; INFO: one line per message and"
        " per decision)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run one institution of the directory as its own process",
        description="Run one institution (the CNS or a mock fund) on its directory endpoint,"
        " journaling to a SQLite file (--db) or a PostgreSQL database (--journal); peers are"
        " found through the directory.",
        **examples(
            "eessi serve --institution LU:CNS00001",
            "eessi serve --institution FR:CPAM5701 --directory my-network.toml --port 9702"
            " --db fr.sqlite --seed 7",
            "eessi serve --institution LU:CNS00001 --journal postgresql://eessi@127.0.0.1:5432/cns",
            "eessi serve --institution LU:CNS00001 --log-format json --log-level INFO",
            "eessi serve --institution LU:CNS00001 --virtual-clock 2026-01-05T09:00:00Z --tick 0",
        ),
    )
    parser.add_argument("--institution", required=True, metavar="ID", help="IR ID to run")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--db", metavar="PATH", help="journal file (default: <ID>.sqlite, here)")
    store.add_argument(
        "--journal",
        metavar="URL",
        help="journal in this PostgreSQL database instead of a file:"
        " postgresql://USER[:PASSWORD]@HOST:PORT/DB (the database must exist; its tables are"
        " created or upgraded)",
    )
    parser.add_argument(
        "--shared",
        action="store_true",
        help="one of several processes of this institution sharing its --journal (PostgreSQL)"
        " and its port: each accepts messages and admin requests; the cases are split into"
        " partitions by household, each owned by one live process, taken over by the others"
        " when it dies (docs/deployment.md)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        metavar="N",
        help="with --shared: how many partitions the cases are split into (default 8; give"
        " every process of the institution the same N, and keep it for the journal's life)",
    )
    parser.add_argument("--port", type=int, help="listen on this port instead of the directory's")
    parser.add_argument("--host", help="listen on this address instead of the directory's")
    add_node_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eessi import event_loop

    return event_loop.run(_serve(args))


def configure_logging(args: argparse.Namespace) -> None:
    """``--log-format`` and ``--log-level`` (``-v``: ``INFO``), see :mod:`eessi.ops.logs`."""
    from eessi.ops.logs import configure_logging as configure

    level = args.log_level or ("INFO" if args.verbose else "WARNING")
    configure(level, args.log_format)


def node_transport(args: argparse.Namespace, directory: Any, default_pki: Any) -> tuple[Any, str]:
    """The eDelivery AS4 transport factory and a line saying what it is: the P-Modes beside the
    directory (or the shipped ones), checked, and the PKI (``--pki``, the P-Mode file's, else
    ``default_pki``), made there if missing (:func:`eessi.as4.startup.load_as4`)."""
    from pathlib import Path

    from eessi.as4.node_transport import as4_transport
    from eessi.as4.startup import load_as4

    network = load_as4(
        directory,
        pki_dir=Path(args.pki) if args.pki else None,
        default_pki_dir=Path(default_pki),
        security=not args.no_security,
    )
    security = f"secured, PKI {network.pki.root}" if network.pki is not None else "without security"
    return as4_transport(
        network
    ), f"transport: eDelivery AS4 ({security}; P-Modes {network.pmodes_file})"


def default_pki_beside(directory: Any) -> Any:
    """``pki/`` beside the directory file, or ``./eessi-pki`` for the shipped directory."""
    from pathlib import Path

    from eessi.directory import default_directory_path

    source = Path(directory.source) if directory.source else None
    if source is None or source.resolve() == default_directory_path().resolve():
        return Path("eessi-pki")
    return source.resolve().parent / "pki"


def node_options(args: argparse.Namespace) -> Any:
    from eessi.node.institution import NodeOptions
    from eessi.transport.client import RetryPolicy

    return NodeOptions.from_env(
        retry=RetryPolicy(max_attempts=max(1, args.retry_attempts), base_delay=args.retry_delay),
        tick_interval=args.tick or None,
        parked_expiry=args.parked_expiry if args.parked_expiry > 0 else None,
        reuse_port=bool(getattr(args, "shared", False)),
    )


def node_clock(args: argparse.Namespace) -> Any:
    """The clock ``--virtual-clock [START]`` asks for (a :class:`~eessi.clock.VirtualClock`),
    or None (the wall clock). A bad START is a :class:`~eessi.errors.ConfigError`."""
    from datetime import UTC, datetime

    from eessi.clock import VirtualClock, parse_instant
    from eessi.errors import ConfigError

    start = getattr(args, "virtual_clock", None)
    if start is None:
        return None
    if start == "now":
        return VirtualClock(datetime.now(UTC).replace(microsecond=0))
    try:
        return VirtualClock(parse_instant(start))
    except ValueError as exc:
        raise ConfigError(
            str(exc),
            where="--virtual-clock",
            hint="give an ISO 8601 date-time such as 2026-01-05T09:00:00Z (or no value: now)",
            code="cli.bad-clock",
        ) from None


def stop_on_signals() -> asyncio.Event:
    """An :class:`asyncio.Event` set by SIGINT or SIGTERM from now on.

    Install it first thing, before anything is opened: a signal that arrives during start-up
    (or just after the "listening" line, when a supervisor already sends it) then stops the
    process cleanly once started, instead of interrupting it half-way. The handlers stay
    installed while the caller shuts down, so a second signal (a terminal sends SIGINT to the
    whole process group) does not interrupt that; they go with the event loop."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def report_drain(drained: Any, within: float) -> None:
    """The line saying how the SIGTERM drain (:func:`eessi.ops.shutdown.drain`) ended."""
    import sys

    from eessi.ops.logs import announce

    if drained.complete:
        text = f"drained in {drained.seconds:.2f} s: nothing in flight"
    else:
        text = (
            f"drain bound of {within:g} s reached: {drained.in_flight} in flight left in the"
            " journal for the next start"
        )
    announce(
        text,
        stream=sys.stderr,
        event="drained",
        complete=drained.complete,
        seconds=round(drained.seconds, 3),
        left=drained.left,
    )


async def _serve(args: argparse.Namespace) -> int:
    import sys

    from eessi.node.household_index import household_source, list_in_background

    # the households directory listed on a thread while the rest is imported (D150)
    listing = list_in_background(args.households) if args.households else None

    from pathlib import Path
    from urllib.parse import urlsplit

    from eessi.directory import default_directory_path, load_directory
    from eessi.errors import ConfigError
    from eessi.gc_tuning import plan_from_env
    from eessi.journal.urls import is_postgres_url, redact_url
    from eessi.node.households import load_households
    from eessi.node.network import journal_file_name, open_institution
    from eessi.ops.logs import announce
    from eessi.ops.observe import instrument
    from eessi.ops.shutdown import drain
    from eessi.trace.runlog import note_run

    stop = stop_on_signals()
    configure_logging(args)
    directory = load_directory(args.directory or default_directory_path())
    entry = directory.get(args.institution)
    db: str | Path
    if args.journal is not None:
        if not is_postgres_url(args.journal):
            raise ConfigError(
                f"--journal takes a PostgreSQL URL, not {args.journal!r}",
                where="--journal",
                hint="write postgresql://USER@HOST:PORT/DB, or give a SQLite file with --db",
            )
        db, shown = args.journal, redact_url(args.journal)
    else:
        db = Path(args.db) if args.db else Path(journal_file_name(entry.id))
        shown = str(db)
    if args.shared and args.journal is None:
        raise ConfigError(
            "--shared needs a PostgreSQL journal that the processes share",
            where="--shared",
            hint="give every process of the institution the same --journal postgresql://...",
            code="cli.shared-needs-journal",
        )
    if args.partitions is not None and not args.shared:
        raise ConfigError(
            "--partitions splits the cases of processes started with --shared",
            where="--partitions",
            hint="add --shared (and the same --partitions) to every process of the institution",
            code="cli.partitions-need-shared",
        )
    if args.shared and entry.kind == "mock":
        raise ConfigError(
            f"{entry.id} is a mock fund: its scripted behaviours (rules and their counts, held"
            " and delayed messages, random draws) live in one process's memory",
            where="--shared",
            hint="run a mock fund as one process (without --shared); for more load than one"
            " fund process gives, add fund institutions to the directory and run one process"
            " each (bench/shared.py drives the CNS with two; docs/deployment.md)",
            code="cli.shared-mock",
        )
    controller = None
    if entry.kind == "mock":  # its modules imported only for a mock fund (D187)
        from eessi.mock.wiring import mock_controller

        controller = mock_controller(directory, seed=args.seed)
    profile = controller.profiles.get(entry.id) if controller is not None else None
    options, clock = node_options(args), node_clock(args)  # refused before any key is made
    gc_plan = plan_from_env()  # EESSI_GC, EESSI_GC_THRESHOLD (D290): refused before start too
    transport, transport_line = node_transport(args, directory, default_pki_beside(directory))
    # a directory given: listed and indexed, each household read when first looked up (D150)
    people = (
        household_source(args.households, listing=listing())
        if args.households and listing is not None
        else load_households(None)
    )
    inst = await open_institution(
        entry,
        directory,
        db,
        households=people,
        seed=args.seed,
        clock=clock,
        options=options,
        synchronous=args.synchronous,
        host=args.host,
        fund_policy=profile.policy if profile is not None else None,
        transport=transport,
    )
    note_run(inst, households=people, seed=args.seed)
    shared: SharedInstitution | None = None
    try:  # whatever fails from here on, what was opened is closed (the process then exits)
        if controller is not None:  # a mock fund: its profile's behaviours, /api/mock/ routes
            from eessi.mock.wiring import enable_mock

            enable_mock(inst, controller, host=args.host or urlsplit(entry.endpoint).hostname)
        metrics = instrument(inst)
        if not args.shared:  # POST /api/reset: this process back to the start
            from functools import partial

            from eessi.node.admin_reset import attach_lone_reset

            back = [partial(controller.reset, entry.id)] if controller is not None else []
            attach_lone_reset(inst, db, synchronous=args.synchronous, before=back)
        if args.shared:  # partitions of the cases, shared with the other processes
            from eessi.node.partitions import PARTITIONS, SharedInstitution

            shared = SharedInstitution(
                inst,
                partitions=args.partitions or PARTITIONS,
                seed=args.seed,
                transport=transport,
                host=args.host,
                synchronous_commit=args.synchronous == "FULL",
                metrics=metrics,
            )
            await shared.start(host=args.host, port=args.port)
        else:
            await inst.start(host=args.host, port=args.port)
        collector = gc_plan.apply()  # start-up done: its heap frozen, fewer young collections
        announce(
            f"{entry.id} ({entry.kind}) listening on {inst.url}"
            f" (AS4 {inst.endpoint_url}, admin {inst.url}/api/, journal {shown})",
            event="listening",
            institution=entry.id,
            url=inst.url,
        )
        announce(f"  {transport_line}", event="transport", transport=args.transport)
        announce(f"  {collector.describe()}", event="gc", **collector.event_fields())
        await stop.wait()
        announce(f"{entry.id}: stopping", stream=sys.stderr, event="stopping")
        nodes = [inst, *(shared.nodes if shared is not None else ())]
        report_drain(await drain(nodes, args.drain_timeout), args.drain_timeout)
    finally:
        if shared is not None:
            await shared.stop()
        await inst.stop()
        await inst.journal.close()
    return 0
