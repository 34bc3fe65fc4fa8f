"""Writes ``sample_r17.jsonl.gz`` and its golden offline-replay reports (run from the repo root:
``.venv/bin/python tests/trace/data/make_sample.py``). Made once, on the code before the replay's
speed work of D270+, and committed: ``test_trace_offline_golden.py`` replays the committed trace
and compares the reports byte for byte, so a change that makes the replay faster cannot change
what it reports.

The trace: 8 R17 requests (4 copies of the shipped Silva household) recorded by the bench's
in-memory desks (``bench/replay.py``'s ``build_trace``), then two edits so the report is not
vacuous: the CNS's second S072 is recorded with another start of the entitlement period (a
field divergence), and the Portuguese fund's last S073 is left out of its journal (an extra
message now).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "bench"))

from replay import CNS, PT, build_trace  # noqa: E402

from eessi.journal.base import Direction  # noqa: E402
from eessi.trace.format import Trace, write_trace  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    trace = build_trace(8)
    messages = list(trace.messages)
    s072 = [
        i
        for i, m in enumerate(messages)
        if m.observer == CNS and m.record.sed_type == "S072" and m.record.direction is Direction.OUT
    ]
    i = s072[1]
    payload = messages[i].record.payload
    # Another start of the entitlement period (still a valid S072).
    tampered = payload.replace(b"<startDate>2025-09-01<", b"<startDate>2025-10-01<", 1)
    assert tampered != payload
    messages[i] = replace(messages[i], record=replace(messages[i].record, payload=tampered))
    last = max(
        j
        for j, m in enumerate(messages)
        if m.observer == PT and m.record.sed_type == "S073" and m.record.direction is Direction.OUT
    )
    del messages[last]
    out = HERE / "sample_r17.jsonl.gz"
    sample = Trace(trace.header, tuple(messages), None, trace.inputs)
    write_trace(out, sample.header, sample.messages, inputs=sample.inputs)
    for name, extra in (("sample_r17.report.json", ["--json"]), ("sample_r17.report.txt", [])):
        done = subprocess.run(
            [sys.executable, "-m", "eessi", "replay", str(out), "--offline", *extra],
            capture_output=True,
            cwd=ROOT,
            check=False,
        )
        (HERE / name).write_bytes(done.stdout)
        print(name, "exit", done.returncode, len(done.stdout), "bytes")


if __name__ == "__main__":
    main()
