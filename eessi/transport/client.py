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

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

import aiohttp

from eessi.errors import EnvelopeError, MessageRefusedError, PeerUnreachableError
from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup, sign, verify
from eessi.transport.envelope import (
    MAX_ENVELOPE_BYTES,
    ErrorSignal,
    Receipt,
    UserMessage,
    decode_signal,
    encode,
    payload_digest,
)
from eessi.transport.framing import Framed, frame

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
    "report_status",
]

_RETRY_STATUSES = frozenset({408, 425, 429})
#: Signals are about 1 KiB; a peer's answer is read up to this size and no further.
_MAX_SIGNAL_BYTES = MAX_ENVELOPE_BYTES


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


class Sender:
    """Sends user messages over one shared ``aiohttp.ClientSession``.

    ``credential`` is this institution's own secret (it signs every body). If
    ``peer_credentials`` is given, signals must carry a valid signature of the receiver,
    otherwise they are treated as unreadable answers (and retried).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        credential: str,
        rng: random.Random,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_status: StatusHook | None = None,
        peer_credentials: CredentialLookup | None = None,
    ) -> None:
        self.session = session
        self.policy = policy if policy is not None else RetryPolicy()
        self._credential = credential
        self._rng = rng
        self._sleep = sleep
        self._on_status = on_status
        self._peer_credentials = peer_credentials
        self._timeout = aiohttp.ClientTimeout(total=self.policy.attempt_timeout)

    @staticmethod
    def prepare(message: UserMessage, payload: bytes) -> Framed:
        """The exact body (and its Content-Type) that :meth:`send` posts for ``message``."""
        if (
            len(payload) != message.payload_size
            or payload_digest(payload) != message.payload_digest
        ):
            raise EnvelopeError(
                f"the payload does not match the digest and size of message {message.message_id}",
                where=f"message {message.message_id}",
                hint="build the envelope with UserMessage.for_payload(payload, ...)",
                code="transport.digest-mismatch",
            )
        return frame(
            encode(message),
            payload,
            boundary_seed=message.payload_digest,
            payload_id=message.payload_id,
        )

    async def send(self, url: str, message: UserMessage, payload: bytes) -> SendResult:
        """Post ``message`` with ``payload`` to ``url`` until acknowledged, refused or out of
        attempts. Never raises for network failures: the result says what happened."""
        framed = self.prepare(message, payload)
        headers = {
            "Content-Type": framed.content_type,
            SIGNATURE_HEADER: sign(framed.body, self._credential),
        }
        return await deliver(
            message.message_id,
            url,
            lambda n: self._attempt(url, framed.body, headers, message, n),
            max_attempts=self.policy.max_attempts,
            delay=lambda n: self.policy.delay(n, self._rng),
            sleep=self._sleep,
            on_status=self._on_status,
        )

    async def _attempt(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        message: UserMessage,
        attempt: int,
    ) -> Receipt | Retry | Refused:
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=self._timeout
            ) as resp:
                await report_status(
                    self._on_status, message.message_id, SendStatus.WAITING_FOR_RECEIPT, attempt
                )
                data = await read_bounded(resp, _MAX_SIGNAL_BYTES)
                status = resp.status
                signature = resp.headers.get(SIGNATURE_HEADER)
        except TimeoutError:
            return Retry(f"no answer within {self.policy.attempt_timeout:g} s")
        except aiohttp.ClientConnectorError as exc:
            return Retry(f"cannot connect to {url}: {exc.os_error.strerror or exc}")
        except aiohttp.ClientError as exc:
            return Retry(f"{type(exc).__name__}: {exc}".rstrip(": "))
        return self._classify(status, data, signature, message)

    def _classify(
        self, status: int, data: bytes, signature: str | None, message: UserMessage
    ) -> Receipt | Retry | Refused:
        retryable = status >= 500 or status in _RETRY_STATUSES
        try:
            signal = decode_signal(data)
        except EnvelopeError as exc:
            snippet = data[:200].decode("utf-8", "replace")
            if retryable or 200 <= status < 300:
                return Retry(f"HTTP {status} with an unreadable answer ({exc.message})", status)
            return Refused(f"HTTP {status} without an error signal: {snippet!r}", status, None)
        if self._peer_credentials is not None:
            secret = self._peer_credentials(message.to_party)
            if secret is None or not verify(data, secret, signature):
                return Retry(f"HTTP {status} answer not signed by {message.to_party}", status)
        if isinstance(signal, ErrorSignal):
            text = f"{signal.code} {signal.short_description}: {signal.description}"
            if retryable:
                return Retry(f"HTTP {status}, {text}", status)
            return Refused(f"{message.to_party} refused the message: {text}", status, signal)
        if retryable:
            return Retry(f"HTTP {status} with a receipt", status)
        if signal.ref_to_message_id != message.message_id:
            return Retry(
                f"the receipt acknowledges {signal.ref_to_message_id}, not {message.message_id}",
                status,
            )
        return signal
