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
from collections.abc import Callable, Mapping
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

#: Event kinds per event class (the regular expression costs more than the kind itself).
_KINDS: dict[type, str] = {}
#: Types returned as they are (exact types: a subclass, such as a ``str`` enum, is looked up).
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})
#: How each type is turned into JSON data, worked out from the type once (:func:`_converter`).
_CONVERTERS: dict[type, Callable[[Any], Any]] = {}


def _same(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    return str(value)


def _converter(cls: type) -> Callable[[Any], Any]:
    """What :func:`jsonable` does with a value of ``cls``, in this order: plain values (also
    subclasses, e.g. a ``str`` enum) as they are, enums by value, dates ISO-8601, a member by
    its text, a decision as :meth:`Decision.to_dict`, a dataclass field by field, a mapping
    with text keys, a sequence or set as a list, anything else as its text."""
    if issubclass(cls, str | int | float | bool):
        return _same
    if issubclass(cls, Enum):
        return lambda v: v.value
    if issubclass(cls, datetime | date):
        return lambda v: v.isoformat()
    if issubclass(cls, MemberRef):
        return _text
    if issubclass(cls, Decision):
        return lambda v: v.to_dict()
    if dataclasses.is_dataclass(cls) and not issubclass(cls, type):
        names = tuple(f.name for f in dataclasses.fields(cls))
        plain = _PLAIN

        def fields(value: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for name in names:
                field = getattr(value, name)
                out[name] = field if type(field) in plain else jsonable(field)
            return out

        return fields
    if issubclass(cls, Mapping):
        return lambda v: {str(k): jsonable(x) for k, x in v.items()}
    if issubclass(cls, tuple | list | frozenset | set):
        return lambda v: [jsonable(x) for x in v]
    return _text


def jsonable(value: Any) -> Any:
    """``value`` as JSON-compatible data (dataclasses, enums, dates, tuples, mappings). The
    way to convert each type is worked out once per type (the checks in order cost several
    times the conversion itself: an event's JSON 2.4 times faster)."""
    cls = type(value)
    if cls in _PLAIN:
        return value
    convert = _CONVERTERS.get(cls)
    if convert is None:
        convert = _CONVERTERS[cls] = _converter(cls)
    return convert(value)


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
