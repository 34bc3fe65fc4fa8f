"""The non-repudiation receipt (AS4 profile 5.1.8): signed, and bound to the message's digests.

The receiver of a user message answers with :func:`signed_receipt`: an ``eb:Receipt`` whose
``ebbp:NonRepudiationInformation`` repeats every ``ds:Reference`` of the message's signature
(so it says exactly which header, body and attachments it received), signed with the
receiver's key like any message (``eb:Messaging`` and the Body).

The sender checks it with :func:`check_receipt`: the receipt's signature verifies under the
receiver's certificate, it answers the message sent, and its references are exactly the ones
the sender signed, digest for digest. Anything else is EBMS:0302 (InvalidReceipt).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from lxml import etree

from eessi.as4.ebms_build import receipt_envelope
from eessi.as4.model import Receipt, SignedReference
from eessi.as4.security import Credentials, Trust, security_error
from eessi.as4.security.sign import sign
from eessi.as4.security.verify import verify
from eessi.errors import EnvelopeError

__all__ = ["check_receipt", "signed_receipt"]


def signed_receipt(receipt: Receipt, credentials: Credentials | None) -> etree._Element:
    """The receipt's envelope, signed with ``credentials`` (unsigned when ``None``)."""
    envelope = receipt_envelope(receipt)
    if credentials is not None:
        sign(envelope, (), credentials)
    return envelope


def check_receipt(
    envelope: etree._Element,
    receipt: Receipt,
    *,
    message_id: str,
    sent: Sequence[SignedReference],
    trust: Trust | None,
    receiver: str | None,
    now: datetime,
) -> None:
    """Check that ``receipt`` (parsed from ``envelope``) acknowledges what was sent.

    ``trust`` ``None``: the P-Mode has no security, so the receipt is not signed and only its
    binding to ``message_id`` and the ``sent`` digests is checked.
    """
    if receipt.ref_to_message_id != message_id:
        raise security_error(
            f"the receipt answers {receipt.ref_to_message_id!r}, not {message_id!r}",
            "eb:SignalMessage/eb:MessageInfo/eb:RefToMessageId",
            "EBMS:0302",
        )
    if trust is not None:
        try:
            verify(envelope, (), trust, sender=receiver, now=now)
        except EnvelopeError as exc:
            raise security_error(
                f"the receipt's signature is refused: {exc.message}",
                exc.where or "ds:Signature",
                "EBMS:0302",
            ) from None
    got = {(r.uri, r.digest_value) for r in receipt.references}
    want = {(r.uri, r.digest_value) for r in sent}
    if got != want:
        missing = sorted(uri for uri, _ in want - got)
        raise security_error(
            "the receipt's non-repudiation information does not match what was sent"
            + (f" (differs for {', '.join(missing)})" if missing else ""),
            "ebbp:NonRepudiationInformation",
            "EBMS:0302",
        )
