"""A tester's own CNS, reduced to what a plugin test needs: a system under test in its own process.

It does not import ``eessi``: plain Python, aiohttp and lxml, written from the docs (the wire
protocol, eDelivery AS4, is in ``wire.py``). It reads the directory file the tester shares with
eessi-sim (to know its own endpoint and where the foreign funds are) and the P-Mode file beside
it (``pmodes.toml``, which must say ``[defaults.security] enabled = false``: this system
implements AS4 without WS-Security), receipts every document it is sent, and answers each S071
with an S072 for the member it is about (entitlement confirmed, for the period asked), in the
S071's case and version. It prints one line per document::

    received S071 FR-1A2B3C4D5E6F from FR:CPAM5701
    sent S072 FR-1A2B3C4D5E6F to FR:CPAM5701

Like many systems in a test environment it has a clock a test can move: ``--clock START``
starts it at START (ISO 8601; default: the wall clock), and ``POST /test/clock {"now": T}``
sets it to T, then reminds (X009) every fund whose S073 is overdue: 60 days after the S072,
once per S072 (``sent X009 FR-... to FR:CPAM5701``).

Run: ``python tests/sut/cns.py --directory net.toml [--id LU:CNS00001] [--clock START]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import signal
import sys
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import security  # the SUT's signatures, next to this file (the script's directory)
import wire  # the SUT's own transport module, next to this file
from aiohttp import web
from lxml import etree

#: How long the fund has to answer an S072 with its S073 before it is reminded.
REPLY_WITHIN = timedelta(days=60)

#: What an S072 takes from the S071 it answers, in the S072's order (schemas/4.x/S072.xsd).
_COPIED = (
    "Person",
    "AddressOfPersonForWhomAnEntitlementDocument",
    "StatusFamilyMember",
)


def s072_for(s071: bytes) -> bytes:
    """The S072 answering ``s071``: the same person, entitlement confirmed for the period
    asked. The namespace follows the S071's version (``.../ns/4_4/S071`` -> ``.../S072``)."""
    request = etree.fromstring(s071, wire._PARSER)
    base = etree.QName(request).namespace.rsplit("/", 1)[0]
    answer = etree.Element(etree.QName(f"{base}/S072", "S072"), nsmap={"sed": f"{base}/S072"})
    for name in (*_COPIED, "StatusPerson"):
        found = request.find(name)
        if found is not None:
            answer.append(copy.deepcopy(found))
    confirmed = etree.SubElement(answer, "entitlementConfirmed")
    etree.SubElement(confirmed, "value").text = "01"
    period = request.find("PeriodEntitlement")
    if period is not None:
        answer.append(copy.deepcopy(period))
    return etree.tostring(answer, xml_declaration=True, encoding="UTF-8")


def x009_for(s072: wire.Message) -> bytes:
    """The reminder that the S073 answering ``s072`` is awaited (schemas/4.x/X009.xsd)."""
    base = etree.QName(etree.fromstring(s072.payload, wire._PARSER)).namespace.rsplit("/", 1)[0]
    reminder = etree.Element(etree.QName(f"{base}/X009", "X009"), nsmap={"sed": f"{base}/X009"})
    awaited = etree.SubElement(reminder, "AwaitedSED")
    etree.SubElement(awaited, "sedType").text = "S073"
    ref = etree.SubElement(awaited, "ReferenceSED")
    etree.SubElement(ref, "sedType").text = "S072"
    etree.SubElement(ref, "sedId").text = s072.message_id
    etree.SubElement(ref, "sedVersion").text = "1"
    return etree.tostring(reminder, xml_declaration=True, encoding="UTF-8")


@dataclass
class Awaited:
    """An S072 sent, waiting for the fund's S073."""

    s072: wire.Message
    sent_at: datetime
    reminded: bool = False


def load_directory(path: str) -> dict[str, dict[str, Any]]:
    """Each institution's table (``endpoint``...) by IR ID."""
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return {str(t["id"]): dict(t) for t in doc.get("institution", [])}


class Cns:
    def __init__(
        self,
        directory: dict[str, dict[str, Any]],
        own_id: str,
        clock: datetime | None = None,
        pmodes: wire.Pmodes | None = None,
    ) -> None:
        self.directory = directory
        self.pmodes = pmodes or wire.Pmodes(secured=False, compress=True, by_service={})
        self.id = own_id
        #: The test clock (None: the wall clock).
        self.clock = clock
        #: S072s waiting for their S073, by case.
        self.awaiting: dict[str, Awaited] = {}
        self.seen: set[str] = set()
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            message, digests = wire.read_message(
                request.headers.get("Content-Type", ""), body, self.id, self.pmodes
            )
        except wire.WireError as exc:
            return self._signal(wire.error(exc), exc.http_status)
        if message.message_id not in self.seen:  # a duplicate is receipted again, once handled
            self.seen.add(message.message_id)
            print(
                f"received {message.sed_type} {message.conversation_id} from {message.from_party}",
                flush=True,
            )
            if message.sed_type == "S071":
                self._spawn(self.answer(message))
            elif message.sed_type == "S073":
                self.awaiting.pop(message.conversation_id, None)
        return self._signal(wire.receipt(message.message_id, digests, self.pmodes), 200)

    def now(self) -> datetime:
        return self.clock if self.clock is not None else datetime.now(UTC)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def move_clock(self, request: web.Request) -> web.Response:
        """``POST /test/clock {"now": T}``: the test clock to T, then the overdue S073s are
        reminded (the reminders sent before this answers)."""
        body = await request.json()
        self.clock = datetime.fromisoformat(str(body["now"]))
        due = [
            a
            for a in self.awaiting.values()
            if not a.reminded and self.now() - a.sent_at >= REPLY_WITHIN
        ]
        for awaited in due:
            awaited.reminded = True
        sent = [await self.remind(a.s072) for a in due]
        return web.json_response({"now": self.now().isoformat(), "reminded": sent})

    async def remind(self, s072: wire.Message) -> str:
        message = wire.Message(
            message_id=wire.new_id(),
            ref_to_message_id=s072.message_id,
            from_party=self.id,
            to_party=s072.to_party,
            conversation_id=s072.conversation_id,
            sed_type="X009",
            sed_version=s072.sed_version,
            payload=x009_for(s072),
            service=s072.service,
            pmode=s072.pmode,
        )
        await self.send(message)
        return message.conversation_id

    def _signal(self, body: bytes, status: int) -> web.Response:
        headers = {"Content-Type": "application/soap+xml; charset=UTF-8"}
        return web.Response(body=body, status=status, headers=headers)

    async def answer(self, s071: wire.Message) -> None:
        message = wire.Message(
            message_id=wire.new_id(),
            ref_to_message_id=s071.message_id,
            from_party=self.id,
            to_party=s071.from_party,
            conversation_id=s071.conversation_id,
            sed_type="S072",
            sed_version=s071.sed_version,
            payload=s072_for(s071.payload),
            service=s071.service,  # the answer travels in the BUC of the case
            pmode=s071.pmode,
        )
        # Awaited from now on: the fund's S073 may come before its receipt of the S072 is read.
        self.awaiting[message.conversation_id] = Awaited(message, self.now())
        if not await self.send(message):
            self.awaiting.pop(message.conversation_id, None)

    async def send(self, message: wire.Message) -> bool:
        """Post ``message`` to its receiver until it is receipted (a few tries)."""
        peer = message.to_party
        headers, body = wire.request(message, self.pmodes, self.now())
        assert self.session is not None
        why = "not sent"
        for _attempt in range(20):  # the fund may still be busy answering our receipt
            try:
                url = str(self.directory[peer]["endpoint"])
                async with self.session.post(url, data=body, headers=headers) as resp:
                    answer = await resp.read()
                    content_type = resp.headers.get("Content-Type", "")
                why = (
                    wire.check_receipt(content_type, answer, message.message_id, self.pmodes, peer)
                    or ""
                )
                if not why:
                    print(
                        f"sent {message.sed_type} {message.conversation_id} to {peer}",
                        flush=True,
                    )
                    return True
            except aiohttp.ClientError as exc:
                why = str(exc)
            await asyncio.sleep(0.2)
        print(
            f"failed {message.sed_type} {message.conversation_id} to {peer}: {why}",
            flush=True,
        )
        return False

    async def status(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text=f"{self.id}: system under test, POST documents here\n")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--id", default="LU:CNS00001")
    parser.add_argument("--clock", help="start the test clock here (ISO 8601)")
    args = parser.parse_args(argv)
    directory = load_directory(args.directory)
    pmodes = wire.load_pmodes(args.directory)
    if pmodes.encrypts:
        print(
            "this system signs but does not encrypt: put a pmodes.toml beside the directory"
            " with encrypt = false (or enabled = false) under [defaults.security]"
            " (docs/as4.md, P-Modes)",
            file=sys.stderr,
            flush=True,
        )
        return 2
    if pmodes.secured:
        assert pmodes.pki is not None
        pmodes = dataclasses.replace(pmodes, keys=security.Keys.load(pmodes.pki, args.id))
    clock = datetime.fromisoformat(args.clock) if args.clock else None
    cns = Cns(directory, args.id, clock, pmodes)
    endpoint = urlsplit(str(directory[args.id]["endpoint"]))
    app = web.Application()
    app.router.add_post(endpoint.path, cns.receive)
    app.router.add_get(endpoint.path, cns.status)
    app.router.add_post("/test/clock", cns.move_clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession() as session:
        cns.session = session
        await web.TCPSite(runner, endpoint.hostname, endpoint.port).start()
        print(f"listening on {endpoint.geturl()}", flush=True)
        await stop.wait()
        for task in list(cns.tasks):
            task.cancel()
        await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
