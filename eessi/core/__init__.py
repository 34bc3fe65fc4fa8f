"""Layer 2: the pure co-insurance core (households, rules R1-R18 and S1-S4, BUC machines).

Nothing under this package imports asyncio, aiohttp, lxml, sqlite or reads the wall clock:
time comes from an injected :class:`eessi.clock.Clock`, IDs from an
:class:`eessi.ids.IdGenerator`. ``tests/core/test_purity.py`` checks it.
"""

from __future__ import annotations

__all__: list[str] = []
