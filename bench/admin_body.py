"""Benchmark: the admin API's JSON body checks against bare ``json.loads``, same run.

Run: ``.venv/bin/python bench/admin_body.py [--requests N] [--rounds N]``.

A ``POST /api/requests/batch`` body of ``--requests`` requests (1,000: about 107 kB) is timed
in three rounds of ``--rounds`` calls each:

* **bare**: ``json.loads`` of the bytes: what any JSON route pays, the baseline;
* **depth**: ``eessi.node.http_api.json_depth_error`` (the nesting check that turns a deeply
  nested body into a 400 instead of a ``RecursionError``), run before the parse;
* **refuse**: the same check on a body nested 30,000 levels deep (refused, with its line and
  column).

Figures: min / median / max of the rounds, in ms per body, and the ratio depth / bare of the
medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from eessi.node.http_api import json_depth_error


def _rounds(call: Callable[[], object], rounds: int, per_round: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            call()
        out.append((time.perf_counter() - start) / per_round * 1e3)
    return out


def _line(name: str, ms: list[float]) -> str:
    med = statistics.median(ms)
    return f"{name:<7} ms/body min {min(ms):7.3f}  median {med:7.3f}  max {max(ms):7.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    item = {"kind": "co_insurance_request", "main_insured_pin": "1980010112345", "member": "ana"}
    body = json.dumps([item] * args.requests).encode()
    deep = b"[" * 30_000 + b"]" * 30_000
    assert json_depth_error(body) is None
    assert json_depth_error(deep) is not None
    bare = _rounds(lambda: json.loads(body), 3, args.rounds)
    depth = _rounds(lambda: json_depth_error(body), 3, args.rounds)
    refuse = _rounds(lambda: json_depth_error(deep), 3, args.rounds)
    print(f"batch body: {args.requests} requests, {len(body)} bytes")
    print(_line("bare", bare))
    print(_line("depth", depth))
    print(_line("refuse", refuse))
    print(f"ratio depth/bare (medians): {statistics.median(depth) / statistics.median(bare):.2f}")


if __name__ == "__main__":
    main()
