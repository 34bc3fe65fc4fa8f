"""The HMAC envelope's sender: :class:`Sender` (module :mod:`eessi.transport.client` says how
it retries). Imported when that transport is used (D232); the delivery loop and the values
it reports (:func:`~eessi.transport.client.deliver`, ``SendResult``, ``RetryPolicy``) live in
:mod:`eessi.transport.client`, shared with eDelivery AS4."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import aiohttp

from eessi.errors import EnvelopeError
from eessi.transport.auth import SIGNATURE_HEADER, CredentialLookup, sign, verify
from eessi.transport.client import (
    Refused,
    Retry,
    RetryPolicy,
    SendResult,
    SendStatus,
    StatusHook,
    deliver,
    read_bounded,
    refused_or_retry,
    report_status,
    retryable,
)
from eessi.transport.envelope import (
    MAX_ENVELOPE_BYTES,
    ErrorSignal,
    Receipt,
    UserMessage,
    payload_digest,
)
from eessi.transport.envelope_xml import decode_signal, encode
from eessi.transport.framing import Framed, frame

__all__ = ["Sender"]

#: Signals are about 1 KiB; a peer's answer is read up to this size and no further.
_MAX_SIGNAL_BYTES = MAX_ENVELOPE_BYTES


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
        try:
            signal = decode_signal(data)
        except EnvelopeError as exc:
            snippet = data[:200].decode("utf-8", "replace")
            if retryable(status) or 200 <= status < 300:
                return Retry(f"HTTP {status} with an unreadable answer ({exc.message})", status)
            return Refused(f"HTTP {status} without an error signal: {snippet!r}", status, None)
        if self._peer_credentials is not None:
            secret = self._peer_credentials(message.to_party)
            if secret is None or not verify(data, secret, signature):
                return Retry(f"HTTP {status} answer not signed by {message.to_party}", status)
        if isinstance(signal, ErrorSignal):
            return refused_or_retry(status, message.to_party, signal)
        if retryable(status):
            return Retry(f"HTTP {status} with a receipt", status)
        if signal.ref_to_message_id != message.message_id:
            return Retry(
                f"the receipt acknowledges {signal.ref_to_message_id}, not {message.message_id}",
                status,
            )
        return signal
