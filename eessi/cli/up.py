"""``eessi up``: the CNS and the mock funds of a directory, in one process, on loopback.

Each institution listens on its directory endpoint (or, with ``--port-base N``, on ports N,
N+1... in directory order, so two networks run side by side) and journals to ``--db-dir``
(default: a temporary directory removed at exit). The URLs are printed, one line per
institution; Ctrl-C or SIGTERM stops them all cleanly (after draining what is in flight for
at most ``--drain-timeout`` seconds). Options as for ``eessi serve``
(households, seed, retries...). The mock funds are scriptable mocks (their profiles'
behaviours, the routes at ``/api/mock/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eessi.cli._help import examples

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    from eessi.cli.serve import add_node_arguments

    parser = subparsers.add_parser(
        "up",
        help="run the CNS and the mock funds of a directory in one process",
        description="Run the CNS and every mock fund of the directory (default: the one"
        " shipped) in one process on loopback, printing each institution's URL.",
        **examples(
            "eessi up",
            "eessi up --seed 7 --db-dir journals/",
            "eessi up --port-base 9100 --institution LU:CNS00001 --institution FR:CPAM5701",
            "eessi up --log-format json --log-level INFO",
            "eessi up --virtual-clock --tick 0",
        ),
    )
    parser.add_argument(
        "--db-dir",
        metavar="DIR",
        help="where the journals go, one SQLite file per institution"
        " (default: a temporary directory, removed at exit)",
    )
    parser.add_argument(
        "--institution",
        action="append",
        metavar="ID",
        help="run only this institution (repeatable; default: the CNS and all mock funds)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        metavar="N",
        help="run the institutions on ports N, N+1, ... in directory order instead of the"
        " directory's ports (admin API on the same port), so two networks run side by side",
    )
    add_node_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from eessi import event_loop

    if args.db_dir:
        db_dir = Path(args.db_dir)
        db_dir.mkdir(parents=True, exist_ok=True)
        return event_loop.run(_up(args, db_dir))
    with tempfile.TemporaryDirectory(prefix="eessi-up-") as tmp:
        return event_loop.run(_up(args, Path(tmp)))


async def _up(args: argparse.Namespace, db_dir: Path) -> int:
    import sys

    from eessi.cli.serve import (
        configure_logging,
        node_clock,
        node_options,
        node_transport,
        report_drain,
        stop_on_signals,
    )
    from eessi.directory import default_directory_path, load_directory
    from eessi.errors import ConfigError
    from eessi.gc_tuning import plan_from_env
    from eessi.mock.wiring import enable_mock, mock_controller
    from eessi.node.institution import Institution
    from eessi.node.network import Network, directory_on_ports
    from eessi.ops.logs import announce
    from eessi.ops.observe import instrument
    from eessi.ops.shutdown import drain

    stop = stop_on_signals()
    configure_logging(args)
    directory = load_directory(args.directory or default_directory_path())
    if args.port_base is not None:
        directory = directory_on_ports(directory, args.port_base)
    controller = mock_controller(directory, seed=args.seed)

    def prepare(inst: Institution) -> None:
        if inst.entry.kind == "mock":
            enable_mock(inst, controller, host=_host_of(inst.entry.endpoint))
        instrument(inst)  # logs and /metrics (docs/operations.md)

    options, clock = node_options(args), node_clock(args)  # refused before any key is made
    gc_plan = plan_from_env()  # EESSI_GC, EESSI_GC_THRESHOLD (D290)
    transport, transport_line = node_transport(args, directory, db_dir / "pki")
    network = Network(
        directory,
        db_dir,
        ids=args.institution,
        households_dir=args.households,
        seed=args.seed,
        clock=clock,
        options=options,
        synchronous=args.synchronous,
        prepare=prepare,
        fund_policies={fund: p.policy for fund, p in controller.profiles.items()},
        transport=transport,
    )

    def mock_rules_back() -> None:  # POST /api/reset: the mock funds' rules as in the profiles
        for ir_id, inst in network.institutions.items():
            if inst.entry.kind == "mock":
                controller.reset(ir_id)

    network.on_reset.append(mock_rules_back)
    try:
        try:
            await network.start()
        except ConfigError as exc:
            if exc.code == "node.cannot-listen":
                exc.hint = (
                    "another process uses that port: stop it, or run this network on other"
                    " ports with --port-base N (N, N+1, ... one per institution)"
                )
            raise
        collector = gc_plan.apply()  # start-up done: its heap frozen, fewer young collections
        n = len(network.institutions)
        announce(f"eessi up: {n} institutions, journals in {db_dir}", event="up")
        announce(f"  {transport_line}", event="transport", transport=args.transport)
        announce(f"  {collector.describe()}", event="gc", **collector.event_fields())
        if network.clock_control is not None:
            start = network.clock_control.start.isoformat()
            announce(
                f"  virtual clock at {start}: POST /api/clock on any institution moves it",
                event="virtual-clock",
            )
        for inst in network.institutions.values():
            e = inst.entry
            mock = f"  mock API {inst.url}/api/mock/" if e.kind == "mock" else ""
            announce(
                f"  {e.id:<14} {e.kind:<5} {inst.url}  (AS4 {inst.endpoint_url}){mock}  {e.name}",
                event="listening",
                institution=e.id,
                url=inst.url,
            )
        first = next(iter(network.institutions.values()), None)
        if first is not None:  # every node's /ui/ shows the whole network (docs/dashboard.md)
            announce(f"  dashboard: {first.url}/ui/", event="dashboard", url=f"{first.url}/ui/")
        announce("Ctrl-C to stop.", event="ready")
        await stop.wait()
        announce("eessi up: stopping", stream=sys.stderr, event="stopping")
        drained = await drain(list(network.institutions.values()), args.drain_timeout)
        report_drain(drained, args.drain_timeout)
    finally:
        await network.stop()
    return 0


def _host_of(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname
