"""One page of what a mock fund received: ``GET /api/mock/received`` read from the journal a page
at a time, never the whole journal at once.

A page holds at most ``limit`` inbound messages whose journal ``seq`` is above the cursor
``after``, in arrival (journal) order, that match every filter. The case, the SED type and the
statuses are asked of the journal (:meth:`~eessi.journal.base.Journal.messages_after`); an
XPath is checked here, so a page with ``xpath`` reads the journal in slices of ``limit + 1``
messages until it holds ``limit`` matches and knows whether one more follows. The memory a page
takes is bounded by its limit whatever the journal holds (D490).

``next`` is the ``seq`` of the page's last message when at least one more message matches
after it, else ``None``: pass it as ``after`` with the same filters for the next page. A cursor
is a journal position, so it stays valid while messages keep arriving; every message is on
exactly one page of a walk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eessi.journal import Direction, Journal, MessageRecord, MessageStatus
from eessi.mock.journal_query import compile_xpath, matches

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ReceivedPage", "read_page"]

#: Messages per page when the request names no ``limit``.
DEFAULT_LIMIT: Final = 100
#: The largest ``limit`` a request may ask for (the node's own listings take the same).
MAX_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class ReceivedPage:
    """The matching messages of one page (with their journal seqs) and the next cursor."""

    messages: tuple[tuple[int, MessageRecord], ...]
    next: int | None


async def read_page(
    journal: Journal,
    *,
    after: int = 0,
    limit: int = DEFAULT_LIMIT,
    case: str | None = None,
    sed: str | None = None,
    statuses: Sequence[MessageStatus] | None = None,
    xpath: str | None = None,
    namespaces: Mapping[str, str] | None = None,
) -> ReceivedPage:
    """The inbound messages after ``after`` that match, at most ``limit`` (module text)."""
    if xpath is not None:
        compile_xpath(xpath)
    found: list[tuple[int, MessageRecord]] = []
    cursor = after
    while True:
        rows = await journal.messages_after(
            cursor,
            limit=limit + 1,
            case=case,
            direction=Direction.IN,
            status=statuses or None,
            sed=sed,
        )
        for seq, record in rows:
            if xpath is not None and not matches(record.payload, xpath, namespaces):
                continue
            if len(found) == limit:
                return ReceivedPage(tuple(found), found[-1][0])
            found.append((seq, record))
        if len(rows) <= limit:
            return ReceivedPage(tuple(found), None)
        cursor = rows[-1][0]
