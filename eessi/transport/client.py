"""The outbound side: send a user message until a receipt comes back or the budget is spent.

One :class:`Sender` per institution wraps the one shared ``aiohttp.ClientSession`` (keep-alive
connections to every peer). Each attempt is classified:

* a matching :class:`~eessi.transport.envelope.Receipt` → **acknowledged**;
* an error signal or another 4xx → **refused by the peer**: resending the same bytes cannot
  help, so no retry (the result carries the peer's code and reason);
* 5xx, 408, 429, connection refused/reset, timeout, an unreadable or unverifiable answer →
  **retry** after ``min(max_delay, base_delay * 2**n) * (1 + jitter * u)``, ``u`` drawn from the
  injected ``random.Random`` (so a seeded run waits the same), until ``max_attempts``.

Resending is safe because the receiver eliminates duplicates by MessageId and answers a
duplicate with a receipt again. The status hook reports ``sending``, ``waiting_for_receipt``
(the peer's answer has started to arrive), ``retrying``, ``acknowledged`` and ``failed`` as
they happen, so the node can journal them; an exception from the hook (the journal failed)
stops the send and propagates, since continuing would leave the journal behind the wire.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from eessi.errors import MessageRefusedError, PeerUnreachableError
from eessi.transport.envelope import ErrorSignal, Receipt

if TYPE_CHECKING:
    from eessi.transport.hmac_sender import Sender

__all__ = [
    "Failure",
    "Refused",
    "Retry",
    "RetryPolicy",
    "SendResult",
    "SendStatus",
    "Sender",
    "StatusHook",
    "StatusUpdate",
    "deliver",
    "read_bounded",
    "refused_or_retry",
    "report_status",
    "retryable",
]

#: HTTP statuses other than 5xx after which the same message may be taken later.
_RETRY_STATUSES: Final = frozenset({408, 425, 429})


async def read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The answer's body, truncated after ``limit`` bytes (which then fails to decode)."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await resp.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class SendStatus(Enum):
    """Domibus-like states of an outbound message, reported through the status hook."""

    SENDING = "sending"
    WAITING_FOR_RECEIPT = "waiting_for_receipt"
    RETRYING = "retrying"
    ACKNOWLEDGED = "acknowledged"
    FAILED = "failed"


class Failure(Enum):
    """Why a send failed."""

    #: The peer answered with an error signal (or another 4xx): not retried.
    REFUSED_BY_PEER = "refused-by-peer"
    #: No receipt within the retry budget (unreachable, timeouts, 5xx, bad answers).
    RETRIES_EXHAUSTED = "retries-exhausted"


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One step of an outbound message, for the journal."""

    message_id: str
    status: SendStatus
    #: 1-based attempt number.
    attempt: int
    #: For ``retrying``: seconds until the next attempt.
    retry_in: float | None = None
    #: For ``retrying`` and ``failed``: what went wrong.
    error: str | None = None


StatusHook = Callable[[StatusUpdate], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry budget and back-off. ``max_attempts`` counts the first attempt."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    #: Up to this fraction is added to each delay at random.
    jitter: float = 0.5
    #: Seconds allowed for one attempt (connect, send, receive the signal).
    attempt_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("RetryPolicy delays and jitter must not be negative")
        if self.attempt_timeout <= 0:
            raise ValueError("RetryPolicy.attempt_timeout must be positive")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        return min(self.max_delay, self.base_delay * 2.0**retry) * (1 + self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class SendResult:
    """How a send ended."""

    message_id: str
    #: Attempts made (1 = first try).
    attempts: int
    #: The receipt, when acknowledged.
    receipt: Receipt | None = None
    #: Why it failed, when it did.
    failure: Failure | None = None
    #: Readable reason of the failure.
    reason: str | None = None
    #: The peer's error signal, when it refused.
    error: ErrorSignal | None = None
    #: HTTP status of the last answer, if any came.
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.receipt is not None

    def raise_for_failure(self) -> Receipt:
        """Return the receipt, or raise :class:`MessageRefusedError` /
        :class:`PeerUnreachableError` saying what happened."""
        if self.receipt is not None:
            return self.receipt
        details = {"message_id": self.message_id, "attempts": self.attempts}
        if self.failure is Failure.REFUSED_BY_PEER:
            if self.error is not None:
                details["code"] = self.error.code
            raise MessageRefusedError(
                self.reason or "the peer refused the message",
                where=f"message {self.message_id}",
                hint="fix the message as the peer's reason says; resending it unchanged will"
                " be refused again",
                details=details,
            )
        raise PeerUnreachableError(
            self.reason or "no receipt from the peer",
            where=f"message {self.message_id}",
            hint="check that the peer is running and its endpoint in the directory is right;"
            " the message can be re-sent later with the same MessageId",
            details=details,
        )


@dataclass(frozen=True, slots=True)
class Retry:
    """An attempt that may succeed if made again (no answer, 5xx, 408/429, unreadable)."""

    reason: str
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """An attempt the peer refused: the same bytes again would be refused again."""

    reason: str
    http_status: int
    error: ErrorSignal | None


def retryable(status: int) -> bool:
    """Whether an answer with HTTP ``status`` may change when the same bytes are sent again
    (5xx, 408, 425, 429): a sender retries it, even a receipt."""
    return status >= 500 or status in _RETRY_STATUSES


def refused_or_retry(status: int, receiver: str, error: ErrorSignal) -> Retry | Refused:
    """What ``receiver``'s error signal, answered with HTTP ``status``, means to its sender
    (every wire's): a refusal, or a retry when the status says "later"."""
    text = f"{error.code} {error.short_description}: {error.description}"
    if retryable(status):
        return Retry(f"HTTP {status}, {text}", status)
    return Refused(f"{receiver} refused the message: {text}", status, error)


async def report_status(
    on_status: StatusHook | None,
    message_id: str,
    status: SendStatus,
    attempt: int,
    *,
    retry_in: float | None = None,
    error: str | None = None,
) -> None:
    """Tell ``on_status`` (if any) where a send stands."""
    if on_status is not None:
        await on_status(StatusUpdate(message_id, status, attempt, retry_in, error))


async def deliver(
    message_id: str,
    url: str,
    attempt: Callable[[int], Awaitable[Receipt | Retry | Refused]],
    *,
    max_attempts: int,
    delay: Callable[[int], float],
    sleep: Callable[[float], Awaitable[None]],
    on_status: StatusHook | None,
    missing: str = "",
) -> SendResult:
    """The delivery loop of every sender (HTTP and eDelivery AS4): ``attempt(n)`` until a
    receipt, a refusal, or ``max_attempts``; ``delay(n)`` seconds before retry ``n`` (0 for
    the first); each step reported. ``missing`` prefixes the reason when no receipt came
    (AS4: ``EBMS:0301 MissingReceipt: ``)."""
    last: Retry | None = None
    attempts = 0
    for n in range(1, max_attempts + 1):
        attempts = n
        await report_status(on_status, message_id, SendStatus.SENDING, n)
        result = await attempt(n)
        if isinstance(result, Receipt):
            await report_status(on_status, message_id, SendStatus.ACKNOWLEDGED, n)
            return SendResult(message_id, n, receipt=result, http_status=200)
        if isinstance(result, Refused):
            await report_status(on_status, message_id, SendStatus.FAILED, n, error=result.reason)
            return SendResult(
                message_id,
                n,
                failure=Failure.REFUSED_BY_PEER,
                reason=result.reason,
                error=result.error,
                http_status=result.http_status,
            )
        last = result
        if n < max_attempts:
            wait = delay(n - 1)
            await report_status(
                on_status, message_id, SendStatus.RETRYING, n, retry_in=wait, error=result.reason
            )
            await sleep(wait)
    assert last is not None
    if max_attempts == 1:  # the caller keeps the count (a node's own retries)
        reason = f"{missing}no receipt from {url}: {last.reason}"
    else:
        reason = f"{missing}no receipt from {url} after {attempts} attempt(s); last: {last.reason}"
    await report_status(on_status, message_id, SendStatus.FAILED, attempts, error=reason)
    return SendResult(
        message_id,
        attempts,
        failure=Failure.RETRIES_EXHAUSTED,
        reason=reason,
        http_status=last.http_status,
    )


def __getattr__(name: str) -> Any:
    """``Sender``, the HMAC envelope's sender, imported on first use: a node on eDelivery AS4
    never loads it (D232)."""
    if name == "Sender":
        return importlib.import_module("eessi.transport.hmac_sender").Sender
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
