"""Funds outside EESSI: what they send back when the CNS asks for a document.

Three profiles answer outside EESSI (``documents`` in the profile): the Belgian mutual insurer
(BL1 after affiliation, BL6 on a change of situation; R16), the fund of a bilateral-agreement
country (the agreement's 104 form, a certificate of co-insurance; R6) and, for a country with
no agreement (R7), the family member returning the CNS's declaration on honour: there is no
fund at all. None of these travels as a SED: the CNS records them as
:class:`~eessi.core.messages.DocumentProvided` inputs (a scanned form handed in).

:func:`answer_requests` is the mock's reaction to the CNS's
:class:`~eessi.core.messages.DocumentsRequested` event: the documents of the request that this
profile provides, as inputs ready for the CNS node's ``submit``. Pure; the caller decides
when they arrive (at once, or later to exercise the CNS's document reminders).
"""

from __future__ import annotations

from collections.abc import Callable

from eessi.core.messages import DocumentProvided, DocumentsRequested
from eessi.mock.profiles import Profile

__all__ = ["answer_requests"]


def answer_requests(
    profile: Profile,
    requested: DocumentsRequested,
    main_insured_pin: Callable[[str], str],
) -> tuple[DocumentProvided, ...]:
    """The documents of ``requested`` that ``profile`` provides, as CNS inputs.

    ``main_insured_pin(household)`` gives the matricule of the household's main insured (the
    CNS files documents under it): e.g. ``lambda h: cns.desk.registry.entry(h).household.
    main_insured[0].pin``.
    """
    kinds = [k for k in requested.kinds if k in profile.documents]
    if not kinds:
        return ()
    pin = main_insured_pin(requested.member.household)
    return tuple(DocumentProvided(pin, requested.member.member, kind) for kind in kinds)
