"""A tester's own CNS, reduced to what a plugin test needs: a system under test in its own process.

It does not import ``eessi``: plain Python, aiohttp and lxml, written from the docs (the wire
protocol is in ``wire.py``). It reads the directory file the tester shares with eessi-sim (to
know its own endpoint and secret, and where the foreign funds are), receipts every document it
is sent, and answers each S071 with an S072 for the member it is about (entitlement confirmed,
for the period asked), in the S071's case and version. It prints one line per document::

    received S071 FR-1A2B3C4D5E6F from FR:CPAM5701
    sent S072 FR-1A2B3C4D5E6F to FR:CPAM5701

Run: ``python tests/sut/cns.py --directory net.toml [--id LU:CNS00001]``.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import wire  # the SUT's own transport module, next to this file (the script's directory)
from aiohttp import web
from lxml import etree

#: What an S072 takes from the S071 it answers, in the S072's order (schemas/4.x/S072.xsd).
_COPIED = ("Person", "AddressOfPersonForWhomAnEntitlementDocument", "StatusFamilyMember")


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


def load_directory(path: str) -> dict[str, dict[str, Any]]:
    """Each institution's table (``endpoint``, ``credential``) by IR ID."""
    doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    out: dict[str, dict[str, Any]] = {}
    for table in doc.get("institution", []):
        table = dict(table)
        if "credential" not in table and table.get("credential_env"):
            table["credential"] = os.environ[table["credential_env"]]
        out[table["id"]] = table
    return out


class Cns:
    def __init__(self, directory: dict[str, dict[str, Any]], own_id: str) -> None:
        self.directory = directory
        self.id = own_id
        self.credentials = {i: str(t.get("credential", "")) for i, t in directory.items()}
        self.seen: set[str] = set()
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            message = wire.read_message(
                request.headers.get("Content-Type", ""),
                body,
                request.headers.get(wire.SIGNATURE_HEADER),
                self.credentials,
            )
        except wire.WireError as exc:
            answer = wire.error(None, exc.code, "Refused", str(exc))
            return self._signal(answer, exc.http_status)
        if message.message_id not in self.seen:  # a duplicate is receipted again, once handled
            self.seen.add(message.message_id)
            print(
                f"received {message.sed_type} {message.conversation_id} from {message.from_party}",
                flush=True,
            )
            if message.sed_type == "S071":
                task = asyncio.create_task(self.answer(message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        return self._signal(wire.receipt(message.message_id), 200)

    def _signal(self, body: bytes, status: int) -> web.Response:
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            wire.SIGNATURE_HEADER: wire.sign(body, self.credentials[self.id]),
        }
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
        )
        peer = s071.from_party
        headers, body = wire.request(message, self.credentials[self.id])
        assert self.session is not None
        why = "not sent"
        for _attempt in range(20):  # the fund may still be busy answering our receipt
            try:
                url = str(self.directory[peer]["endpoint"])
                async with self.session.post(url, data=body, headers=headers) as resp:
                    answer = await resp.read()
                    signature = resp.headers.get(wire.SIGNATURE_HEADER)
                why = (
                    wire.check_receipt(
                        answer, signature, peer, self.credentials[peer], message.message_id
                    )
                    or ""
                )
                if not why:
                    print(f"sent S072 {message.conversation_id} to {peer}", flush=True)
                    return
            except aiohttp.ClientError as exc:
                why = str(exc)
            await asyncio.sleep(0.2)
        print(f"failed S072 {message.conversation_id} to {peer}: {why}", flush=True)

    async def status(self, request: web.Request) -> web.Response:
        del request
        return web.Response(text=f"{self.id}: system under test, POST documents here\n")


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True)
    parser.add_argument("--id", default="LU:CNS00001")
    args = parser.parse_args(argv)
    directory = load_directory(args.directory)
    cns = Cns(directory, args.id)
    endpoint = urlsplit(str(directory[args.id]["endpoint"]))
    app = web.Application()
    app.router.add_post(endpoint.path, cns.receive)
    app.router.add_get(endpoint.path, cns.status)
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
