"""Benchmark: what unauthenticated posts cost a node's journal (issue 9.2).

Run: ``.venv/bin/python bench/unsigned_posts.py [--posts 1000] [--size 1046000] [--runs 3]
[--baseline COMMIT --baseline-posts 100]``.

A real node (the CNS, SQLite journal, ``synchronous=NORMAL``) runs in its own process on a free
loopback port; this process posts ``--posts`` bodies of ``--size`` bytes (a valid envelope from a
listed fund, a SED padded with a comment, **no signature**) with 4 in flight, from one address.
Printed per configuration, min / median / max over ``--runs`` runs: journal growth in bytes
(database + WAL files; the WAL is checkpointed at about 4 MB and reused, so under many small
commits it is the larger part of a short run's growth), answers by HTTP status (``closed``: the
server closed the connection before the client had sent the whole body, as it may after a 429),
the node's refusal counters, and the server's CPU per post (from ``/proc/<pid>/stat``).

Configurations:

* ``limited``: the default limits (refusal bucket 20, 1/s): refusals past the bucket get 429
  before the body is read and are not recorded;
* ``unlimited``: the bucket made huge: every post is read, refused and recorded (the bounded
  summary alone, D35);
* ``baseline`` (with ``--baseline COMMIT``): the node of that commit (e.g. main before issue 9),
  extracted with ``git archive`` into a temporary directory, with ``--baseline-posts`` posts;
  its growth is also given scaled to ``--posts``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from eessi.transport.envelope import UserMessage, encode  # noqa: E402
from eessi.transport.framing import frame  # noqa: E402

CNS, FR = "LU:CNS00001", "FR:CPAM5701"
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: The node process: the CNS of the shipped directory on a free loopback port. Works against
#: older checkouts too (options it does not know are left out). Prints its URL, then, when
#: stdin closes, its counters.
SERVER = r"""
import asyncio, dataclasses, json, re, socket, sys
from pathlib import Path
from eessi.directory import default_directory_path, load_directory
from eessi.node.institution import NodeOptions
from eessi.node.network import Network

def loopback_directory(workdir):
    text = default_directory_path().read_text(encoding="utf-8")
    socks = []
    def free(_m):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
        return f"127.0.0.1:{s.getsockname()[1]}"
    text = re.sub(r"127\.0\.0\.1:87\d\d", free, text)
    for s in socks:
        s.close()
    text = re.sub(r'(?m)^admin = "[^"]*"\n', "", text)
    path = Path(workdir) / "directory.toml"
    path.write_text(text, encoding="utf-8")
    return load_directory(path)

async def main(workdir, burst):
    known = {f.name for f in dataclasses.fields(NodeOptions)}
    extra = {}
    if burst and "inbound_limits" in known:  # the limits in one field (D381)
        from eessi.transport.limits import InboundLimits

        extra = {"inbound_limits": InboundLimits(refusal_burst=burst, refusal_rate=1.0)}
    elif burst and "refusal_burst" in known:  # a tree from before D381
        extra = {"refusal_burst": burst, "refusal_rate": 1.0}
    options = NodeOptions(bind_admin=False, **extra)
    directory = loopback_directory(workdir)
    async with Network(directory, Path(workdir) / "db", ids=["LU:CNS00001"], options=options,
                       synchronous="NORMAL") as net:
        node = net["LU:CNS00001"]
        print(json.dumps({"url": node.endpoint_url}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        counters = dict(getattr(node.endpoint, "counters", {}))
        counters["node_refused"] = node.stats.get("refused", 0)
    print(json.dumps(counters), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def body(size: int) -> tuple[bytes, str]:
    sed = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<S071 xmlns="http://ec.europa.eu/eessi/ns/4_4/S071"><!--'
        + b"x" * max(0, size - 200)
        + b"--></S071>\n"
    )
    message = UserMessage.for_payload(
        sed,
        message_id="unsigned-0001",
        timestamp=datetime.now(UTC),
        from_party=FR,
        to_party=CNS,
        conversation_id="FR-00000000CAFE",
        sed_type="S071",
        sed_version="4.4",
    )
    framed = frame(encode(message), sed, boundary_seed=message.payload_digest)
    return framed.body, framed.content_type


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def journal_size(workdir: Path, *, wal: bool | None = None) -> int:
    """Bytes of the journal files (``wal``: only the WAL files, or only the others)."""
    return sum(
        p.stat().st_size
        for p in (workdir / "db").rglob("*")
        if p.is_file() and (wal is None or wal == p.name.endswith(("-wal", "-shm")))
    )


async def post_all(url: str, data: bytes, content_type: str, posts: int) -> Counter[str]:
    answers: Counter[str] = Counter()
    queue = iter(range(posts))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            try:
                async with session.post(
                    url, data=data, headers={"Content-Type": content_type}
                ) as resp:
                    await resp.read()
                    answers[str(resp.status)] += 1
            except (aiohttp.ClientError, ConnectionError):
                answers["closed"] += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(4)))
    return answers


def run_once(
    code_root: Path, burst: int, posts: int, data: bytes, content_type: str
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="unsigned-posts-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(code_root)}
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(workdir), str(burst)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=code_root,
            env=env,
            text=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        before = journal_size(workdir)
        before_db = journal_size(workdir, wal=False)
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        answers = asyncio.run(post_all(url, data, content_type, posts))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        grown = journal_size(workdir) - before
        grown_db = journal_size(workdir, wal=False) - before_db
        proc.stdin.close()
        counters = json.loads(proc.stdout.readline())
        proc.wait(timeout=60)
    return {
        "growth": grown,
        "growth_db": grown_db,
        "answers": dict(answers),
        "counters": counters,
        "cpu_ms_per_post": 1000 * cpu / posts,
        "wall": wall,
    }


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--size", type=int, default=1_046_000, help="bytes per SED (body < 1 MiB)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", help="a commit to compare with (git archive)")
    parser.add_argument("--baseline-posts", type=int, default=100)
    args = parser.parse_args()
    data, content_type = body(args.size)
    print(f"{args.posts} unsigned posts of {len(data):,} bytes each, 4 in flight, one address")
    print("min / median / max of", args.runs, "runs")
    configs: list[tuple[str, Path, int, int]] = [
        ("limited (default bucket 20, 1/s)", ROOT, 0, args.posts),
        ("unlimited (bucket 10^9)", ROOT, 10**9, args.posts),
    ]
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.baseline:
        tmp = tempfile.TemporaryDirectory(prefix="unsigned-posts-base-")
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp.name], input=archive, check=True)
        configs.append((f"baseline {args.baseline}", Path(tmp.name), 0, args.baseline_posts))
    try:
        for name, code_root, burst, posts in configs:
            runs = [run_once(code_root, burst, posts, data, content_type) for _ in range(args.runs)]
            growth = [float(r["growth"]) for r in runs]  # type: ignore[arg-type]
            print(f"\n{name}: {posts} posts")
            print(f"  journal growth, bytes:      {spread(growth)}")
            db = [float(r["growth_db"]) for r in runs]  # type: ignore[arg-type]
            print(f"    of it the database file:  {spread(db)}  (the rest: WAL, bounded)")
            if posts != args.posts:
                scaled = [g * args.posts / posts for g in growth]
                print(f"  scaled to {args.posts} posts:      {spread(scaled)}")
            cpu = [float(r["cpu_ms_per_post"]) for r in runs]  # type: ignore[arg-type]
            print(f"  server CPU per post, ms:    {spread(cpu, '{:.2f}')}")
            wall = [float(r["wall"]) for r in runs]  # type: ignore[arg-type]
            print(f"  wall time, s:               {spread(wall, '{:.1f}')}")
            print(f"  answers (last run):         {runs[-1]['answers']}")
            print(f"  node counters (last run):   {runs[-1]['counters']}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
