"""Shared builders for the AS4 tests (a SED user message as the node would send it)."""

from __future__ import annotations

from datetime import UTC, datetime

from eessi.as4.ebms_build import sed_user_message
from eessi.as4.mapping import Addressing
from eessi.as4.model import Attachment, UserMessage
from eessi.as4.pmode import PModeSet, default_pmodes_path, load_pmodes
from eessi.sed.examples import example_xml

WHEN = datetime(2026, 4, 15, 9, 0, 0, 123000, tzinfo=UTC)
CNS = "LU:CNS00001"
CPAM = "FR:CPAM5701"


def pmodes() -> PModeSet:
    return load_pmodes(default_pmodes_path())


def s072_message(seed: int = 1) -> tuple[UserMessage, Attachment, bytes]:
    """An S072 from the CNS to the CPAM in case FR-1A2B3C, its attachment and the SED."""
    sed = example_xml("S072", seed=seed)
    addressing = Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4")
    pm = pmodes().find("S_BUC_01", "S072")
    um, attachment = sed_user_message(
        addressing,
        pm,
        sed,
        message_id=f"m-{seed}@eessi-sim",
        timestamp=WHEN,
        content_id=f"sed-{seed}@eessi-sim",
        ref_to_message_id="m-0@eessi-sim",
    )
    return um, attachment, sed
