"""Benchmark: the SED codec (XML ⇄ model) and the envelope decoder against bare lxml, same run.

Run: ``.venv/bin/python bench/codec.py [--seeds N] [--rounds N] [--types S071,S072]``.

For each SED type, ``--seeds`` example documents (``eessi.sed.examples``, CDM 4.4) are encoded
once and validated once; then, in alternating rounds, the bench times:

* **bare**: ``etree.fromstring`` with the project's hardened parser plus the compiled schema's
  ``validate`` of the same bytes: what any receiver must pay, the baseline;
* **decode**: ``eessi.sed.documents.from_element`` on the already validated root (what a node
  does after ``validate_or_raise``);
* **encode**: ``Document.to_xml`` of the same objects.

Each figure is the best round (the least disturbed by the rest of a shared machine), in µs per
document and documents per second, with the ratio to bare (``decode / bare``: how many bare
parse+validates one decode costs). The envelope line does the same for
``eessi.transport.envelope.decode`` against a bare parse + validate of the envelope bytes.
Proposal P3 and P5 of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from eessi.sed import xmlsafe  # noqa: E402
from eessi.sed.catalogue import SEDS  # noqa: E402
from eessi.sed.documents import Document, from_element  # noqa: E402
from eessi.sed.examples import example  # noqa: E402
from eessi.sed.schemas import default_schemas  # noqa: E402
from eessi.sed.validate import validate_or_raise  # noqa: E402
from eessi.transport import envelope as env  # noqa: E402


def _round(fn: Callable[[object], object], items: Sequence[object], repeat: int) -> float:
    """Seconds per item for one round of ``repeat`` passes over ``items``."""
    start = time.perf_counter()
    for _ in range(repeat):
        for item in items:
            fn(item)
    return (time.perf_counter() - start) / (repeat * len(items))


def best(
    sides: dict[str, tuple[Callable[[object], object], Sequence[object]]],
    rounds: int,
    repeat: int,
) -> dict[str, float]:
    """Best µs per item of each side; rounds alternate the sides."""
    out = {name: float("inf") for name in sides}
    for _ in range(rounds):
        for name, (fn, items) in sides.items():
            out[name] = min(out[name], _round(fn, items, repeat) * 1e6)
    return out


def _line(label: str, us: float, bare: float | None) -> str:
    ratio = f"  x{us / bare:5.2f} bare" if bare else ""
    return f"    {label:8s} {us:8.1f} µs  {1e6 / us:9,.0f} docs/s{ratio}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="documents per SED type (default 20)")
    ap.add_argument("--rounds", type=int, default=7, help="rounds per side (default 7)")
    ap.add_argument("--repeat", type=int, default=10, help="passes per round (default 10)")
    ap.add_argument("--types", default="", help="comma-separated SED codes (default: all)")
    args = ap.parse_args(argv)
    codes = [c for c in args.types.split(",") if c] or sorted(SEDS)
    schemas = default_schemas()
    load = os.getloadavg()[0]
    print(
        f"codec bench: CDM 4.4, {args.seeds} documents per type, best of {args.rounds} rounds"
        f" x {args.repeat} passes, load {load:.1f}"
    )
    totals = {"bare": 0.0, "decode": 0.0, "encode": 0.0}
    for code in codes:
        docs: list[Document] = [example(code, "4.4", seed) for seed in range(args.seeds)]
        datas = [d.to_xml() for d in docs]
        roots = [validate_or_raise(b).root for b in datas]
        schema = schemas.schema(code, "4.4")

        def bare(data: object, schema: etree.XMLSchema = schema) -> object:
            assert isinstance(data, bytes)
            return schema.validate(etree.fromstring(data, xmlsafe.PARSER))

        r = best(
            {
                "bare": (bare, datas),
                "decode": (lambda root: from_element(root), roots),  # type: ignore[arg-type]
                "encode": (lambda doc: doc.to_xml(), docs),  # type: ignore[attr-defined]
            },
            args.rounds,
            args.repeat,
        )
        size = sum(len(b) for b in datas) // len(datas)
        print(f"  {code} ({size:,} bytes)")
        for name in ("bare", "decode", "encode"):
            print(_line(name, r[name], None if name == "bare" else r["bare"]))
            totals[name] += r[name] / len(codes)
    print("  mean over types")
    for name in ("bare", "decode", "encode"):
        print(_line(name, totals[name], None if name == "bare" else totals["bare"]))

    now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    payload = datas[0]
    envelopes = [
        env.encode(
            env.UserMessage.for_payload(
                payload,
                message_id=f"m{i}@lu",
                timestamp=now,
                from_party="FR:CPAM5700",
                to_party="LU:CNS00001",
                conversation_id=f"case-{i}",
                sed_type=code,
                sed_version="4.4",
            )
        )
        for i in range(args.seeds)
    ] + [
        env.encode(env.Receipt(message_id=f"r{i}@lu", timestamp=now, ref_to_message_id=f"m{i}"))
        for i in range(args.seeds)
    ]
    env_schema = env._schema()

    def bare_env(data: object) -> object:
        assert isinstance(data, bytes)
        return env_schema.validate(etree.fromstring(data, xmlsafe.PARSER))

    r = best(
        {"bare": (bare_env, envelopes), "decode": (env.decode, envelopes)},  # type: ignore[dict-item]
        args.rounds,
        args.repeat * 5,
    )
    size = sum(len(b) for b in envelopes) // len(envelopes)
    print(f"  envelope (user message + receipt, {size:,} bytes)")
    print(_line("bare", r["bare"], None))
    print(_line("decode", r["decode"], r["bare"]))


if __name__ == "__main__":
    main()
