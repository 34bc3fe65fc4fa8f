"""Long fuzzing of the public parsers: mutated inputs until N were tried; distinct crashes.

    python scripts/fuzz.py --parser sed-validate --inputs 1000000
    python scripts/fuzz.py --parser all --inputs 100000 --seed 3
    python scripts/fuzz.py --parser envelope --inputs 200000 --engine atheris   # if installed

A *crash* is any exception that is not the project's own structured error: every parser must
answer bad input with an :class:`eessi.errors.EessiError` subclass (or, for ``validate``, an
invalid :class:`~eessi.sed.validate.ValidationReport`). Crashes are counted by exception type
and the innermost frame of the project (file:line), and the first input of each is written to
``--crash-dir`` so it can be replayed (``--replay FILE``).

Engines:

* ``mutate`` (default): seeded, deterministic, no coverage feedback. Each input is a seed of the
  parser's corpus (valid documents and near misses) with 1-8 mutations (one most often, so that
  a single well-placed change is not drowned by others): bit flips, byte inserts/deletes/
  repeats, interesting bytes, splices from other seeds, truncation, and tokens of the formats
  (tags, comments, processing instructions, entities, quotes, brackets, NUL, non-ASCII), also
  placed exactly at markup boundaries (after a ``>``, before a ``<``). Inputs of formats with a
  checksum (traces) are mostly re-checksummed after mutating, so the checks behind the
  checksum are reached too.
* ``atheris``: libFuzzer's coverage-guided mutation through atheris (``pip install atheris``),
  seeded with the same corpus; ``--inputs`` bounds the runs.

The bounded versions that run in ``make test`` are ``tests/fuzz/`` (hypothesis, fixed seed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from eessi.errors import EessiError  # noqa: E402

#: A parser under test: bytes in; returns normally or raises an EessiError.
Target = Callable[[bytes], object]


# --- targets --------------------------------------------------------------------------------


def _sed_validate(data: bytes) -> object:
    from eessi.sed.validate import validate, validate_or_raise

    report = validate(data)
    if report.ok:  # a valid document must also pass the raising variant
        validate_or_raise(data)
    return report


def _sed_decode(data: bytes) -> object:
    from eessi.sed.documents import from_element, from_xml
    from eessi.sed.validate import validate_or_raise

    with contextlib.suppress(EessiError):  # the receiving path: validate, decode the tree
        from_element(validate_or_raise(data).root)
    return from_xml(data)  # and the decoder alone, on anything


def _envelope(data: bytes) -> object:
    from eessi.transport.envelope import decode

    return decode(data)


def _household(data: bytes) -> object:
    from eessi.core.household_json import loads_household

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the CLI refuses non-UTF-8 before the reader (a ConfigError)
    return loads_household(text, source="<fuzz>")


class _FileTarget:
    """A reader that takes a path: each input is written to one scratch file first."""

    def __init__(self, suffix: str, read: Callable[[Path], object]) -> None:
        self.suffix = suffix
        self.read = read
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def __call__(self, data: bytes) -> object:
        if self._dir is None:
            shm = Path("/dev/shm")
            self._dir = tempfile.TemporaryDirectory(
                prefix="eessi-fuzz-", dir=shm if shm.is_dir() else None
            )
        path = Path(self._dir.name) / f"input{self.suffix}"
        path.write_bytes(data)
        return self.read(path)


def _read_scenario(path: Path) -> object:
    from eessi.scenario.format import load_scenario

    return load_scenario(path)


def _read_directory(path: Path) -> object:
    from eessi.directory import load_directory

    return load_directory(path)


def _read_trace(path: Path) -> object:
    from eessi.trace.format import read_trace

    trace = read_trace(path)
    return trace.header.load_directory()  # the directory the trace carries, checked too


TARGETS: dict[str, Callable[[], Target]] = {
    "sed-validate": lambda: _sed_validate,
    "sed-decode": lambda: _sed_decode,
    "envelope": lambda: _envelope,
    "household": lambda: _household,
    "scenario": lambda: _FileTarget(".toml", _read_scenario),
    "directory": lambda: _FileTarget(".toml", _read_directory),
    "trace": lambda: _FileTarget(".jsonl", _read_trace),
}


# --- seed corpora ---------------------------------------------------------------------------


def corpus(name: str) -> list[bytes]:
    """Valid inputs of the parser (and a few near misses), the starting points of mutation."""
    if name in ("sed-validate", "sed-decode"):
        return _sed_corpus()
    if name == "envelope":
        return _envelope_corpus()
    if name == "household":
        return [p.read_bytes() for p in sorted((ROOT / "examples" / "households").glob("*.json"))]
    if name == "scenario":
        from eessi.scenario.format import shipped_scenarios

        return [p.read_bytes() for p in shipped_scenarios()]
    if name == "directory":
        from eessi.directory import default_directory_path

        return [default_directory_path().read_bytes()]
    if name == "trace":
        return [_trace_bytes()]
    raise KeyError(name)


def _sed_corpus() -> list[bytes]:
    from eessi.sed.catalogue import SEDS
    from eessi.sed.examples import example_xml

    out: list[bytes] = []
    for code in sorted(SEDS):
        for version in SEDS[code].versions:
            try:
                out.append(example_xml(code, version))
            except EessiError:
                continue
    data = ROOT / "tests" / "data"
    out += [p.read_bytes() for p in sorted(data.glob("*/*.xml")) if p.stat().st_size < 20_000]
    return out


def _envelope_corpus() -> list[bytes]:
    from eessi.sed.examples import example_xml
    from eessi.transport.envelope import ErrorSignal, Receipt, UserMessage, encode

    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    message = UserMessage.for_payload(
        example_xml("S071"),
        message_id="m1",
        timestamp=at,
        from_party="FR:CPAM5701",
        to_party="LU:CNS00001",
        conversation_id="LU-00000000CA5E",
        sed_type="S071",
        sed_version="4.4",
        ref_to_message_id=None,
    )
    answer = UserMessage.for_payload(
        example_xml("S072"),
        message_id="m2 & <b>",
        timestamp=at,
        from_party="LU:CNS00001",
        to_party="FR:CPAM5701",
        conversation_id="LU-00000000CA5E",
        sed_type="S072",
        sed_version="4.4",
        ref_to_message_id="m1",
    )
    out = [encode(message), encode(answer)]
    for cls in (Receipt, ErrorSignal):
        example = getattr(cls, "example", None)
        if callable(example):
            out.append(encode(example()))
    return out


def _trace_bytes() -> bytes:
    from eessi.directory import load_default_directory
    from eessi.journal.base import Direction, MessageRecord, MessageStatus
    from eessi.sed.examples import example_xml
    from eessi.trace.export import make_header
    from eessi.trace.format import TraceInput, TraceMessage, encode_lines

    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    cns, fr = "LU:CNS00001", "FR:CPAM5701"
    messages = []
    for i, (sed, sender, receiver) in enumerate(
        [("S071", fr, cns), ("S072", cns, fr), ("S073", fr, cns)], start=1
    ):
        for direction in (Direction.OUT, Direction.IN):
            out = direction is Direction.OUT
            record = MessageRecord(
                message_id=f"m{i}",
                direction=direction,
                sender=sender,
                receiver=receiver,
                conversation_id="LU-00000000CA5E",
                ref_to_message_id=f"m{i - 1}" if i > 1 else None,
                sed_type=sed,
                sed_version="4.4",
                service="BusinessMessaging",
                action="Send",
                created_at=at + timedelta(minutes=i),
                envelope=b"<env:Envelope id='m'/>",
                payload=example_xml(sed) if i != 2 else b"\xff\x00 not UTF-8",
                status=MessageStatus.ACKNOWLEDGED if out else MessageStatus.PROCESSED,
                received_at=None if out else at + timedelta(minutes=i, seconds=1),
                sent_at=at + timedelta(minutes=i) if out else None,
                attempts=1 if out else 0,
            )
            messages.append(TraceMessage(sender if out else receiver, record))
    inputs = [
        TraceInput(fr, 1, at, {"kind": "input", "input": {"kind": "request"}, "ids": ["a"]}),
        TraceInput(cns, 1, at, {"kind": "document", "ids": []}, message_id="m1"),
    ]
    header = make_header(
        load_default_directory(), config={"seed": 7}, source={"fuzz": True}, created=at
    )
    return b"".join(encode_lines(header, messages, inputs))


def rechain(data: bytes) -> bytes:
    """``data`` with every trace line's checksum recomputed (lines without one kept)."""
    from eessi.trace import format as tf

    key, hex_len = tf._SUM_KEY, tf._SUM_HEX
    suffix_len = len(key) + hex_len + 2
    previous = tf.FORMAT.encode("ascii")
    out: list[bytes] = []
    for line in data.split(b"\n"):
        tail = line[-suffix_len:]
        if len(line) > suffix_len and tail.startswith(key) and tail.endswith(b'"}'):
            body = line[:-suffix_len] + b"}"
            previous = tf._chain(previous, body)
            line = body[:-1] + key + previous + b'"}'
        out.append(line)
    return b"\n".join(out)


# --- mutation -------------------------------------------------------------------------------

_TOKENS: tuple[bytes, ...] = (
    b"<", b">", b"</", b"/>", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<?xml ", b"?>",
    b"<?x?>", b"<!---->", b"&amp;", b"&lt;", b"&#0;", b"&#x110000;", b"&#55296;", b"&unknown;",
    b"<!DOCTYPE x>",
    b'"', b"'", b"=", b":", b"xmlns=", b'xmlns:a="u"', b"{", b"}", b"[", b"]", b",", b"[[",
    b"]]", b'"""', b"'''", b"\\", b"\\u0000", b"\\ud800", b"null", b"true", b"1e999",
    b"-0", b"2026-02-30", b"9999-12-31T23:59:59Z", b"\x00", b"\xff", b"\xc3", b"\xe2\x82",
    b"\xf0\x9f\x98\x80", b"\r\n", b"\t", b" ", b"\n", b"\xef\xbb\xbf", b"=\n", b"#",
    b"0" * 40, b"9" * 400, b"A" * 1000,
)  # fmt: skip


def mutate(rng: random.Random, seeds: list[bytes], *, max_size: int = 1 << 17) -> bytes:
    """One mutated input: a seed with 1-8 random edits (deterministic for a seeded ``rng``)."""
    data = bytearray(rng.choice(seeds))
    edits = 1
    while edits < 8 and rng.random() < 0.5:  # one edit half the time, up to 8
        edits += 1
    for _ in range(edits):
        op = rng.randrange(11)
        n = len(data)
        pos = rng.randrange(n + 1)
        if op == 0 and n:  # flip a bit
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            data[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:  # insert random bytes
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and n:  # delete a span
            data[pos : pos + rng.randint(1, 64)] = b""
        elif op == 4:  # insert a token of the formats
            data[pos:pos] = rng.choice(_TOKENS)
        elif op == 5 and n:  # repeat a span
            span = bytes(data[pos : pos + rng.randint(1, 256)])
            data[pos:pos] = span * rng.randint(1, 16)
        elif op == 6:  # splice from another seed
            other = rng.choice(seeds)
            start = rng.randrange(len(other) + 1)
            data[pos:pos] = other[start : start + rng.randint(1, 512)]
        elif op == 7 and n:  # truncate
            del data[rng.randrange(n) :]
        elif op == 8 and n:  # replace a span by a token
            data[pos : pos + rng.randint(1, 16)] = rng.choice(_TOKENS)
        elif op == 9 and n:  # swap two spans
            a, b = sorted((rng.randrange(n), rng.randrange(n)))
            size = rng.randint(1, 32)
            left, right = bytes(data[a : a + size]), bytes(data[b : b + size])
            data[b : b + size] = left
            data[a : a + size] = right
        elif op == 10 and n:  # a token at a markup boundary: after a '>', or before a '<'
            marks = [i + 1 for i, c in enumerate(data) if c == 0x3E] + [
                i for i, c in enumerate(data) if c == 0x3C
            ]
            if marks:
                at = rng.choice(marks)
                data[at:at] = rng.choice(_TOKENS)
        if len(data) > max_size:
            del data[max_size:]
    return bytes(data)


# --- running --------------------------------------------------------------------------------


@dataclass
class Crash:
    """One distinct crash: its first input and how often it happened."""

    kind: str
    where: str
    message: str
    example: bytes
    count: int = 0


@dataclass
class Result:
    parser: str
    tried: int = 0
    structured: int = 0
    seconds: float = 0.0
    crashes: dict[tuple[str, str], Crash] = field(default_factory=dict)


def run_one(target: Target, data: bytes) -> BaseException | None:
    """The crash ``data`` causes in ``target`` (``None``: handled or a structured error)."""
    try:
        target(data)
    except EessiError:
        return None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # anything else is a crash, even MemoryError/RecursionError
        return exc
    return None


def crash_key(exc: BaseException) -> tuple[str, str]:
    """Exception type and the innermost frame inside the project (else the innermost one)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/eessi/" in f.filename and "/scripts/" not in f.filename]
    frame = (ours or frames or [None])[-1]
    where = "?" if frame is None else f"{Path(frame.filename).name}:{frame.lineno}"
    return type(exc).__qualname__, where


def inputs_for(name: str, seed: int) -> Iterator[bytes]:
    """The endless deterministic input stream of the ``mutate`` engine for ``name``."""
    rng = random.Random(f"{name}#{seed}")
    seeds = corpus(name)
    yield from seeds  # the seeds themselves first: they must pass
    while True:
        data = mutate(rng, seeds)
        if name == "trace" and rng.random() < 0.8:
            data = rechain(data)
        yield data


def fuzz(
    name: str,
    inputs: int,
    *,
    seed: int = 0,
    crash_dir: Path | None = None,
    progress: Callable[[Result], None] | None = None,
) -> Result:
    """Try ``inputs`` inputs of the ``mutate`` engine against parser ``name``."""
    target = TARGETS[name]()
    result = Result(name)
    start = time.perf_counter()
    last = start
    for data in inputs_for(name, seed):
        if result.tried >= inputs:
            break
        exc = run_one(target, data)
        result.tried += 1
        if exc is not None:
            _record(result, exc, data, crash_dir)
        if progress is not None and time.perf_counter() - last > 10:
            last = time.perf_counter()
            result.seconds = last - start
            progress(result)
    result.seconds = time.perf_counter() - start
    return result


def _record(result: Result, exc: BaseException, data: bytes, crash_dir: Path | None) -> None:
    key = crash_key(exc)
    crash = result.crashes.get(key)
    if crash is None:
        crash = Crash(key[0], key[1], str(exc)[:300], data)
        result.crashes[key] = crash
        if crash_dir is not None:
            crash_dir.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256(data).hexdigest()[:12]
            (crash_dir / f"{result.parser}-{key[0]}-{digest}.bin").write_bytes(data)
    crash.count += 1


def _atheris(name: str, inputs: int, crash_dir: Path | None) -> None:  # pragma: no cover
    """libFuzzer through atheris. ``atheris.Fuzz()`` ends the process itself (no return), so
    the report is printed by the last run."""
    import atheris  # type: ignore[import-not-found]

    seeds = corpus(name)  # imports the parser's modules, which are then instrumented
    target = TARGETS[name]()
    target(seeds[0])
    atheris.instrument_all()
    result = Result(name)
    corpus_dir = Path(tempfile.mkdtemp(prefix=f"eessi-fuzz-{name}-"))
    for i, s in enumerate(seeds):
        (corpus_dir / f"seed{i}").write_bytes(s)
    start = time.perf_counter()

    def one(data: bytes) -> None:
        if name == "trace":
            data = rechain(data)
        exc = run_one(target, data)
        result.tried += 1
        if exc is not None:
            _record(result, exc, data, crash_dir)
        if result.tried >= inputs and not result.seconds:  # libFuzzer's last run
            result.seconds = time.perf_counter() - start
            print(report(result), flush=True)

    atheris.Setup(
        [sys.argv[0], f"-runs={inputs}", "-max_len=131072", "-print_final_stats=0",
         str(corpus_dir)],
        one,
    )  # fmt: skip
    atheris.Fuzz()


def report(result: Result) -> str:
    rate = result.tried / result.seconds if result.seconds else 0.0
    lines = [
        f"{result.parser}: {result.tried} inputs tried in {result.seconds:.1f} s"
        f" ({rate:,.0f} inputs/s), {len(result.crashes)} distinct crash(es)"
    ]
    for crash in sorted(result.crashes.values(), key=lambda c: -c.count):
        lines.append(
            f"  {crash.kind} at {crash.where}: {crash.count} input(s); first: {crash.message}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--parser", required=True, choices=[*TARGETS, "all"])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per parser")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutate engine")
    parser.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    parser.add_argument("--crash-dir", type=Path, help="write the first input of each crash here")
    parser.add_argument("--replay", type=Path, help="run the parser on this one input file")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON too")
    args = parser.parse_args(argv)
    names = list(TARGETS) if args.parser == "all" else [args.parser]
    if args.replay is not None:
        (name,) = names
        exc = run_one(TARGETS[name](), args.replay.read_bytes())
        if exc is None:
            print(f"{name}: {args.replay}: no crash")
            return 0
        traceback.print_exception(exc)
        return 1
    results = []
    for name in names:
        if args.engine == "atheris":
            if len(names) != 1:
                parser.error("--engine atheris fuzzes one parser per process")
            _atheris(name, args.inputs, args.crash_dir)
        else:

            def tick(r: Result) -> None:
                print(f"  ... {r.tried} inputs, {len(r.crashes)} crash(es)", flush=True)

            result = fuzz(
                name, args.inputs, seed=args.seed, crash_dir=args.crash_dir, progress=tick
            )
        results.append(result)
        print(report(result), flush=True)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "parser": r.parser,
                        "inputs": r.tried,
                        "seconds": round(r.seconds, 1),
                        "crashes": [
                            {"type": c.kind, "where": c.where, "count": c.count}
                            for c in r.crashes.values()
                        ],
                    }
                    for r in results
                ]
            )
        )
    return 1 if any(r.crashes for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
