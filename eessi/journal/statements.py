"""The SQL both journals run, written once: statements, and what differs between the two.

Every statement is written here with PostgreSQL's numbered placeholders (``$1``, ``$2``...); a
:class:`Dialect` turns them into its database's form (SQLite reads ``?1``, ``?2``...: the same
numbering, so a placeholder used twice binds one value) and says how the two databases differ
where they do: how a time is stored (SQLite: UTC ISO-8601 text that sorts as it compares;
PostgreSQL: ``timestamptz``), how a list of values is matched (``IN (...)`` or ``= ANY``), and
whether a row read before a change is locked (``FOR UPDATE``). What is the driver's own (the
SQLite writer thread and group commit, asyncpg's pool, advisory locks, partitions) stays in
``sqlite`` and ``postgres``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

__all__ = [
    "ACCEPT_SUFFIX",
    "BLOBS_INSERT",
    "CASE_COLUMNS",
    "CASE_SQL",
    "CLAIMED",
    "COLUMNS",
    "DUE_WHERE",
    "EVENT_COLUMNS",
    "EVENT_SQL",
    "INSERT",
    "MARK_SQL",
    "MESSAGES",
    "N_ROW",
    "POSTGRES",
    "RECORD_BY_SEQ",
    "RESUME_SQL",
    "ROW_COLUMNS",
    "SQLITE",
    "STATUS_OF_INBOUND",
    "STATUS_ROW",
    "STATUS_SQL",
    "Args",
    "Dialect",
]

#: The columns of the ``messages`` row: what a status change rewrites.
ROW_COLUMNS = (
    "message_id, direction, sender, receiver, conversation_id, ref_to_message_id, sed_type,"
    " sed_version, service, action, created_at, received_at, sent_at, status, attempts,"
    " next_attempt_at, last_error, duplicates, updated_at"
)
#: How many values :data:`INSERT` takes (the first ones of
#: :func:`eessi.journal.rows.message_params`; the envelope and payload follow).
N_ROW = len(ROW_COLUMNS.split(","))
#: The columns of a whole message record, in :func:`eessi.journal.rows.message_record`'s
#: order: the row's, then the exact bytes from ``message_blobs`` (schema version 3 of SQLite,
#: 6 of PostgreSQL: the blobs live beside the row, so that a status change rewrites a small
#: row, not the 10 KB of an AS4 package).
COLUMNS = f"{ROW_COLUMNS}, envelope, payload"
#: What a whole record is read from.
MESSAGES = "messages JOIN message_blobs ON message_seq = seq"
#: The placeholder of the row's ``status`` in :data:`INSERT`.
_STATUS_PARAM = [c.strip() for c in ROW_COLUMNS.split(",")].index("status") + 1
#: ``claimed``, written by every insert and never changed: 1 when the row claims its message
#: ID in its direction, NULL for a copy refused at the door (its status is ``refused`` from its
#: insert on, and no status moves to or from ``refused``). NULLs never collide in the unique
#: index ``messages_claimed_id (message_id, direction, claimed)``, so a refused copy claims
#: nothing; and as no status change writes ``claimed``, none rewrites that index (D301).
CLAIMED = f"CASE WHEN ${_STATUS_PARAM} = 'refused' THEN NULL ELSE 1 END"
INSERT = (
    f"INSERT INTO messages ({ROW_COLUMNS}, claimed) VALUES"
    f" ({', '.join(f'${i}' for i in range(1, N_ROW + 1))}, {CLAIMED})"
)
#: A message's bytes, stored beside its row (``$1``: the row's seq); kept if already there
#: (a duplicate's accept, which stores no new row).
BLOBS_INSERT = (
    "INSERT INTO message_blobs (message_seq, envelope, payload) VALUES ($1, $2, $3)"
    " ON CONFLICT (message_seq) DO NOTHING"
)
#: Appended to an insert of an inbound message: a second copy from the same sender counts as
#: a duplicate (``RETURNING`` its count, and the row's seq); one from another sender returns
#: no row.
ACCEPT_SUFFIX = (
    " ON CONFLICT (message_id, direction, claimed)"
    " DO UPDATE SET duplicates = messages.duplicates + 1"
    " WHERE messages.sender = excluded.sender RETURNING duplicates, seq"
)
EVENT_COLUMNS = "case_id, seq, at, kind, data, message_id"
EVENT_SQL = f"INSERT INTO case_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
CASE_COLUMNS = "case_id, state, updated_at, last_seq"
CASE_SQL = (
    "INSERT INTO cases (case_id, state, updated_at, last_seq) VALUES ($1, $2, $3,"
    " (SELECT COALESCE(MAX(seq), 0) FROM case_events WHERE case_id = $1))"
    " ON CONFLICT (case_id) DO UPDATE SET state = excluded.state,"
    " updated_at = excluded.updated_at, last_seq = excluded.last_seq"
)
#: An inbound message processed, rejected or expired: only from ``received``.
MARK_SQL = (
    "UPDATE messages SET status = $1, last_error = $2, updated_at = $3"
    " WHERE direction = 'in' AND message_id = $4 AND status = 'received'"
)
#: The status of the (non-refused) inbound message with this ID: why a mark changed nothing.
STATUS_OF_INBOUND = (
    "SELECT status FROM messages WHERE direction = 'in' AND message_id = $1 AND status <> 'refused'"
)
#: What a status change reads first (the dialect adds its row lock).
STATUS_ROW = (
    "SELECT seq, status, attempts, sent_at FROM messages"
    " WHERE direction = $1 AND message_id = $2 AND status <> 'refused'"
)
STATUS_SQL = (
    "UPDATE messages SET status = $1, attempts = $2, sent_at = $3, next_attempt_at = $4,"
    " last_error = $5, updated_at = $6 WHERE seq = $7"
)
#: A whole record by its row's seq (after a status change, to read it back).
RECORD_BY_SEQ = f"SELECT {COLUMNS} FROM {MESSAGES} WHERE seq = $1"
#: After a restart: the sends that were under way are due again (``$1``: now).
RESUME_SQL = (
    "UPDATE messages SET status = 'retrying', next_attempt_at = NULL, updated_at = $1,"
    " last_error = COALESCE(last_error, 'interrupted by a restart')"
    " WHERE direction = 'out' AND status IN ('sending', 'waiting_for_receipt')"
)
#: The outbox: messages due at ``$1`` (the caller adds its scope, order and limit).
DUE_WHERE = (
    "direction = 'out' AND status IN ('queued', 'retrying')"
    " AND (next_attempt_at IS NULL OR next_attempt_at <= $1)"
)

_PLACEHOLDER = re.compile(r"\$(\d+)")


#: The last time :func:`_ts_text` wrote, and its text: a transaction stores one time in every
#: event, snapshot and mark it writes (one tuple, swapped whole: safe across threads).
_last_ts: tuple[datetime | None, str] = (None, "")


def _ts_text(value: datetime) -> str:
    global _last_ts
    last = _last_ts
    if last[0] is value:
        return last[1]
    # isoformat is several times cheaper than strftime; same text (``...00.000000Z``).
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    text = utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    _last_ts = (value, text)
    return text


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _same(value: datetime) -> datetime:
    return value


@lru_cache(maxsize=512)
def _question_marks(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


def _dollars(sql: str) -> str:
    return sql


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the SQL of SQLite and of PostgreSQL, for the statements above."""

    name: str
    #: The statement in this database's placeholders (from ``$n``).
    sql: Callable[[str], str]
    #: A time as this database stores it (aware datetime in).
    ts: Callable[[datetime], Any]
    #: A stored time back as a UTC datetime.
    dt: Callable[[Any], datetime]
    #: Appended to :data:`STATUS_ROW`: lock the row until the change commits.
    for_update: str
    #: Match a list: ``IN (...)`` (one placeholder a value) or ``= ANY($n::text[])``.
    one_array: bool

    def ts_opt(self, value: datetime | None) -> Any:
        return None if value is None else self.ts(value)

    def dt_opt(self, value: Any) -> datetime | None:
        return None if value is None else self.dt(value)

    def any_of(self, args: Args, column: str, values: Sequence[str]) -> str:
        """``column`` is one of ``values``, as a clause (its placeholders added to ``args``)."""
        if self.one_array:
            return f"{column} = ANY({args.add(list(values))}::text[])"
        return f"{column} IN ({', '.join(args.add(v) for v in values)})"


SQLITE = Dialect(
    "sqlite",
    sql=_question_marks,
    ts=_ts_text,
    dt=datetime.fromisoformat,
    for_update="",
    one_array=False,
)
POSTGRES = Dialect(
    "postgresql", sql=_dollars, ts=_same, dt=_as_utc, for_update=" FOR UPDATE", one_array=True
)


class Args:
    """The parameters of a statement built clause by clause: :meth:`add` returns the next
    placeholder (``$n``)."""

    __slots__ = ("values",)

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
