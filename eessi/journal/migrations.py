"""Schema migrations of the journal: an ordered, versioned list per backend.

A journal store records the version of its schema; opening it runs, in one transaction, every
migration after that version, in order. A store written by a *newer* eessi-sim (a version this
code does not know) is refused with a :class:`~eessi.errors.JournalError` naming both versions:
it is never read with a schema it does not have.

The PostgreSQL journal keeps its version in a ``schema_version`` table (one row per migration
applied: version, when, what). The SQLite journal keeps it in ``PRAGMA user_version`` (in the
file header, written in the same transaction as the migration); see docs/journal.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eessi.errors import JournalError

__all__ = ["CLAIMED_STATEMENTS", "POSTGRES_MIGRATIONS", "Migration", "pending_migrations"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: from ``version - 1`` to ``version``."""

    version: int
    #: What it changes, stored with it (``schema_version.description``).
    description: str
    #: The SQL statements, run in order inside the opening transaction.
    statements: tuple[str, ...]


def pending_migrations(
    current: int, migrations: Sequence[Migration], *, where: str
) -> list[Migration]:
    """The migrations to run on a store at version ``current`` (0: a new, empty store).

    Raises :class:`JournalError` (``journal.schema``) if the list is not numbered 1, 2, 3...,
    or if ``current`` is newer than the last migration this code knows.
    """
    for position, migration in enumerate(migrations, start=1):
        if migration.version != position:  # a programming error, caught by the tests
            raise JournalError(
                f"journal migrations are misnumbered: #{position} says {migration.version}",
                code="journal.schema",
                hint="number the migrations 1, 2, 3... in order",
            )
    latest = len(migrations)
    if current > latest:
        raise JournalError(
            f"the journal has schema version {current}; this eessi-sim knows up to {latest}",
            code="journal.schema",
            where=where,
            hint="upgrade eessi-sim, or use a journal written by this version",
            details={"found": current, "known": latest},
        )
    return list(migrations[current:])


_POSTGRES_V1 = (
    """CREATE TABLE messages (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id        TEXT    NOT NULL,
    direction         TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    sender            TEXT    NOT NULL,
    receiver          TEXT    NOT NULL,
    conversation_id   TEXT    NOT NULL,
    ref_to_message_id TEXT,
    sed_type          TEXT    NOT NULL,
    sed_version       TEXT    NOT NULL,
    service           TEXT    NOT NULL,
    action            TEXT    NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    received_at       TIMESTAMPTZ,
    sent_at           TIMESTAMPTZ,
    status            TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TIMESTAMPTZ,
    last_error        TEXT,
    duplicates        INTEGER NOT NULL DEFAULT 0,
    updated_at        TIMESTAMPTZ,
    envelope          BYTEA   NOT NULL,
    payload           BYTEA   NOT NULL
)""",
    # A message ID is claimed once per direction, except by refused messages (spoofed copies).
    "CREATE UNIQUE INDEX messages_claimed_id ON messages (direction, message_id)"
    " WHERE status <> 'refused'",
    "CREATE INDEX messages_by_id ON messages (message_id)",
    "CREATE INDEX messages_by_case ON messages (conversation_id, seq)",
    "CREATE INDEX messages_by_status ON messages (status, next_attempt_at)",
    """CREATE TABLE case_events (
    case_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    kind       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    message_id TEXT,
    PRIMARY KEY (case_id, seq)
)""",
    """CREATE TABLE cases (
    case_id    TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    last_seq   INTEGER NOT NULL
)""",
)

_POSTGRES_V2 = (
    """CREATE TABLE checkpoint (
    slot      INTEGER PRIMARY KEY CHECK (slot = 1),
    header    TEXT    NOT NULL,
    input_seq BIGINT  NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    items     INTEGER NOT NULL
)""",
    """CREATE TABLE checkpoint_items (
    tbl   TEXT  NOT NULL,
    key   BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (tbl, key)
)""",
)

#: The PostgreSQL journal's schema, step by step. Append; never edit a released step.
#: Several processes of one institution on one journal (eessi.node.ownership, D117): who owns
#: the institution's cases now, fenced by an epoch that each new owner increments.
_POSTGRES_V3 = (
    """CREATE TABLE owners (
        institution TEXT PRIMARY KEY,
        epoch BIGINT NOT NULL,
        holder TEXT NOT NULL,
        since TIMESTAMPTZ NOT NULL
    )""",
)

#: Several processes of one institution sharing its cases by partition (eessi.node.partitions,
#: D145-D147): the partition of each message (NULL: not partitioned, or refused at the door);
#: one owner per partition, fenced by its epoch; a checkpoint per partition (slot); the admin
#: requests a process queues for the owner of their partition.
_POSTGRES_V4 = (
    "ALTER TABLE messages ADD COLUMN part INTEGER",
    "CREATE INDEX messages_by_part ON messages (part, status)",
    """CREATE TABLE partitions (
        institution TEXT NOT NULL,
        part INTEGER NOT NULL,
        epoch BIGINT NOT NULL,
        holder TEXT NOT NULL,
        since TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (institution, part)
    )""",
    "ALTER TABLE checkpoint DROP CONSTRAINT checkpoint_slot_check",
    "ALTER TABLE checkpoint_items ADD COLUMN slot INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE checkpoint_items DROP CONSTRAINT checkpoint_items_pkey",
    "ALTER TABLE checkpoint_items ADD PRIMARY KEY (slot, tbl, key)",
    """CREATE TABLE shared_inputs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        institution TEXT NOT NULL,
        part INTEGER NOT NULL,
        input BYTEA NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'taken', 'done', 'failed')),
        result BYTEA,
        queued_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX shared_inputs_queued ON shared_inputs (institution, part, id)"
    " WHERE status = 'queued'",
)

#: How many partitions each shared institution's cases are split into: fixed at the first
#: start, so that a process given another number is refused (D145).
_POSTGRES_V5 = (
    """CREATE TABLE shared_institutions (
        institution TEXT PRIMARY KEY,
        partitions INTEGER NOT NULL CHECK (partitions > 0),
        since TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
)

#: A message's envelope and payload beside its row (D176): a status change rewrites the row
#: only. PostgreSQL already keeps large values out of line (TOAST) and leaves them alone on an
#: update; the table is here so that both journals have one schema and one set of statements.
_POSTGRES_V6 = (
    """CREATE TABLE message_blobs (
        message_seq BIGINT PRIMARY KEY,
        envelope    BYTEA  NOT NULL,
        payload     BYTEA  NOT NULL
    )""",
    "INSERT INTO message_blobs (message_seq, envelope, payload)"
    " SELECT seq, envelope, payload FROM messages",
    "ALTER TABLE messages DROP COLUMN envelope, DROP COLUMN payload",
)

#: A message ID claimed once per direction, by an index that no status change rewrites (D301):
#: the unique index named ``status`` in its condition, so every status change rewrote its
#: entry; ``claimed`` (1, or NULL for a refused copy) never changes after the insert. The
#: index also serves the lookups by message ID alone, so ``messages_by_id`` goes.
CLAIMED_STATEMENTS = (
    "ALTER TABLE messages ADD COLUMN claimed INTEGER DEFAULT 1 CHECK (claimed = 1)",
    "UPDATE messages SET claimed = NULL WHERE status = 'refused'",
    "DROP INDEX messages_claimed_id",
    "DROP INDEX messages_by_id",
    "CREATE UNIQUE INDEX messages_claimed_id ON messages (message_id, direction, claimed)",
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "messages (bytea envelope and payload), case events, case snapshots", _POSTGRES_V1
    ),
    Migration(2, "the checkpoint of the desk state (header and entries)", _POSTGRES_V2),
    Migration(3, "owners: the process owning an institution's cases, by epoch", _POSTGRES_V3),
    Migration(
        4,
        "partitions: messages by partition, an owner and a checkpoint per partition,"
        " admin requests queued for a partition's owner",
        _POSTGRES_V4,
    ),
    Migration(
        5, "shared_institutions: the partition count of each shared institution", _POSTGRES_V5
    ),
    Migration(6, "message_blobs: envelope and payload beside the message row", _POSTGRES_V6),
    Migration(
        7,
        "messages.claimed: a message ID's claim indexed without its status",
        CLAIMED_STATEMENTS,
    ),
)
