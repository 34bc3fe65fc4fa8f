"""``GET /api/health/live`` and ``/api/health/ready`` on a real node on loopback: ready only once
the journal is restored and the endpoint open, not while a reset restores it (issue 15)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from node_kit import CNS, write_directory

from eessi.directory import load_directory
from eessi.journal import SqliteJournal
from eessi.node.network import Network


async def _get(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_ready_only_once_restored_and_not_while_a_reset_restores(tmp_path: Path) -> None:
    directory = load_directory(write_directory(tmp_path))
    async with Network(directory, tmp_path, ids=[CNS], seed=3, synchronous="NORMAL") as net:
        node = net[CNS]
        assert await _get(node.url + "/api/health/live") == (
            200,
            {"institution": CNS, "live": True},
        )
        assert await _get(node.url + "/api/health/ready") == (
            200,
            {"institution": CNS, "ready": True},
        )
        restoring, release = asyncio.Event(), asyncio.Event()

        async def slow_restore() -> None:  # runs after the desk is restored, before serving
            restoring.set()
            await release.wait()

        node.start_hooks.append(slow_restore)
        old = node.journal
        fresh = await SqliteJournal.open(tmp_path / "fresh.sqlite", synchronous="NORMAL")
        reset = asyncio.create_task(node.restart_empty(fresh))
        async with asyncio.timeout(15):
            await restoring.wait()
        status, body = await _get(node.url + "/api/health/ready")
        assert (status, body["ready"]) == (503, False)
        assert "restoring" in str(body["why"])
        assert (await _get(node.url + "/api/health/live"))[0] == 200  # alive all along
        release.set()
        async with asyncio.timeout(15):
            await reset
        await old.close()
        assert await _get(node.url + "/api/health/ready") == (
            200,
            {"institution": CNS, "ready": True},
        )
