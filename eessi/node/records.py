"""JSON forms the node writes to the journal: domain events, case snapshots, the input log.

Kept apart from :mod:`eessi.node.institution` so that the admin API and trace tools read the
same shapes the node writes.

* Events: kind = the event class in kebab case (``case-state-changed``), data = its fields as
  JSON (enums by value, dates ISO-8601; a decision as :meth:`Decision.to_dict`).
* Case snapshots: :func:`case_state` (BUC, role, state, peer, who it is about, every document
  exchanged with direction, revision and time, and what is awaited).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, Final

from eessi.core.desk import CaseFile
from eessi.core.eligibility import Decision
from eessi.core.messages import Event, MemberRef

__all__ = [
    "DESK_LOG",
    "INPUT_LOG",
    "REFUSED_LOG",
    "case_state",
    "event_case",
    "event_json",
    "jsonable",
]

#: Pseudo case ID of the input log (every input that changed the desk, in order, for replay).
INPUT_LOG: Final = "~inputs"
#: Pseudo case ID for domain events that belong to no case (decisions, document requests).
DESK_LOG: Final = "~desk"
#: Pseudo case ID of the refusals before authentication: a bounded summary each, never a case.
REFUSED_LOG: Final = "~refused"

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

#: Field names per dataclass, and event kinds per event class: computed once per class
#: (``dataclasses.fields`` and the regular expression cost more than the values themselves).
_FIELDS: dict[type, tuple[str, ...]] = {}
_KINDS: dict[type, str] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (dataclasses, enums, dates, tuples, mappings)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, MemberRef):
        return str(value)
    if isinstance(value, Decision):
        return value.to_dict()
    cls = type(value)
    names = _FIELDS.get(cls)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _field_names(cls)
    if names is not None:
        return {name: jsonable(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [jsonable(v) for v in value]
    return str(value)


def event_json(event: Event) -> tuple[str, dict[str, Any]]:
    """``(kind, data)`` of a domain event."""
    cls = type(event)
    kind = _KINDS.get(cls)
    if kind is None:
        kind = _KINDS[cls] = _CAMEL.sub("-", cls.__name__).lower()
    data = jsonable(event)
    assert isinstance(data, dict)
    return kind, data


def event_case(event: Event) -> str | None:
    """The case an event belongs to, if it names one."""
    case_id = getattr(event, "case_id", None)
    return case_id if isinstance(case_id, str) else None


def case_state(cf: CaseFile) -> dict[str, Any]:
    """The JSON snapshot of one case (what ``journal.case(id)`` returns as ``state``)."""
    snap = cf.snapshot
    wait = snap.wait
    return {
        "case_id": snap.case_id,
        "buc": snap.buc,
        "role": snap.role.value,
        "state": snap.state.value,
        "peer": cf.peer,
        "member": None if cf.member is None else str(cf.member),
        "person": cf.person,
        "suspended": cf.suspended,
        "opened_at": snap.opened_at.isoformat(),
        "completed": snap.completed,
        "documents": [
            {
                "sed": ex.document.code,
                "document_id": ex.document.document_id,
                "answers": ex.document.answers,
                "direction": ex.direction.value,
                "revision": ex.revision,
                "at": ex.at.isoformat(),
            }
            for ex in snap.history
        ],
        "awaiting": None
        if wait is None
        else {
            "sed": wait.sed,
            "answers": wait.answers,
            "from": wait.sender.value,
            "deadline": wait.deadline.isoformat(),
        },
    }
