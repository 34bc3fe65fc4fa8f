"""One institution as its own process, like ``eessi serve``, plus a bench-only bulk start route.

Run by ``bench/exchange.py`` for the mock fund: the same node (directory entry,
households, journal, desk, outbox, transport: ``--transport``, ``--pki``, ``--no-security`` as
for ``eessi serve``) as ``eessi serve`` builds through
:func:`eessi.node.network.open_institution`, with one extra route,
``POST /bench/start`` (a JSON list of the fund's record keys, ``household/member``): it submits
one ``RequestEntitlement`` per key, concurrently, and answers 202 once every request is
journaled. The admin API's own ``POST /api/requests/batch`` now does the same through
``eessi serve`` (``bench/exchange.py --start batch``, same CPU per case); this launcher stays
for the experiments below, which need the node built in the bench's process. Prints
``... listening on URL`` on stdout when ready; SIGTERM stops it.

Experiments: ``--option NAME=INT`` sets a :class:`~eessi.node.institution.NodeOptions` field
(``send_workers``, ``batch``); ``--timings`` prints how long journal writes, batch commits and
sends took (at exit, on stderr); ``--prototype NAME`` installs a prototype of a proposed
optimisation (``bench/support/prototypes.py``); ``--switch-interval`` sets the GIL hand-over.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


class Timings:
    """Wall time spent in a few awaited calls (``--timings``): where a message waits."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}

    def wrap(self, owner: type, name: str, label: str) -> None:
        import functools
        import time

        original = getattr(owner, name)
        calls = self.calls.setdefault(label, [])

        @functools.wraps(original)
        async def timed(*a: object, **kw: object) -> object:
            start = time.perf_counter()
            try:
                return await original(*a, **kw)
            finally:
                calls.append(time.perf_counter() - start)

        setattr(owner, name, timed)

    def install(self) -> None:
        from eessi.journal.sqlite import SqliteJournal
        from eessi.node.institution import Institution
        from eessi.transport.client import Sender

        self.wrap(SqliteJournal, "_commit_batch", "journal group commit (holds the writer lock)")
        self.wrap(SqliteJournal, "accept_inbound", "journal.accept_inbound (wait + commit)")
        self.wrap(SqliteJournal, "set_status", "journal.set_status (wait + commit)")
        self.wrap(Institution, "_commit", "node _commit: one batch transaction (holds the lock)")
        self.wrap(Institution, "_process", "node _process: one batch (desk + transaction)")
        self.wrap(Sender, "send", "Sender.send: one POST until the receipt")

    def report(self) -> str:
        import statistics

        lines = ["timings (count, median ms, p99 ms, total s):"]
        for label, values in self.calls.items():
            if not values:
                continue
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
            lines.append(
                f"  {label:55s} {len(values):6d} {1000 * statistics.median(values):8.2f}"
                f" {1000 * p99:8.2f} {sum(values):7.2f}"
            )
        return "\n".join(lines)


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from eessi.directory import load_directory
    from eessi.node.inputs import RequestEntitlement
    from eessi.node.institution import NodeOptions
    from eessi.node.network import open_institution

    if args.prototype:
        from prototypes import install

        install(args.prototype)
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    timings = Timings() if args.timings else None
    if timings is not None:
        timings.install()
    directory = load_directory(args.directory)
    entry = directory.get(args.institution)
    transport = None
    if args.transport != "legacy":  # what `eessi serve` builds (--transport, --pki, --no-security)
        from eessi.cli.serve import default_pki_beside, node_transport

        transport, _ = node_transport(args, directory, default_pki_beside(directory))
    inst = await open_institution(
        entry,
        directory,
        args.db,
        households_dir=args.households,
        options=NodeOptions(**tuned(args.option)),
        synchronous=args.synchronous,
        transport=transport,
    )

    if "gc-freeze" in args.prototype:
        # Everything built so far (households, registry, desk) is long-lived: move it out of
        # the cyclic collector's reach so that a full collection does not walk it again.
        import gc

        gc.collect()
        gc.freeze()

    async def start(request: web.Request) -> web.Response:
        keys = await request.json()
        await asyncio.gather(*(inst.submit(RequestEntitlement(str(k))) for k in keys))
        return web.json_response({"started": len(keys)}, status=202)

    inst.app.router.add_post("/bench/start", start)
    await inst.start()
    from eessi.gc_tuning import plan_from_env

    plan_from_env().apply()  # what `eessi serve` does once started (EESSI_GC, D290)
    print(f"{entry.id} ({entry.kind}) listening on {inst.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await inst.stop()
    await inst.journal.close()
    if timings is not None:
        print(timings.report(), file=sys.stderr, flush=True)


def tuned(pairs: list[str]) -> dict[str, int]:
    """``["send_workers=64", "batch=128"]`` -> NodeOptions keyword arguments (integers)."""
    out: dict[str, int] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = int(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--institution", required=True)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--households", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=INT",
        help="a NodeOptions field (send_workers, batch), for experiments",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        metavar="SECONDS",
        help="sys.setswitchinterval (GIL hand-over; default 0.005), for experiments",
    )
    parser.add_argument(
        "--prototype",
        action="append",
        default=[],
        help="install a prototype of bench/support/prototypes.py (gc-freeze)",
    )
    parser.add_argument("--timings", action="store_true", help="print call timings at exit")
    parser.add_argument("--transport", choices=("as4", "legacy"), default="as4")
    parser.add_argument("--pki", help="the network's PKI (as eessi serve --pki)")
    parser.add_argument("--no-security", action="store_true", help="AS4 without security")
    from eessi import event_loop

    event_loop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
