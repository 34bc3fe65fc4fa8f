"""``eessi demo [NAME] [--list] [--mermaid FILE]``: watch a seed situation play out.

A demo runs a shipped scenario (``eessi scenario list``) on the embedded network, the CNS and
mock funds on loopback with a virtual clock, and draws it live in the terminal: a sequence
diagram whose arrows appear as documents move (institution lifelines, the CNS and the mocks
told apart; each arrow labelled with SED type, case and status, the virtual time on the left),
then each family member's outcome with the rules that decided it. The institutions speak
eDelivery AS4 on loopback, signed and encrypted, as ``eessi up`` does (a test PKI made for the
run; D136): under each arrow a line says what went on the wire, read back from the sender's
journal; ``--transport embedded`` runs the embedded network's own transport instead (in
memory; for ``--web``, its loopback HTTP). With no NAME it runs the R17 flow (``make demo``).
``--mermaid FILE`` writes the same exchange as a Mermaid
``sequenceDiagram``. ``--web`` plays it in the browser instead (the dashboard, step by step:
next / play / pause, a caption per step with the rules it cites). The demo ``seds`` instead
validates every SED example of the catalogue.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from eessi.cli._help import examples

__all__ = ["DEFAULT", "colour_wanted", "register"]

DEFAULT = "r17-family-abroad"
#: Demos that are not scenarios: name -> (summary, function returning the exit code).
EXTRA: dict[str, tuple[str, Callable[[], int]]] = {}

_RESET = "\033[0m"
_COLOURS = {"cns": "\033[1;34m", "mock": "\033[33m", "failed": "\033[1;31m", "dim": "\033[2m"}
_PHANTOM_LABEL = "X" * 40  # keeps the diagram's layout fixed while arrows are added
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # ... and its time gutter


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="watch a seed situation play out live (default: the R17 flow)",
        description="Watch a seed situation play out: each document drawn as it travels"
        " between the CNS and the mock funds, then each member's outcome with its rules.",
        **examples(
            "eessi demo",
            "eessi demo --list",
            "eessi demo r17-family-abroad --no-color --delay 0 --mermaid flow.mmd",
            "eessi demo r17-family-abroad --web",
        ),
    )
    parser.add_argument(
        "name", nargs="?", default=DEFAULT, metavar="NAME", help=f"demo to run ({DEFAULT})"
    )
    parser.add_argument("--list", action="store_true", help="list the demos and exit")
    parser.add_argument(
        "--mermaid", metavar="FILE", help="also write the exchange as a Mermaid sequenceDiagram"
    )
    parser.add_argument("--no-color", action="store_true", help="plain text, no colours")
    parser.add_argument(
        "--ascii", action="store_true", help="ASCII lines instead of box-drawing characters"
    )
    parser.add_argument(
        "--transport",
        choices=("as4", "embedded"),
        default="as4",
        help="as4 (default): the institutions speak signed and encrypted eDelivery AS4 on"
        " loopback, as eessi up does (a test PKI made for the run); embedded: the embedded"
        " network's own transport (in memory; with --web, its loopback HTTP)",
    )
    parser.add_argument(
        "--web",
        action="store_true",
        help="play it in the browser, step by step (next / play / pause), on the dashboard",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="with --web: the dashboard's port on 127.0.0.1 (default: a free one)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="with --web: print the URL, open no browser"
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="with --web: conformance reports to link (eessi conformance --report-dir)",
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause between arrows (default: 0.3 on a terminal, 0 otherwise)",
    )
    parser.set_defaults(func=run)


def _demos() -> dict[str, str]:
    from eessi.scenario.format import load_scenario, shipped_scenarios

    out = {name: summary for name, (summary, _) in EXTRA.items()}
    for path in shipped_scenarios():
        s = load_scenario(path)
        out[s.name] = f"[{', '.join(s.rules)}] {s.title}"
    return out


def run(args: argparse.Namespace) -> int:
    if args.list:
        demos = _demos()
        width = max(len(n) for n in demos)
        for name, summary in demos.items():
            mark = " (default)" if name == DEFAULT else ""
            print(f"{name:<{width}}  {summary}{mark}")
        return 0
    if args.name in EXTRA:
        return EXTRA[args.name][1]()
    from eessi.scenario.format import find_scenario, load_scenario

    demos = _demos()
    name = args.name
    if name not in demos:
        prefixed = [n for n in demos if n.startswith(name)]
        if len(prefixed) > 1:
            print(
                f"eessi demo: error: {name!r} is ambiguous: it starts {' and '.join(prefixed)};"
                " give more of the name (see eessi demo --list)",
                file=sys.stderr,
            )
            return 2
        if not prefixed:
            print(
                f"eessi demo: error: no demo named {name!r}; "
                f"available: {', '.join(demos)} (see eessi demo --list)",
                file=sys.stderr,
            )
            return 2
        name = prefixed[0]
    scenario = load_scenario(find_scenario(name))
    if args.web:
        return web(scenario, args)
    out = sys.stdout
    tty = out.isatty()
    colour = colour_wanted(out, no_color=args.no_color)
    delay = args.delay if args.delay is not None else (0.3 if tty else 0.0)
    try:
        return play(scenario, out, colour=colour, delay=delay, unicode=not args.ascii,
                    mermaid_file=args.mermaid, transport=args.transport)  # fmt: skip
    except BrokenPipeError:  # `eessi demo | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def web(scenario: Any, args: argparse.Namespace) -> int:
    """``eessi demo --web``: the dashboard on 127.0.0.1, the scenario held before each step
    until the page says next or play; Ctrl-C stops it."""
    import asyncio
    import webbrowser

    from eessi.cli.scenario import quiet_node_logs
    from eessi.cli.serve import stop_on_signals
    from eessi.web.demo import DemoPlayer, serve_demo

    quiet_node_logs()
    delay = args.delay if args.delay is not None else 1.5

    async def main(transport: Any) -> int:
        stop = stop_on_signals()
        player = DemoPlayer(scenario, delay=delay, transport=transport)
        async with serve_demo(player, port=args.port, report_dir=args.report_dir) as url:
            print(f"eessi demo {scenario.name}: {scenario.title}")
            print(f"  open {url} (next / play / pause); Ctrl-C to stop.", flush=True)
            if not args.no_browser:
                webbrowser.open(url)
            await stop.wait()
        return 0 if player.mode == "done" else 1 if player.mode == "failed" else 0

    with _transport(args.transport, web=True) as transport:
        return asyncio.run(main(transport))


@contextlib.contextmanager
def _transport(name: str, *, web: bool) -> Iterator[Any]:
    """The network's transport: AS4 on loopback with a test PKI made for this run (removed
    after it), or the embedded network's own (in memory; loopback HTTP for the pages)."""
    if name != "as4":
        yield "http" if web else "twin"
        return
    from eessi.as4.node_transport import as4_transport_with_test_pki

    with tempfile.TemporaryDirectory(prefix="eessi-demo-pki-") as tmp:
        yield as4_transport_with_test_pki(Path(tmp) / "pki")


def wire_line(envelope: bytes) -> str | None:
    """What a journaled message was on the wire, in one line (``None``: not AS4)."""
    from eessi.as4.ebms_parse import parse_envelope
    from eessi.as4.mime import unpackage
    from eessi.as4.model import UserMessage
    from eessi.as4.wire import from_entity, is_entity
    from eessi.errors import EessiError

    if not is_entity(envelope):
        return None
    packaged = from_entity(envelope)
    try:
        parsed = parse_envelope(unpackage(packaged.content_type, packaged.body).envelope)
    except EessiError:
        return None
    um = parsed.message
    if not isinstance(um, UserMessage):
        return None
    sec = parsed.security
    signed = (
        sec is not None and sec.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    )
    encrypted = (
        sec is not None and sec.find("{http://www.w3.org/2001/04/xmlenc#}EncryptedKey") is not None
    )
    how = " and ".join(w for w, on in (("signed", signed), ("encrypted", encrypted)) if on)
    return (
        f"AS4: {len(packaged.body):,} bytes, {how or 'unsecured'}, {um.service}/{um.action},"
        f" {um.message_id}"
    )


def colour_wanted(out: TextIO, *, no_color: bool = False) -> bool:
    """Whether to colour ``out``: a terminal that can show colours, unless told not to
    (``--no-color``, a ``NO_COLOR`` variable, https://no-color.org) or a ``TERM`` of ``dumb``
    (a terminal without escape sequences: Emacs shell buffers, some CI logs)."""
    if no_color or "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    return out.isatty()


class _Live:
    """Draws the sequence diagram one arrow at a time (layout fixed from the start)."""

    def __init__(
        self, out: TextIO, participants: Sequence[str], kinds: dict[str, str], *,
        colour: bool, delay: float, unicode: bool,
    ) -> None:  # fmt: skip
        self.out = out
        self.participants = list(participants)
        self.kinds = kinds
        self.colour = colour
        self.delay = delay
        self.unicode = unicode
        self.arrows: list[Any] = []

    def _paint(self, line: str, kind: str) -> str:
        if not self.colour or kind not in _COLOURS:
            return line
        return f"{_COLOURS[kind]}{line}{_RESET}"

    def _render(self, arrows: Sequence[Any]) -> list[str]:
        from eessi.render.sequence import Arrow, text

        phantom = Arrow(self.participants[0], self.participants[-1], _PHANTOM_LABEL, at=_EPOCH)
        return text([*arrows, phantom], self.participants, unicode=self.unicode).splitlines()

    def header(self) -> None:
        lines = self._render([])
        print(self._paint(lines[0], "dim"), file=self.out)
        print(lines[1], file=self.out)

    def note(self, textline: str) -> None:
        print(self._paint(textline, "dim"), file=self.out)

    def add(self, arrow: Any) -> None:
        self.arrows.append(arrow)
        lines = self._render(self.arrows)
        i = 2 + 2 * (len(self.arrows) - 1)
        kind = "failed" if arrow.failed else self.kinds.get(arrow.sender, "mock")
        for line in lines[i : i + 2]:
            print(self._paint(line, kind), file=self.out)
        self.out.flush()
        if self.delay:
            time.sleep(self.delay)


def _label(ir_id: str, kind: str) -> str:
    return f"{ir_id} ({'CNS' if kind == 'cns' else 'mock'})"


def play(
    scenario: Any,
    out: TextIO,
    *,
    colour: bool = False,
    delay: float = 0.0,
    unicode: bool = True,
    mermaid_file: str | None = None,
    transport: str = "as4",
) -> int:
    """Run ``scenario`` and draw it on ``out`` (over ``transport``: ``as4`` or ``embedded``);
    0 when every expectation held, else 1."""
    import asyncio

    from eessi.cli.scenario import quiet_node_logs
    from eessi.directory import load_default_directory
    from eessi.render.sequence import Arrow, mermaid
    from eessi.scenario.runner import run_scenario

    quiet_node_logs()
    directory = load_default_directory()
    kinds = {
        i: ("cns" if directory.get(i).kind == "cns" else "mock") for i in scenario.institutions
    }
    names = {i: _label(i, k) for i, k in kinds.items()}
    participants = [names[i] for i in scenario.institutions]
    live = _Live(
        out,
        participants,
        {names[i]: k for i, k in kinds.items()},
        colour=colour,
        delay=delay,
        unicode=unicode,
    )
    rules = f"  [{', '.join(scenario.rules)}]" if scenario.rules else ""
    print(f"eessi demo {scenario.name}: {scenario.title}{rules}", file=out)
    if transport == "as4":
        print(
            "  over eDelivery AS4 on loopback, signed and encrypted, as eessi up speaks it"
            " (docs/as4.md)",
            file=out,
        )
    for line in scenario.description.splitlines():
        print(f"  {line}", file=out)
    print(file=out)
    for ir_id in scenario.institutions:
        entry = directory.get(ir_id)
        print(f"  {names[ir_id]:<24} {entry.name}", file=out)
    print(file=out)
    live.header()
    arrows: list[Arrow] = []
    nodes: dict[str, Any] = {}
    on_wire: list[str] = []

    async def observe(kind: str, value: Any) -> None:
        if kind == "start":
            nodes.update(value.nodes)
        elif kind == "message":
            arrow = Arrow(
                names.get(value.sender, value.sender),
                names.get(value.receiver, value.receiver),
                value.sed,
                value.case,
                value.status,
                value.created_at,
            )
            arrows.append(arrow)
            live.add(arrow)
            node = nodes.get(value.sender)
            record = await node.journal.message(value.message_id) if node is not None else None
            line = wire_line(record.envelope) if record is not None else None
            if line is not None:
                on_wire.append(line)
                live.note(f"{'':21}  {line}")
        elif kind == "begin":
            live.note(f"{'':21}step {value.index}: {value.title}")
        elif kind == "step":
            if value.status != "passed":
                live.note(f"{'':21}  {value.status.upper()}: {value.why}")
            for h in value.happened:
                if not h.startswith(tuple(names)):  # arrows are drawn already
                    live.note(f"{'':21}  {h}")

    with _transport(transport, web=False) as network_transport:
        report = asyncio.run(run_scenario(scenario, observer=observe, transport=network_transport))
    print(file=out)
    _outcomes(scenario, report, out, colour=colour)
    if mermaid_file:
        Path(mermaid_file).write_text(mermaid(arrows, participants), encoding="utf-8")
        print(f"\nMermaid sequence diagram written to {mermaid_file}", file=out)
    if on_wire:
        print(
            f"\nOn the wire: {len(on_wire)} eDelivery AS4 user messages (multipart/related,"
            " the SED gzip-compressed; secured: signed with RSA-SHA256, the SED encrypted with"
            " AES-128-GCM), each acknowledged by a receipt. --transport embedded: in memory.",
            file=out,
        )
    verdict = "every expectation held" if report.passed else f"{report.failures} failure(s)"
    print(f"\nScenario check: {verdict} (eessi scenario run {scenario.name})", file=out)
    return 0 if report.passed else 1


def _outcomes(scenario: Any, report: Any, out: TextIO, *, colour: bool) -> None:
    print("Outcome for each family member (CNS decision, with the rules that decided it):",
          file=out)  # fmt: skip
    for m in scenario.household.members:
        got = report.members.get(m.id, {})
        outcome = str(got.get("outcome", "none"))
        head = f"  {m.name} ({m.relation.value}, {m.id}): {outcome.upper().replace('_', ' ')}"
        if outcome == "registered":
            head += f" with {got['main_insured']} from {got['start']}"
        if got.get("missing"):
            head += f"; waiting for {', '.join(got['missing'])}"
        if outcome == "none":
            head += " (not part of this demo)"
        if colour:
            tone = "\033[1;32m" if outcome == "registered" else "\033[1;33m"
            head = f"{tone}{head}{_RESET}"
        print(head, file=out)
        for reason in got.get("reasons", []):
            rule, _, text = reason.partition(": ")
            print(f"      {rule:>4}  {text}", file=out)


def sed_catalogue() -> int:
    """Every SED example in every supported version, validated; a table; 1 if any fails."""
    from eessi.sed.catalogue import SEDS
    from eessi.sed.examples import example_xml
    from eessi.sed.validate import validate

    rows: list[tuple[str, str, str, str, str]] = []
    failures = 0
    started = time.perf_counter()
    for code, sed in SEDS.items():
        for version in sed.versions:
            data = example_xml(code, version)
            report = validate(data)
            if report.ok:
                result = "valid"
            else:
                failures += 1
                first = report.errors[0]
                result = f"INVALID {first.code}: {first.message} ({first.xpath})"
            rows.append((code, version, _short(sed.title, 58), str(len(data)), result))
    elapsed = time.perf_counter() - started
    header = ("SED", "version", "title", "bytes", "result")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    print("Every SED of the catalogue, generated and validated against schemas/:\n")
    for row in [header, *rows]:
        print(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:>{widths[3]}}  {row[4]}"
        )
    print(
        f"\n{len(rows)} documents, {len(rows) - failures} valid, {failures} invalid "
        f"({elapsed * 1000:.0f} ms including schema compilation)"
    )
    return 1 if failures else 0


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


EXTRA["seds"] = ("every SED example in every version, validated against our schemas", sed_catalogue)
