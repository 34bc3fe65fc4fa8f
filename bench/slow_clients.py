"""Figures: how long slow clients hold a node's connections (issue 9.3), default limits.

Run: ``.venv/bin/python bench/slow_clients.py [--half-sent 200] [--header-timeout S]
[--body-timeout S]``.

A CNS and the Portuguese fund run on loopback (real HTTP, SQLite journals) with the default
``NodeOptions`` unless told otherwise. Against the CNS, from 127.0.0.2: ``--half-sent``
connections that send half a request line and headers and then nothing, and (from 127.0.0.3)
one request whose body trickles at 1 byte/s. Meanwhile the fund sends a real S071. Printed:
when the S071 was receipted, and how long after opening the half-sent connections and the
trickle were closed by the node (min / median / max over the half-sent ones).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eessi.directory import default_directory_path, load_directory  # noqa: E402
from eessi.journal.base import Direction, MessageStatus  # noqa: E402
from eessi.node.inputs import RequestEntitlement  # noqa: E402
from eessi.node.institution import NodeOptions  # noqa: E402
from eessi.node.network import Network, free_ports  # noqa: E402
from eessi.transport.limits import InboundLimits  # noqa: E402

CNS, PT = "LU:CNS00001", "PT:ISS00001"


def directory(where: Path) -> Path:
    text = default_directory_path().read_text(encoding="utf-8")
    pattern = re.compile(r"127\.0\.0\.1:87\d\d")
    ports = iter(free_ports(len(pattern.findall(text))))
    text = pattern.sub(lambda _m: f"127.0.0.1:{next(ports)}", text)
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = where / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return path


#: The slow clients' address (the fund sends from 127.0.0.1): a different peer, as in life.
ATTACKER = ("127.0.0.2", 0)


async def half_sent(host: str, port: int, t0: float) -> tuple[float, bool]:
    """Seconds until the node closed it, and whether it was refused at once (503, the cap)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=ATTACKER)
    writer.write(b"POST /as4 HTTP/1.1\r\nHost: cns\r\nContent-Le")
    try:
        answer = await reader.read()
    except ConnectionError:  # the 503 and the close raced our unread bytes: a reset
        answer = b"HTTP/1.1 503 (reset)"
    writer.close()
    return time.perf_counter() - t0, answer.startswith(b"HTTP/1.1 503")


async def trickle(host: str, port: int, t0: float) -> tuple[float, bytes]:
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.3", 0))
    writer.write(b"POST /as4 HTTP/1.1\r\nHost: cns\r\nContent-Length: 100000\r\n\r\n")
    answer = b""
    try:
        while not reader.at_eof():
            if not answer:
                writer.write(b"x")
            try:
                async with asyncio.timeout(1.0):
                    answer += await reader.read(65536)
            except TimeoutError:
                pass
    except ConnectionError:
        pass
    writer.close()
    return time.perf_counter() - t0, answer.split(b"\r\n", 1)[0]


async def run(args: argparse.Namespace) -> None:
    limits = InboundLimits()
    if args.header_timeout:
        limits = replace(limits, header_timeout=args.header_timeout)
    if args.body_timeout:
        limits = replace(limits, body_timeout=args.body_timeout)
    options = NodeOptions(inbound_limits=limits)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        d = load_directory(directory(work))
        async with Network(d, work, ids=[CNS, PT], options=options) as net:
            url = net[CNS].url or ""
            host, port = "127.0.0.1", int(url.rsplit(":", 1)[1])
            t0 = time.perf_counter()
            halves = [asyncio.create_task(half_sent(host, port, t0)) for _ in range(args.half_sent)]
            slow = asyncio.create_task(trickle(host, port, t0))
            await asyncio.sleep(0.5)  # all of them open first
            t1 = time.perf_counter()
            await net[PT].submit(RequestEntitlement("silva-luxembourg/ana"))
            async with asyncio.timeout(120):
                while True:
                    out = await net[PT].journal.messages(direction=Direction.OUT)
                    if out and out[0].status is MessageStatus.ACKNOWLEDGED:
                        break
                    await asyncio.sleep(0.01)
            receipted = time.perf_counter() - t1
            results = await asyncio.gather(*halves)
            slow_closed, slow_answer = await slow
    print(
        f"limits: header_timeout {limits.header_timeout:g} s, body_timeout"
        f" {limits.body_timeout:g} s, max_connections_per_peer"
        f" {limits.max_connections_per_peer}"
    )
    held = [t for t, busy in results if not busy]
    busy = [t for t, refused in results if refused]
    print(f"{args.half_sent} half-sent requests from 127.0.0.2:")
    if held:
        print(
            f"  {len(held)} admitted, closed by the header deadline after (s):"
            f" {min(held):.2f} / {statistics.median(held):.2f} / {max(held):.2f}"
            " (min / median / max)"
        )
    if busy:
        print(
            f"  {len(busy)} over the per-address cap: 503 and closed after at most"
            f" {max(busy):.2f} s"
        )
    print(
        f"1 byte/s trickle (127.0.0.3) closed after {slow_closed:.2f} s,"
        f" answered {slow_answer.decode()!r}"
    )
    print(f"a normal peer's S071 meanwhile: receipted {receipted:.2f} s after it was submitted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--half-sent", type=int, default=200)
    parser.add_argument("--header-timeout", type=float)
    parser.add_argument("--body-timeout", type=float)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
