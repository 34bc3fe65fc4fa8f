"""What the suite asks of the system under test (SUT) besides documents: its documented admin
routes, when it has them (``docs/admin-api.md``).

- ``GET /api/clock`` says whether its clock is virtual and where it stands; ``POST /api/clock
  {"to": ...}`` moves it with ours (capability ``clock``);
- ``GET /api/institution`` lists the request kinds it takes; ``POST /api/requests`` makes it
  act (capability ``requests``).

Nothing else: a SUT without these routes is still judged on every document it sends; the test
cases that need them are skipped with the reason.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiohttp

__all__ = ["SutApi"]


class SutApi:
    """The SUT's admin routes under ``base`` (its admin URL, or its endpoint's origin)."""

    def __init__(self, base: str, session: aiohttp.ClientSession, *, timeout: float) -> None:
        self.base = base.rstrip("/")
        self.session = session
        self.timeout = timeout
        #: ``clock`` and/or ``requests``, once :meth:`probe` ran.
        self.capabilities: set[str] = set()

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """``(status, decoded JSON or text)``; status 0 with the reason if nothing answered."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self.session.request(
                method, f"{self.base}{path}", json=body, timeout=timeout
            ) as resp:
                text = await resp.text()
                try:
                    return resp.status, json.loads(text) if text else None
                except ValueError:
                    return resp.status, text
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, str(exc) or type(exc).__name__

    async def probe(self) -> set[str]:
        status, body = await self.call("GET", "/api/clock")
        if status == 200 and isinstance(body, dict) and body.get("virtual"):
            self.capabilities.add("clock")
        status, body = await self.call("GET", "/api/institution")
        if status == 200 and isinstance(body, dict) and body.get("requests"):
            self.capabilities.add("requests")
        return self.capabilities

    async def now(self) -> datetime | None:
        status, body = await self.call("GET", "/api/clock")
        if status == 200 and isinstance(body, dict) and isinstance(body.get("now"), str):
            return datetime.fromisoformat(body["now"])
        return None

    async def move_clock(self, to: datetime) -> str | None:
        """Move the SUT's clock to ``to``; why not, if that failed."""
        status, body = await self.call("POST", "/api/clock", {"to": to.isoformat()})
        if status == 200:
            return None
        return f"POST {self.base}/api/clock answered {status}: {body}"

    async def request(self, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.call("POST", "/api/requests", body)
