"""Per-SED costs of the node's steps, in process, against bare lxml: where a document's CPU goes.

Run: ``.venv/bin/python bench/support/steps.py JOURNAL.sqlite`` on a journal kept by
``bench/exchange.py --keep DIR`` (``DIR/LU-CNS00001.sqlite``): the SEDs and envelopes are the
ones the exchange really moved. Each step is timed alone (best of 7 rounds), so the figures do
not depend on what else the machine runs; ``bench/exchange.py --profile pyspy`` gives the
shares inside the running node, including what cannot be timed alone (the desk, the journal's
thread hops, aiohttp).
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from lxml import etree  # noqa: E402

from eessi.journal.base import encode_json  # noqa: E402
from eessi.sed import xmlsafe  # noqa: E402
from eessi.sed.documents import from_element  # noqa: E402
from eessi.sed.validate import validate_or_raise  # noqa: E402
from eessi.transport.auth import sign, verify  # noqa: E402
from eessi.transport.envelope import decode_user_message, payload_digest  # noqa: E402
from eessi.transport.framing import frame, unframe  # noqa: E402


def best_of(fn: Callable[[], object], n: int, rounds: int = 7) -> float:
    """Best per-call time in microseconds over ``rounds`` rounds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best * 1e6


def main() -> None:
    if len(sys.argv) != 2:
        print(__doc__)
        return
    conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT sed_type, envelope, payload FROM messages JOIN message_blobs"
        " ON message_seq = seq WHERE direction = 'in'"
        " AND sed_type = 'S071' LIMIT 1"
    ).fetchall()
    events = [
        r[0]
        for r in conn.execute(
            "SELECT data FROM case_events WHERE case_id = (SELECT case_id FROM case_events"
            " WHERE case_id <> '~inputs' LIMIT 1)"
        )
    ]
    state = conn.execute("SELECT state FROM cases LIMIT 1").fetchone()[0]
    conn.close()
    sed_type, envelope, payload = rows[0]
    envelope, payload = bytes(envelope), bytes(payload)
    valid = validate_or_raise(payload)
    schema = valid.schema if hasattr(valid, "schema") else None
    root = etree.fromstring(payload, xmlsafe.PARSER)
    if schema is None:
        from eessi.sed.schemas import default_schemas

        schema = default_schemas().schema(valid.sed, valid.version)
    doc = from_element(valid.root)
    framed = frame(envelope, payload, boundary_seed=payload_digest(payload))
    signature = sign(framed.body, "secret")
    import json

    event_data = [json.loads(e) for e in events]
    state_data = json.loads(state)

    steps: list[tuple[str, Callable[[], object], int]] = [
        (
            "bare lxml parse (hardened parser)",
            lambda: etree.fromstring(payload, xmlsafe.PARSER),
            3000,
        ),
        ("bare XSD validate (compiled schema)", lambda: schema.validate(root), 3000),
        (
            "validate_or_raise (parse + identify + validate)",
            lambda: validate_or_raise(payload),
            3000,
        ),
        ("from_element (validated XML -> model)", lambda: from_element(valid.root), 2000),
        ("Document.to_xml (model -> XML bytes)", lambda: doc.to_xml(), 2000),
        ("envelope decode (parse + XSD + fields)", lambda: decode_user_message(envelope), 3000),
        ("framing: frame", lambda: frame(envelope, payload, boundary_seed="x"), 5000),
        ("framing: unframe", lambda: unframe(framed.content_type, framed.body), 5000),
        (
            "HMAC-SHA256 sign / verify the body",
            lambda: verify(framed.body, "secret", signature),
            5000,
        ),
        ("payload digest (SHA-256)", lambda: payload_digest(payload), 5000),
        (
            f"encode_json of one case's {len(event_data)} events + its snapshot",
            lambda: [encode_json(d, what="e") for d in (*event_data, state_data)],
            2000,
        ),
    ]
    print(
        f"per-SED steps in process, {sed_type} of {len(payload)} bytes, envelope"
        f" {len(envelope)} bytes (best of 7 rounds):"
    )
    for label, fn, n in steps:
        print(f"  {label:55s} {best_of(fn, n):8.1f} us")


if __name__ == "__main__":
    main()
