"""Benchmark: a mock fund's inbound hop against a bare aiohttp server, same run (issue 13).

Run: ``.venv/bin/python bench/inbound.py [--runs 3] [--concurrency 16,64] [--seconds 5]``.

**The mock fund.** ``FR:CPAM5701`` runs as ``python -m eessi serve`` (its own process, SQLite
journal with ``synchronous=FULL``, free loopback ports). This process posts **distinct signed
SEDs** to it: each an S072 sent unasked by the CNS (``S_BUC_01A``, rule R14), under a fresh
message ID and case ID, framed and HMAC-signed as the CNS (``eessi.transport.client.Sender``),
``C`` in flight. The fund authenticates the message, validates the SED, journals it durably
and answers the receipt; its desk then processes it (a new case, the person registered) and it
sends its answer (an S073, or an X001 closing the case when the S072 does not confirm) back
to the CNS, played here by a receipt-only endpoint in this process (the real
``InboundEndpoint``: it checks the signature and answers a signed receipt). So one request costs
the fund everything a real inbound SED costs: authentication, validation, a durable accept, the
receipt, decoding, the desk, a durable batch transaction, and the answer's send and receipt.
After the window the bench waits until every posted SED is processed and every answer
acknowledged, and checks the fund's journal for that.

**The bare baseline, same run.** ``bench/exchange.py --bare-serve``: an aiohttp server process
that, per POST, parses the body with the same hardened lxml parser, validates it against the
same compiled schema and answers a small receipt; driven with the same S072 bytes (the SED
alone, no envelope), ``C`` in flight, for the same window.

**Figures**, each min / median / max over ``--runs`` runs (both servers fresh in every run):
requests/s answered in the window; p50 / p99 latency (POST to receipt); the server's CPU per
request from ``/proc`` (for the fund: its CPU from the window's start until everything posted was
processed and answered and the fund was idle again, divided by the requests posted, so work left
queued at the window's end is counted); its RSS at the end; and the ratios fund / bare of the
rates and of the CPU per request (bare CPU / fund CPU: 1.0 would be as cheap as bare). Goal
(issue 13): ratio >= 0.5. The machine is shared: read the CPU per request and the ratios, not
the absolute rates.

**The fund's window is steady state, every cost in proportion (D460).** It is ``--requests``
requests (default 2,000: two of the node's checkpoint periods of 1,000 inputs), not a time: a
window of a whole number of checkpoint periods holds exactly that many checkpoints whatever the
rate (a 5 s window held one checkpoint of ≈ 0.13 s or none, ±0.3-0.9 ms per request at a loaded
machine's rates); it ends when everything posted is settled *and* the fund's CPU has gone flat
(:func:`wait_idle`: what the requests left behind, e.g. a checkpoint or a lingering status
write, is counted in the window that caused it). Each run's window is broken down
(``bench/fund_windows.py``, from ``bench/answer_probe/timeline.py`` in the fund and ``/proc``):
CPU per request by thread (loop, journal writer, others) with user / system time and context
switches, the checkpoints and the collections per generation that fell in it and their CPU,
group commits per SED, inputs per worker batch, WAL resets, connections accepted and opened,
retried sends, open cases; and two gauges of the machine in the same seconds: the CPU of a fixed
interpreted unit (``fund_windows.speed_probe``, ≈ 1 % of a core) and **the bench process's own
CPU per request** (its clients' AS4 build and receipt check and the CNS stand-in: fixed work per
request), and fund / bench. ``--series N``: N windows one after the other against one fund (no
bare servers): whether the fund's CPU per request moves with what it has served.
``--no-timeline`` runs the fund without the probe.

**Transport.** ``--transport as4`` (default, what ``eessi serve`` speaks): this process posts
eDelivery AS4 user messages signed and encrypted with the CNS's key of the network's test PKI,
and the CNS stand-in is an AS4 endpoint; a second bare baseline, **bare secured**, then also
does per POST the signature operations of an AS4 receiver (an RSA-OAEP key unwrap, AES-128-GCM
decryption, an RSA-SHA256 verification and a signed receipt, RSA-2048; ``bench/exchange.py``),
and the ratios against it are printed too (issue 13: "with eDelivery AS4 security on, the same
figures against bare parse + validate + the same signature operations"). ``--no-security``:
AS4 without signing or encryption; ``--transport legacy``: the AS4-like envelope with an HMAC.

**The same signature operations, per ``--answers`` mode** (D260). Per SED the fund does:

* always, as the AS4 receiver: the RSA-OAEP unwrap of the message's AES key (its private key),
  AES-128-GCM decryption of the SED, the RSA-SHA256 verification of the CNS's signature (a
  public-key operation; the certificate's chain is checked once per certificate, not per
  message) and the signed receipt (its private key). That is all with ``--answers silent`` (the
  mock rule drops the answer before it is built): **bare secured** does exactly these;
* with ``--answers send``, also for the answer it sends (S073, or X001): the answer signed (its
  private key, the third private-key operation per SED), encrypted for the CNS (a fresh
  AES-128-GCM key wrapped with RSA-OAEP under the CNS's public key), and the CNS's signed
  receipt of it verified (a public-key operation). A fourth baseline, **bare sec+ans**
  (:func:`bare_answering_serve`), does per POST what bare secured does plus exactly these
  (:func:`answering`), and the ratios against it are printed for ``send``; bare secured stays
  printed beside it. Nothing else is added to it: not the answer's encoding, compression, HTTP
  send or journal writes (the fund's own work, which the ratio measures), and the receipt it
  verifies was signed before the window (the CNS's work, not the fund's).

**Profiling.** ``--profile pyspy`` attaches ``py-spy record`` (``pip install py-spy``, not a
dependency) to the fund for the measured window of each level's first run and prints its time by
subsystem, thread and function, as ``bench/exchange.py --profile pyspy`` does (the profiler's
own cost lands in that run's figures: compare ratios without it). ``--profile answer`` puts
``bench/answer_probe/sitecustomize.py`` on the fund's ``PYTHONPATH``: it adds up the thread CPU
time of each step of the answer path (the outbox's build: SED encode, mock rules, AS4 envelope;
its send: POST, receipt check, status write) per call over every run, warm-up included, and the
bench prints it per answer (the probe's own cost, two reads of the thread's CPU clock per wrapped
call and per coroutine step, about 2 µs each here, is in the figures: compare ratios without it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from exchange import (  # noqa: E402
    RECEIPT,
    PySpy,
    cpu_seconds,
    make_keys,
    percentile,
    report_pyspy,
    schema_lookup,
    sealer,
    serve_on_free_port,
    start_bare,
    unsealer,
    write_directory,
)
from fund_windows import (  # noqa: E402
    WINDOW_HEADER,
    Window,
    breakdown,
    format_detail,
    format_window,
    name_of,
    run_seconds,
    speed,
    thread_cpu,
)

from eessi.node.options import NodeOptions  # noqa: E402

CNS = "LU:CNS00001"
#: The node's checkpoint period (``NodeOptions.checkpoint_every``, inputs): the fund's windows
#: are a whole number of them, so its checkpoints fall in them in proportion (D460).
CHECKPOINT_EVERY = NodeOptions().checkpoint_every or 1000
FUND = "FR:CPAM5701"


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def s072_bodies(n: int) -> list[bytes]:
    """``n`` different S072 documents (generated examples, CDM 4.4)."""
    from eessi.sed.examples import example

    return [example("S072", "4.4", seed=i).to_xml() for i in range(n)]


@dataclass
class Figures:
    rate: float
    p50: float
    p99: float
    cpu_ms: float
    rss: float
    requests: int
    window: Window | None = None  # the fund's breakdown (bench/fund_windows.py)


# -- the CNS stand-in: receipts for the fund's answers ----------------------------------------


async def start_sink(directory_path: Path, transport: Transport) -> tuple[web.AppRunner, list[str]]:
    """The CNS's endpoint of the directory, answering every authenticated message a receipt
    (an AS4 endpoint with the CNS's keys, or the legacy one)."""
    from eessi.directory import load_directory
    from eessi.transport.server import Inbound, InboundEndpoint, Outcome

    directory = load_directory(directory_path)
    cns = directory.get(CNS)
    received: list[str] = []

    async def on_message(inbound: Inbound) -> Outcome:
        received.append(inbound.message.sed_type)
        return Outcome.accepted()

    if transport.network is not None:
        from eessi.as4.transport import As4Endpoint

        app = As4Endpoint(
            on_message,
            CNS,
            pmodes=transport.network.pmodes,
            keys=transport.network.keys(CNS),
            accept_versions=("4.3", "4.4"),
        ).app()
    else:
        app = InboundEndpoint(
            on_message, directory.credential, CNS, accept_versions=("4.3", "4.4")
        ).app()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    match = re.match(r"http://([\d.]+):(\d+)/", cns.endpoint)
    assert match is not None
    await web.TCPSite(runner, match.group(1), int(match.group(2)), backlog=1024).start()
    return runner, received


@dataclass
class Transport:
    """What the fund and this process speak: ``args`` for ``eessi serve``; ``network`` the AS4
    P-Modes and keys (``None``: the legacy transport)."""

    args: tuple[str, ...]
    network: Any
    label: str


def transport_for(name: str, no_security: bool, work: Path, directory_path: Path) -> Transport:
    if name == "legacy":
        return Transport(("--transport", "legacy"), None, "legacy (AS4-like envelope, HMAC)")
    from eessi.as4.startup import load_as4
    from eessi.directory import load_directory

    pki = work / "pki"
    network = load_as4(
        load_directory(directory_path),
        pki_dir=pki,
        default_pki_dir=pki,
        security=not no_security,
    )
    if no_security:
        return Transport(
            ("--transport", "as4", "--no-security"), network, "eDelivery AS4 without security"
        )
    return Transport(
        ("--transport", "as4", "--pki", str(pki)),
        network,
        "eDelivery AS4, signed and encrypted (the default of eessi serve)",
    )


# -- the mock fund ------------------------------------------------------------------------------


def start_fund(
    work: Path,
    directory: Path,
    silent: bool,
    transport: Transport,
    probe: Path | None = None,
    timeline: Path | None = None,
) -> tuple[subprocess.Popen[str], str, Path]:
    db = work / "fund.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    log = work / "fund.log"
    env = None
    if probe is not None or timeline is not None:  # bench/answer_probe/sitecustomize.py
        env = dict(os.environ)
        if probe is not None:  # --profile answer
            env["EESSI_BENCH_PROBE"] = str(probe)
        if timeline is not None:  # the windows' breakdown (D460)
            timeline.unlink(missing_ok=True)
            env["EESSI_BENCH_TIMELINE"] = str(timeline)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "bench" / "answer_probe"), env.get("PYTHONPATH")) if p
        )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eessi",
            "serve",
            "--institution",
            FUND,
            "--directory",
            str(directory),
            "--db",
            str(db),
            "--synchronous",
            "FULL",
            "--tick",
            "0",
            *transport.args,
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        cwd=str(ROOT),
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the mock fund did not start: {line!r}; see {log}")
    base = match.group(1).rstrip("/")
    if silent:  # a mock rule: process every S072, send no answer (what WireMock does)
        rule = {"match": {"sed": "S072"}, "effect": "silent"}
        asyncio.run(post_json(base + "/api/mock/rules", rule))
    return proc, base + "/as4", db


async def post_json(url: str, body: object) -> None:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        if resp.status >= 300:
            raise SystemExit(f"{url}: {resp.status} {await resp.text()}")


def settled(db: Path) -> tuple[int, int]:
    """(inbound S072 processed, answers acknowledged) in the fund's journal: an S073 for a
    confirming S072, an X001 closing the case for one that does not confirm."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = dict(
            conn.execute(
                "SELECT direction || ' ' || sed_type || ' ' || status, count(*) FROM messages"
                " GROUP BY 1"
            ).fetchall()
        )
    finally:
        conn.close()
    answered = sum(n for key, n in rows.items() if key.startswith("out ") and "acknowledged" in key)
    return int(rows.get("in S072 processed", 0)), int(answered)


async def drive_fund(
    url: str,
    directory_path: Path,
    bodies: list[bytes],
    seconds: float,
    concurrency: int,
    pid: int,
    db: Path,
    silent: bool,
    transport: Transport,
    spy: PySpy | None = None,
    *,
    windows: int = 1,
    warmup: float = 1.0,
    timeline: Path | None = None,
    requests: int = 0,
) -> list[Figures]:
    """``windows`` measured windows one after the other against the same fund (after one
    warm-up of ``warmup`` seconds), each of ``requests`` requests (or ``seconds`` of posting
    if 0), until everything posted in it was settled and the fund idle (:func:`wait_idle`)."""
    from eessi.directory import load_directory
    from eessi.transport.client import RetryPolicy, Sender, SendResult
    from eessi.transport.envelope import UserMessage

    directory = load_directory(directory_path)
    credential = directory.credential(CNS)
    sink, answers = await start_sink(directory_path, transport)
    posted = 0
    latencies: list[float] = []
    deadline = 0.0
    measuring = False
    out: list[Figures] = []
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)
        ) as session:
            if transport.network is not None:
                from eessi.as4.mapping import Addressing
                from eessi.as4.transport import As4Sender

                as4 = As4Sender(
                    session,
                    CNS,
                    pmodes=transport.network.pmodes,
                    keys=transport.network.keys(CNS),
                    rng=random.Random(0),
                    policy=RetryPolicy(max_attempts=1),
                )
            else:
                assert credential is not None
                legacy = Sender(
                    session,
                    credential=credential,
                    rng=random.Random(0),
                    policy=RetryPolicy(max_attempts=1),
                )

            async def post(payload: bytes, mid: str) -> SendResult:
                """One signed S072 (built here: this process's CPU, not the fund's)."""
                now = datetime.now(UTC)
                if transport.network is not None:
                    addressing = Addressing(CNS, FUND, f"LU-{mid}", "S_BUC_01A", "S072", "4.4")
                    entity = as4.build(addressing, payload, message_id=mid, timestamp=now)
                    return await as4.send(url, entity, message_id=mid)
                message = UserMessage.for_payload(
                    payload,
                    message_id=mid,
                    timestamp=now,
                    from_party=CNS,
                    to_party=FUND,
                    conversation_id=f"LU-{mid}",
                    sed_type="S072",
                    sed_version="4.4",
                )
                return await legacy.send(url, message, payload)

            async def worker() -> None:
                nonlocal posted
                while time.perf_counter() < deadline and posted < limit:
                    payload = bodies[posted % len(bodies)]
                    posted += 1
                    mid = str(uuid.uuid4())
                    t = time.perf_counter()
                    result = await post(payload, mid)
                    if not result.ok:
                        raise SystemExit(f"the mock fund refused a SED: {result.reason}")
                    if measuring:
                        latencies.append(time.perf_counter() - t)

            limit = float("inf")
            deadline = time.perf_counter() + warmup
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            await wait_settled(db, posted, answers, silent)
            await wait_idle(pid)
            if os.environ.get("EESSI_BENCH_PIN") and timeline is not None:
                pin(os.environ["EESSI_BENCH_PIN"], pid, timeline)
            for number in range(windows):
                latencies.clear()
                cpu = run_seconds(pid)
                threads = thread_cpu(pid)
                own = sum(os.times()[:2])
                before = posted
                measuring = True
                if spy is not None and number == 0:
                    spy.start()
                mono = time.monotonic()
                start = time.perf_counter()
                if requests:  # a number of requests, whatever the time
                    deadline, limit = float("inf"), before + requests
                else:
                    deadline = start + seconds
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed = time.perf_counter() - start
                own = sum(os.times()[:2]) - own  # the posting's, not the polling's below
                await wait_settled(db, posted, answers, silent)
                await wait_idle(pid)  # what the window's requests left to do, done too
                used = run_seconds(pid) - cpu
                threads_end, mono_end = thread_cpu(pid), time.monotonic()
                measuring = False
                n = posted - before
                figures = Figures(
                    rate=len(latencies) / elapsed,
                    p50=1000 * percentile(latencies, 0.5),
                    p99=1000 * percentile(latencies, 0.99),
                    cpu_ms=1000 * used / max(n, 1),
                    rss=rss_mb(pid),
                    requests=n,
                )
                if timeline is not None:
                    await asyncio.sleep(0.25)  # the timeline's last samples of the window
                    figures.window = breakdown(
                        timeline, pid, mono, mono_end, threads, threads_end, n
                    )
                    figures.window.unit_us = speed(timeline.with_suffix(".speed"), mono, mono_end)
                    figures.window.bench_ms = 1000 * own / max(n, 1)
                out.append(figures)
    finally:
        await sink.cleanup()
        if spy is not None:
            spy.wait()
    return out


async def wait_settled(
    db: Path, posted: int, answers: list[str], silent: bool, limit: float = 120
) -> None:
    """Until the fund has processed every posted SED and had every answer acknowledged."""
    end = time.perf_counter() + limit
    while True:
        processed, acknowledged = settled(db)
        if processed >= posted and (silent or acknowledged >= posted):
            return
        if time.perf_counter() > end:
            raise SystemExit(
                f"JOURNAL CHECK FAILED: {processed} of {posted} S072 processed, {acknowledged}"
                f" answers acknowledged ({len(answers)} received) after {limit:g} s"
            )
        await asyncio.sleep(0.02)


def pin(spec: str, pid: int, timeline: Path) -> None:
    """``EESSI_BENCH_PIN=loop=0,writer=1,bench=1`` (an experiment, D460): each named thread of
    the fund (``loop``, ``writer``, ``other``) and this process (``bench``) on those CPUs."""
    wanted = dict(part.split("=") for part in spec.split(","))
    names: dict[int, str] = {}
    for line in timeline.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("event") == "threads":
            names.update({int(k): v for k, v in record["threads"].items()})
    for tid in thread_cpu(pid):
        name = name_of(tid, pid, names)
        if name in wanted:
            os.sched_setaffinity(tid, {int(c) for c in wanted[name].split("+")})
    if "bench" in wanted:
        for task in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(task), {int(c) for c in wanted["bench"].split("+")})
    print(f"  pinned: {spec}", flush=True)


async def wait_idle(pid: int, quiet: float = 0.002, span: float = 0.1, limit: float = 30) -> None:
    """Until the fund used at most ``quiet`` s of CPU in ``span`` s: the work its requests left
    behind once they are settled (a checkpoint, lingering status writes, a group commit) is
    done and counted in the window that caused it, not in the next one, nor in none."""
    end = time.perf_counter() + limit
    last = run_seconds(pid)
    while time.perf_counter() < end:
        await asyncio.sleep(span)
        now = run_seconds(pid)
        if now - last <= quiet:
            return
        last = now


# -- the bare server ------------------------------------------------------------------------------


async def drive_bare(
    url: str, bodies: list[bytes], seconds: float, concurrency: int, pid: int
) -> Figures:
    latencies: list[float] = []
    deadline = 0.0
    measuring = False
    done = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        headers = {"Content-Type": "application/xml"}

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                body = bodies[done % len(bodies)]
                done += 1
                t = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise SystemExit(f"the bare server answered {resp.status}")
                if measuring:
                    latencies.append(time.perf_counter() - t)

        deadline = time.perf_counter() + 1.0
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu = cpu_seconds(pid)
        measuring = True
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        used = cpu_seconds(pid) - cpu
    return Figures(
        rate=len(latencies) / elapsed,
        p50=1000 * percentile(latencies, 0.5),
        p99=1000 * percentile(latencies, 0.99),
        cpu_ms=1000 * used / max(len(latencies), 1),
        rss=rss_mb(pid),
        requests=len(latencies),
    )


def answering(where: Path) -> Any:
    """``answer(n)``: the signature operations a fund does for the answer it sends to the
    ``n``-th SED, with the keys of :func:`exchange.make_keys` in ``where`` (the bare server's are
    the fund's, the client's the CNS's): the answer (an S073, as the fund's desk writes it) signed
    with the server's key (RSA-SHA256, PKCS#1 v1.5: its private key), encrypted for the client
    (a fresh AES-128-GCM key wrapped with RSA-OAEP SHA-256 under the client's public key), and
    the client's signed receipt of it verified (RSA-SHA256 under the client's public key). The
    receipts are signed here once, before the window, with the client's key: verifying one costs
    the same whoever signed it when; signing them is the client's work, not the server's."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from eessi.as4.security.encrypt import OAEP
    from eessi.sed.examples import example_xml

    server = serialization.load_pem_private_key((where / "server.pem").read_bytes(), None)
    client_key = serialization.load_pem_private_key((where / "client.pem").read_bytes(), None)
    client = serialization.load_pem_public_key((where / "client.pub.pem").read_bytes())
    assert isinstance(server, rsa.RSAPrivateKey)
    assert isinstance(client_key, rsa.RSAPrivateKey)
    assert isinstance(client, rsa.RSAPublicKey)
    answers = [example_xml("S073", "4.4", seed=i) for i in range(16)]
    receipts = [RECEIPT % f"answer-{i}".encode() for i in range(16)]
    signed = [(r, client_key.sign(r, padding.PKCS1v15(), hashes.SHA256())) for r in receipts]

    def answer(n: int) -> bytes:
        payload = answers[n % len(answers)]
        signature = server.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        key, nonce = AESGCM.generate_key(bit_length=128), os.urandom(12)
        sealed = client.encrypt(key, OAEP) + nonce + AESGCM(key).encrypt(nonce, payload, None)
        receipt, receipt_signature = signed[n % len(signed)]
        client.verify(receipt_signature, receipt, padding.PKCS1v15(), hashes.SHA256())
        return signature + sealed

    return answer


def bare_answering_serve(keys: str) -> None:
    """The bare secured server of ``bench/exchange.py`` (parse, validate, receipt; the AS4
    receiver's signature operations) that also does, per POST, the signature operations of the
    answer a fund sends (:func:`answering`): a bare server doing all the cryptography the mock
    fund does per SED with ``--answers send``, and nothing else."""
    from lxml import etree

    from eessi.sed import xmlsafe

    schema_for = schema_lookup()
    counter = iter(range(10**12))
    open_seal = unsealer(Path(keys))
    answer = answering(Path(keys))

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        sed, sign = open_seal(body)
        root = etree.fromstring(sed, xmlsafe.PARSER)
        if not schema_for(root).validate(root):
            return web.Response(status=400, text="invalid")
        n = next(counter)
        receipt = RECEIPT % str(n).encode()
        receipt += sign(receipt)
        answer(n)
        return web.Response(body=receipt, content_type="application/xml")

    app = web.Application()
    app.router.add_post("/as4", handle)
    serve_on_free_port(app)


def start_bare_answering() -> tuple[subprocess.Popen[str], int, Any]:
    """:func:`bare_answering_serve` in its own process, its port and the client's ``seal``."""
    keys = Path(tempfile.mkdtemp(prefix="eessi-bare-keys-"))
    make_keys(keys)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--bare-answering-serve", str(keys)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    seal = sealer(keys)
    shutil.rmtree(keys, ignore_errors=True)  # both sides have read their keys
    return proc, port, seal


def run_bare(
    bodies: list[bytes], seconds: float, concurrency: int, secured: bool, answers: bool = False
) -> Figures:
    """The bare server of ``bench/exchange.py``; ``secured``: with the signature operations of
    an AS4 receiver (the bodies sealed by ``exchange.sealer``); ``answers`` (with ``secured``):
    also those of the answer a fund sends (:func:`bare_answering_serve`)."""
    proc, port, seal = start_bare_answering() if answers else start_bare(secured)
    try:
        sent = [seal(b) for b in bodies] if seal is not None else bodies
        return asyncio.run(
            drive_bare(f"http://127.0.0.1:{port}/as4", sent, seconds, concurrency, proc.pid)
        )
    finally:
        proc.terminate()
        proc.wait()


def run_fund(
    work: Path,
    directory: Path,
    bodies: list[bytes],
    seconds: float,
    concurrency: int,
    silent: bool,
    transport: Transport,
    profile: Path | None = None,
    probe: Path | None = None,
    *,
    windows: int = 1,
    warmup: float = 1.0,
    timeline: bool = True,
    requests: int = 0,
) -> list[Figures]:
    """``windows`` windows against one fresh fund; ``profile``: py-spy's raw stacks of the
    fund's first window; ``probe``: the answer path's CPU per call (``--profile answer``),
    written there; ``timeline``: each window's breakdown (bench/answer_probe/timeline.py)."""
    lines = work / "fund-timeline.jsonl" if timeline else None
    proc, url, db = start_fund(work, directory, silent, transport, probe, lines)
    gauge = None
    if lines is not None:  # the machine's speed over the windows (fund_windows.speed_probe)
        lines.with_suffix(".speed").unlink(missing_ok=True)
        gauge = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "fund_windows.py"),
                "--speed",
                str(lines.with_suffix(".speed")),
            ]
        )
    spy = PySpy(proc.pid, profile, seconds) if profile is not None else None
    try:
        figures = asyncio.run(
            drive_fund(
                url,
                directory,
                bodies,
                seconds,
                concurrency,
                proc.pid,
                db,
                silent,
                transport,
                spy,
                windows=windows,
                warmup=warmup,
                timeline=lines,
                requests=requests,
            )
        )
        if probe is not None:
            time.sleep(0.6)  # the probe writes its totals every 0.25 s
        return figures
    finally:
        if gauge is not None:
            gauge.terminate()
            gauge.wait()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- main ---------------------------------------------------------------------------------------


def report_probe(probes: list[Path]) -> None:
    """The answer path's thread CPU per call, over the runs (``--profile answer``)."""
    totals: dict[str, list[float]] = {}
    for path in probes:
        if not path.exists():
            continue
        for label, (seconds, calls) in json.loads(path.read_text(encoding="utf-8")).items():
            row = totals.setdefault(label, [0.0, 0.0])
            row[0] += seconds
            row[1] += calls
    if not totals:
        print("  the probe wrote nothing (see the fund's log)")
        return
    answers = totals.get("build: the answer's message and outbox row (whole)", [0.0, 1.0])[1]
    print(
        f"  the answer path, thread CPU per call (probe, {len(probes)} runs, warm-up included;"
        " indented: part of the line above):"
    )
    for label in sorted(totals, key=lambda k: (k.split(":")[0], "(whole)" not in k, k)):
        seconds, calls = totals[label]
        indent = "  " if "(whole)" in label or label.startswith("worker") else "    "
        print(
            f"  {indent}{label:58s} {seconds / calls * 1e6:8.0f} us"
            f"  ({calls / max(answers, 1):.2f} per answer)"
        )


def print_windows(fund: list[Figures]) -> None:
    """Each run's window, broken down (D460): the fund's CPU per request by thread (ms), the
    checkpoints and collections that fell in it and their CPU, group commits per SED, inputs
    per worker batch, WAL resets, connections accepted / opened, retried sends, open cases."""
    print("  the fund's windows, one per run (ms per request; counts in the window):")
    print(WINDOW_HEADER)
    for number, f in enumerate(fund):
        if f.window is not None:
            print(format_window(f"run {number + 1}", f.window))
            print(format_detail(f.window))


def print_series(mode: str, c: int, series: list[Figures]) -> None:
    print(f"c={c}, answers {mode}: {len(series)} windows against one fund (ms per request):")
    print(WINDOW_HEADER)
    for number, f in enumerate(series):
        if f.window is not None:
            print(format_window(str(number + 1), f.window), flush=True)
            print(format_detail(f.window))
        else:
            print(f"  {number + 1:>6d} {f.requests:5d}  {f.cpu_ms:5.2f}", flush=True)
    windows = [f.window for f in series if f.window is not None]
    if len(windows) >= 3:
        served = [0.0]
        for w in windows[:-1]:
            served.append(served[-1] + w.requests / 1000)
        lines = [("all threads", [w.cpu_ms for w in windows])]
        for key in ("loop", "writer"):
            lines.append((key, [1000 * w.by_thread.get(key, 0.0) / w.requests for w in windows]))
        slopes = ", ".join(f"{name} {slope(served, ys):+.3f}" for name, ys in lines)
        print(f"  CPU per request against thousands of requests served (ms per 1,000): {slopes}")


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ``ys`` against ``xs``."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    ordered = sorted(values)
    return " / ".join(fmt.format(v) for v in (ordered[0], statistics.median(ordered), ordered[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", default="16,64", help="requests in flight (list)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per run")
    parser.add_argument("--documents", type=int, default=256, help="distinct S072 bodies")
    parser.add_argument(
        "--answers",
        default="send,silent",
        help="the fund's answers (list): send (S073/X001 to the CNS stand-in) or silent (a"
        " mock rule: processed, journaled, no answer)",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the journal and the log here")
    parser.add_argument(
        "--transport",
        choices=("as4", "legacy"),
        default="as4",
        help="what the fund and this process speak: as4 (default, eessi serve's: eDelivery"
        " AS4, signed and encrypted) or legacy (the AS4-like envelope with an HMAC)",
    )
    parser.add_argument(
        "--no-security", action="store_true", help="AS4 without signing or encryption"
    )
    parser.add_argument(
        "--profile",
        choices=("pyspy", "answer"),
        help="pyspy: py-spy the fund in each level's first run (pip install py-spy) and print"
        " where its time goes, split as bench/exchange.py splits it; answer: the thread CPU per"
        " call of the answer path's steps in the fund (bench/answer_probe), all runs",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=2 * CHECKPOINT_EVERY,
        help="the fund's window: this many requests, however long they take (default: two of"
        f" the node's checkpoint periods of {CHECKPOINT_EVERY} inputs, so exactly two"
        " checkpoints fall in every window); 0: --seconds of posting, as the bare servers",
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="seconds of posting before the first window"
    )
    parser.add_argument(
        "--series",
        type=int,
        metavar="N",
        help="instead of the comparison: N windows one after the other against one fund per"
        " concurrency (no bare servers), a line each: does the CPU per request move with what"
        " the fund has served?",
    )
    parser.add_argument(
        "--no-timeline",
        action="store_true",
        help="run the fund without bench/answer_probe/timeline.py (no per-window breakdown)",
    )
    parser.add_argument("--bare-answering-serve", metavar="KEYS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_answering_serve:
        bare_answering_serve(args.bare_answering_serve)
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="eessi-inbound-"))
    work.mkdir(parents=True, exist_ok=True)
    bodies = s072_bodies(args.documents)
    try:
        from eessi.event_loop import loop_name
    except ImportError:  # a tree from before uvloop (A/B runs)
        loop = "asyncio"
    else:
        loop = loop_name()
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start;"
        f" mock fund {FUND} (`eessi serve`, SQLite synchronous=FULL, {loop} loop)"
    )
    print(
        f"  S072 bodies: {len(bodies)} distinct, {min(map(len, bodies))}-{max(map(len, bodies))}"
        f" bytes; {args.runs} runs per concurrency (min / median / max): the fund's window"
        + (
            f" {args.requests} requests (checkpoint every {CHECKPOINT_EVERY} inputs)"
            if args.requests
            else f" {args.seconds:g} s"
        )
        + f", the bare servers' {args.seconds:g} s"
    )
    label = (
        "legacy (AS4-like envelope, HMAC)"
        if args.transport == "legacy"
        else "eDelivery AS4 without security"
        if args.no_security
        else "eDelivery AS4, signed and encrypted (the default of eessi serve)"
    )
    print(f"  transport: {label}")
    secured = args.transport == "as4" and not args.no_security
    modes = [m.strip() for m in args.answers.split(",") if m.strip()]
    if not modes or set(modes) - {"send", "silent"}:
        raise SystemExit("--answers takes send, silent or both")
    try:
        for mode, c in [(m, c) for m in modes for c in levels]:
            fund: list[Figures] = []
            bare: list[Figures] = []
            bare_sec: list[Figures] = []
            bare_ans: list[Figures] = []  # secured, with the answer's signature operations
            profile = work / f"fund-pyspy-{mode}-c{c}.txt" if args.profile == "pyspy" else None
            probes: list[Path] = []
            for run in range(args.runs):
                directory = write_directory(work)
                transport = transport_for(args.transport, args.no_security, work, directory)
                if args.profile == "answer":
                    probes.append(work / f"fund-probe-{mode}-c{c}-{run}.json")
                    probes[-1].unlink(missing_ok=True)
                series = run_fund(
                    work,
                    directory,
                    bodies,
                    args.seconds,
                    c,
                    mode == "silent",
                    transport,
                    profile if run == 0 else None,
                    probes[-1] if probes else None,
                    windows=args.series or 1,
                    warmup=args.warmup,
                    timeline=not args.no_timeline,
                    requests=args.requests,
                )
                if args.series:
                    print_series(mode, c, series)
                    continue
                fund.append(series[0])
                bare.append(run_bare(bodies, args.seconds, c, secured=False))
                if secured:
                    bare_sec.append(run_bare(bodies, args.seconds, c, secured=True))
                if secured and mode == "send":
                    bare_ans.append(run_bare(bodies, args.seconds, c, secured=True, answers=True))
            if args.series:
                continue
            what = "answers sent" if mode == "send" else "answers silenced by a mock rule"
            print(f"c={c}, {what}:")
            rows_of = [("mock fund", fund), ("bare aiohttp", bare)]
            if bare_sec:
                rows_of.append(("bare secured", bare_sec))
            if bare_ans:
                rows_of.append(("bare sec+ans", bare_ans))
            for label, rows in rows_of:
                print(
                    f"  {label:13s} req/s {spread([r.rate for r in rows]):>20s}"
                    f"  p50 {spread([r.p50 for r in rows], '{:.1f}'):>17s} ms"
                    f"  p99 {spread([r.p99 for r in rows], '{:.1f}'):>17s} ms"
                    f"  CPU/req {spread([r.cpu_ms for r in rows], '{:.2f}'):>17s} ms"
                    f"  RSS {spread([r.rss for r in rows]):>13s} MB"
                )
            rates = [f.rate / b.rate for f, b in zip(fund, bare, strict=True)]
            cpus = [b.cpu_ms / f.cpu_ms for f, b in zip(fund, bare, strict=True)]
            print(f"  ratio fund / bare, req/s           {spread(rates, '{:.2f}')}")
            print(f"  ratio bare CPU / fund CPU per req  {spread(cpus, '{:.2f}')}")
            if bare_sec:
                rates = [f.rate / b.rate for f, b in zip(fund, bare_sec, strict=True)]
                cpus = [b.cpu_ms / f.cpu_ms for f, b in zip(fund, bare_sec, strict=True)]
                print(f"  ratio fund / bare secured, req/s   {spread(rates, '{:.2f}')}")
                print(f"  ratio bare secured CPU / fund CPU  {spread(cpus, '{:.2f}')}")
            if bare_ans:
                rates = [f.rate / b.rate for f, b in zip(fund, bare_ans, strict=True)]
                cpus = [b.cpu_ms / f.cpu_ms for f, b in zip(fund, bare_ans, strict=True)]
                print(f"  ratio fund / bare sec+ans, req/s   {spread(rates, '{:.2f}')}")
                print(f"  ratio bare sec+ans CPU / fund CPU  {spread(cpus, '{:.2f}')}")
            total = sum(f.requests for f in fund)
            print(
                f"  journal check: all {total} measured SEDs (and the warm-up's) processed"
                + (
                    ", every answer (S073, or X001 for an S072 that does not confirm) acknowledged"
                    if mode == "send"
                    else ""
                )
            )
            if any(f.window is not None for f in fund):
                print_windows(fund)
            if profile is not None and profile.exists():
                print(f"  the fund's profile (py-spy, first run's window, {profile.name}):")
                report_pyspy(profile)
            if probes:
                report_probe(probes)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
