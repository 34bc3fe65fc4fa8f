"""Which document an ebMS MessageId names, and which MessageId to answer (D165).

A node names each document it sends by a UUID (EESSI's SED references, ``SedReference.sed_id``,
take a UUID only) and sends it under that UUID as its MessageId (``<uuid>~<n>`` for revision
``n`` > 1). Other Access Points choose their own MessageIds: Domibus makes RFC 2822 ones,
``<uuid>@<host>``, and ebMS allows any string. On receipt the document's ID is therefore read
from the MessageId by :func:`document_of`:

* ``<uuid>`` or ``<uuid>~<n>``: the UUID (ours, or a sender that follows our convention);
* ``<uuid>@<host>``: the UUID before the ``@`` (what the sender's own backend generated);
* anything else: a UUID derived from the whole MessageId (:func:`uuid.uuid5`, so every node,
  restart and replay derives the same one).

The MessageId itself stays the message's identity (journal key, duplicate detection); a reply
names the AS4 message it answers in RefToMessageId through :class:`AnsweredMessages`, which
the journal keeps (:data:`MESSAGE_IDS_LOG`, written in the same transaction as the document's
processing) so that a reply after a restart names it too.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

__all__ = ["MESSAGE_IDS_LOG", "AnsweredMessages", "document_of", "is_own_form"]

_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_OWN: Final = re.compile(rf"({_UUID})(?:~([1-9][0-9]{{0,8}}))?")
_AT_HOST: Final = re.compile(rf"({_UUID})@[^@\s]+")
#: Pseudo case ID of the journal's record of :class:`AnsweredMessages` (one ``message-id`` event
#: per such document, committed with the document's processing; read back at restart).
MESSAGE_IDS_LOG: Final = "~message-ids"
#: Namespace of the document IDs derived from MessageIds of any other form.
_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:eessi-sim:message-id")


def document_of(message_id: str) -> tuple[str, int]:
    """The document ID (a UUID) and its revision that ``message_id`` carries (see the module
    docstring)."""
    own = _OWN.fullmatch(message_id)
    if own is not None:
        return own[1], int(own[2] or 1)
    at_host = _AT_HOST.fullmatch(message_id)
    if at_host is not None:
        return at_host[1], 1
    return str(uuid.uuid5(_NAMESPACE, message_id)), 1


def is_own_form(message_id: str) -> bool:
    """Whether ``message_id`` is ``<uuid>`` or ``<uuid>~<n>`` (its document ID says it all)."""
    return _OWN.fullmatch(message_id) is not None


class AnsweredMessages:
    """The MessageId each received document travelled under, by document ID, for the
    documents whose MessageId is not their own ID: a reply's RefToMessageId names that
    message (the sender's), its SED references name the document's UUID."""

    def __init__(self) -> None:
        self._by_document: dict[str, str] = {}

    def received(self, document_id: str, message_id: str) -> None:
        """Note that ``document_id`` arrived as ``message_id``."""
        if not is_own_form(message_id):
            self._by_document[document_id] = message_id

    def message_of(self, document_id: str | None) -> str | None:
        """The MessageId to put in RefToMessageId for a reply to ``document_id``."""
        if document_id is None:
            return None
        return self._by_document.get(document_id, document_id)

    def clear(self) -> None:
        self._by_document.clear()
