"""The trace file: what a run of the network exchanged, in one self-contained, versioned file.

A trace is JSON Lines (UTF-8, one JSON object per line, ``\\n`` line ends), optionally gzip
compressed (a name ending in ``.gz`` when writing; the magic bytes when reading). Four kinds
of lines, in this order (full description: ``docs/trace-format.md``):

1. one ``header``: the format version (:data:`FORMAT`), the tool version, when it was made, the
   directory the institutions ran with (credentials replaced, see below), the configuration
   (households, rule parameters, seeds: whatever a replay needs to rebuild the institutions) and
   where the trace came from (journals, filters);
2. one ``input`` line per entry of each institution's input log (what its desk was told
   besides documents, in order: what a replay resubmits);
3. one ``message`` line per message, in recorded order: envelope metadata, direction, status,
   timestamps, the institution whose journal recorded it (``observer``), and the raw envelope
   and payload **byte-exact** (as JSON text when the bytes are UTF-8, else base64);
4. one ``end`` line: the number of messages and inputs.

Why every line ends with ``"sum"``: the sum is a running SHA-256 (first 32 hex digits) over the
previous line's sum and this line's bytes without its sum. A reader that checks it finds a
flipped byte, a lost, repeated or swapped line **at its line number**; a trace cut short has no
``end`` line. A reader refuses any such trace as a whole (:class:`TraceError` naming the file
and line), so no command ever works on half a trace. Writing is atomic (a temporary file in the
same directory, fsynced, then renamed), so a crash never leaves half a trace under the name
asked for.

Credentials are never written: a replay runs every institution in one process and only needs
each one to have *a* secret, so :func:`directory_to_dict` replaces them with placeholders
derived from the IR ID, and a trace can be shared without leaking a real system's secret.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final

from eessi import __version__
from eessi.directory import Directory, parse_directory
from eessi.errors import ConfigError, JournalError, TraceError
from eessi.journal.base import Direction, MessageRecord, MessageStatus

__all__ = [
    "FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "TOOL",
    "Trace",
    "TraceError",
    "TraceHeader",
    "TraceInput",
    "TraceMessage",
    "directory_from_dict",
    "directory_to_dict",
    "iter_trace",
    "read_trace",
    "write_trace",
]

FORMAT_NAME: Final = "eessi-trace"
#: The version this code writes and reads. A reader refuses any other.
FORMAT_VERSION: Final = 1
#: The ``format`` value of the header line.
FORMAT: Final = f"{FORMAT_NAME}/{FORMAT_VERSION}"
#: The ``tool`` value of the header line.
TOOL: Final = f"eessi-sim {__version__}"

_SUM_KEY: Final = b',"sum":"'
_SUM_HEX: Final = 32
#: ``,"sum":"`` + 32 hex digits + ``"}``
_SUM_SUFFIX_LEN: Final = len(_SUM_KEY) + _SUM_HEX + 2
_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """The first line: what made the trace and everything needed to replay it elsewhere."""

    #: The directory (``directory_to_dict`` form: the TOML tables as JSON).
    directory: Mapping[str, Any]
    #: Configuration of the run: households, rule parameters, seeds, per-institution options.
    config: Mapping[str, Any] = field(default_factory=dict)
    #: Where the messages came from (journals, filters), for the reader's information.
    source: Mapping[str, Any] = field(default_factory=dict)
    #: When the trace was made (ISO 8601). A replay copies its input's value, so that two
    #: replays write the same bytes.
    created: str = ""
    format: str = FORMAT
    tool: str = TOOL

    def load_directory(self) -> Directory:
        """The trace's own directory, checked like a directory file."""
        return directory_from_dict(self.directory)


@dataclass(frozen=True, slots=True)
class TraceMessage:
    """One message of a trace: the journal record and whose journal recorded it."""

    #: IR ID of the institution whose journal holds this record (the sender for ``out``,
    #: the receiver for ``in``).
    observer: str
    record: MessageRecord

    @property
    def at(self) -> datetime:
        """When the observer saw it: received (inbound) or created (outbound)."""
        r = self.record
        return r.received_at if r.received_at is not None else r.created_at


@dataclass(frozen=True, slots=True)
class TraceInput:
    """One entry of an institution's input log: what its desk was told besides documents
    (a request submitted, a fund's action, the time passing), or which inbound message it
    processed, in order. A replay resubmits the submitted inputs at their recorded times; the
    ``document`` entries give the order in which inbound messages were processed."""

    observer: str
    #: Position in the observer's input log (1, 2, ...).
    seq: int
    #: The desk's time for the input.
    at: datetime
    #: The node's JSON form of the entry (``eessi.node.records``: ``kind`` ``input`` or
    #: ``document``, the input itself, the IDs drawn).
    data: Mapping[str, Any]
    #: The inbound message processed (``document`` entries).
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole trace in memory."""

    header: TraceHeader
    messages: tuple[TraceMessage, ...]
    #: The file it was read from, if any (for messages).
    path: str | None = None
    #: Every observer's input log (empty for a trace of messages only).
    inputs: tuple[TraceInput, ...] = ()


# --------------------------------------------------------------------------- directory


def _placeholder_credential(ir_id: str) -> str:
    return "trace-" + hashlib.sha256(f"eessi-trace credential {ir_id}".encode()).hexdigest()[:32]


def directory_to_dict(directory: Directory) -> dict[str, Any]:
    """The directory as the TOML tables of ``docs/directory-format.md`` (as JSON values),
    with every credential replaced by a placeholder derived from the IR ID."""
    tables: list[dict[str, Any]] = []
    for entry in directory:
        table = entry.to_dict()
        if table.get("admin") is None:
            table.pop("admin", None)
        if not entry.eessi:
            table.pop("bucs", None)
            table.pop("versions", None)
        table["credential"] = _placeholder_credential(entry.id)
        tables.append(table)
    return {"format": 1, "institution": tables}


def directory_from_dict(doc: Mapping[str, Any]) -> Directory:
    """Check and build the directory stored in a trace header."""
    try:
        return parse_directory(doc, source="<trace directory>")
    except ConfigError as exc:
        raise TraceError(
            f"the trace's directory is invalid: {exc.message}",
            code="trace.bad-directory",
            where=exc.where,
            hint="the trace was edited or written by another tool; export it again",
        ) from None


# --------------------------------------------------------------------------- encoding


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _bytes_fields(name: str, data: bytes, out: dict[str, Any]) -> None:
    """``name`` as JSON text when the bytes are UTF-8 (readable, exact), else base64."""
    try:
        out[name] = data.decode("utf-8")
        out[name + "_encoding"] = "utf-8"
    except UnicodeDecodeError:
        out[name] = base64.b64encode(data).decode("ascii")
        out[name + "_encoding"] = "base64"


def _message_obj(message: TraceMessage) -> dict[str, Any]:
    r = message.record
    out: dict[str, Any] = {
        "type": "message",
        "observer": message.observer,
        "direction": r.direction.value,
        "status": r.status.value,
        "message_id": r.message_id,
        "sender": r.sender,
        "receiver": r.receiver,
        "conversation_id": r.conversation_id,
        "ref_to_message_id": r.ref_to_message_id,
        "sed_type": r.sed_type,
        "sed_version": r.sed_version,
        "service": r.service,
        "action": r.action,
        "created_at": _ts(r.created_at),
        "received_at": _ts(r.received_at),
        "sent_at": _ts(r.sent_at),
        "updated_at": _ts(r.updated_at),
        "attempts": r.attempts,
        "next_attempt_at": _ts(r.next_attempt_at),
        "last_error": r.last_error,
        "duplicates": r.duplicates,
        "payload_sha256": hashlib.sha256(r.payload).hexdigest(),
    }
    _bytes_fields("envelope", r.envelope, out)
    _bytes_fields("payload", r.payload, out)
    return out


def _input_obj(entry: TraceInput) -> dict[str, Any]:
    return {
        "type": "input",
        "observer": entry.observer,
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "message_id": entry.message_id,
        "data": entry.data,
    }


def _header_obj(header: TraceHeader) -> dict[str, Any]:
    return {
        "type": "header",
        "format": header.format,
        "tool": header.tool,
        "created": header.created,
        "directory": header.directory,
        "config": header.config,
        "source": header.source,
    }


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _chain(previous: bytes, body: bytes) -> bytes:
    return hashlib.sha256(previous + body).hexdigest()[:_SUM_HEX].encode("ascii")


class _LineWriter:
    def __init__(self, stream: IO[bytes] | io.BytesIO) -> None:
        self._stream = stream
        self._sum = FORMAT.encode("ascii")

    def write(self, obj: Mapping[str, Any]) -> None:
        body = _dumps(obj)
        self._sum = _chain(self._sum, body)
        self._stream.write(body[:-1] + _SUM_KEY + self._sum + b'"}\n')


def encode_lines(
    header: TraceHeader, messages: Iterable[TraceMessage], inputs: Iterable[TraceInput] = ()
) -> Iterator[bytes]:
    """The lines of a trace (each with its ``\\n``): what :func:`write_trace` writes."""
    buffer = io.BytesIO()
    writer = _LineWriter(buffer)
    count = 0

    def take() -> bytes:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return data

    writer.write(_header_obj(header))
    yield take()
    n_inputs = 0
    for entry in inputs:
        writer.write(_input_obj(entry))
        n_inputs += 1
        yield take()
    for message in messages:
        writer.write(_message_obj(message))
        count += 1
        yield take()
    writer.write({"type": "end", "messages": count, "inputs": n_inputs})
    yield take()


def write_trace(
    path: str | Path,
    header: TraceHeader,
    messages: Iterable[TraceMessage],
    *,
    inputs: Iterable[TraceInput] = (),
    compress: bool | None = None,
) -> int:
    """Write a trace atomically; returns the number of messages.

    ``compress`` defaults to whether ``path`` ends in ``.gz``. The gzip header carries no name
    and no time, so the same trace gives the same bytes. Nothing appears under ``path`` unless
    the whole trace was written and flushed to disk.
    """
    target = Path(path)
    if compress is None:
        compress = target.name.endswith(".gz")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise TraceError(
            f"cannot write the trace: {exc.strerror or exc}",
            code="trace.unwritable",
            where=str(target),
            hint="check that the directory exists and is writable",
        ) from None
    count = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            stream: IO[bytes] | gzip.GzipFile
            gz: gzip.GzipFile | None = None
            if compress:
                gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
                stream = gz
            else:
                stream = raw
            for line in encode_lines(header, messages, inputs):
                stream.write(line)
                if line.startswith(b'{"type":"message"'):
                    count += 1
            if gz is not None:
                gz.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise TraceError(
                f"cannot write the trace: {exc.strerror or exc}",
                code="trace.unwritable",
                where=str(target),
                hint="check the disk space and permissions; nothing was written",
            ) from None
        raise
    return count


# --------------------------------------------------------------------------- decoding


def _bad(path: str, line: int, message: str, hint: str, code: str = "trace.corrupt") -> TraceError:
    return TraceError(
        message,
        code=code,
        where=f"{path}:{line}",
        hint=hint,
        details={"file": path, "line": line},
    )


_CORRUPT_HINT = "the file was damaged or edited after it was written; export the trace again"


def _open_lines(path: Path) -> Iterator[bytes]:
    try:
        raw = path.open("rb")
    except FileNotFoundError:
        raise TraceError(
            "no trace file here",
            code="trace.missing",
            where=str(path),
            hint="check the path (traces are written by `eessi trace export`)",
        ) from None
    except OSError as exc:
        raise TraceError(
            f"cannot read the trace: {exc.strerror or exc}",
            code="trace.unreadable",
            where=str(path),
            hint="check the path and its permissions",
        ) from None
    with raw:
        stream: IO[bytes] | gzip.GzipFile = raw
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
        else:
            raw.seek(0)
        yield from stream


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` with decompression errors as :class:`TraceError`."""
    lineno = 0
    lines = _open_lines(path)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise _bad(
                str(path),
                lineno + 1,
                f"the compressed trace is damaged or cut short ({exc})",
                _CORRUPT_HINT,
                code="trace.truncated" if isinstance(exc, EOFError) else "trace.corrupt",
            ) from None
        lineno += 1
        yield lineno, line


def _parse_line(
    path: str, lineno: int, line: bytes, previous: bytes
) -> tuple[dict[str, Any], bytes]:
    if not line.endswith(b"\n"):
        raise _bad(
            path,
            lineno,
            "the trace is cut short (its last line is incomplete)",
            "the trace was not completely written or was truncated; export it again",
            code="trace.truncated",
        )
    line = line[:-1]
    suffix = line[-_SUM_SUFFIX_LEN:]
    if (
        len(line) <= _SUM_SUFFIX_LEN
        or not suffix.startswith(_SUM_KEY)
        or not suffix.endswith(b'"}')
    ):
        raise _bad(path, lineno, 'the line has no checksum ("sum")', _CORRUPT_HINT)
    body = line[:-_SUM_SUFFIX_LEN] + b"}"
    expected = _chain(previous, body)
    if suffix[len(_SUM_KEY) : -2] != expected:
        raise _bad(
            path,
            lineno,
            "checksum mismatch: the line was changed, or a line before it was lost, added or moved",
            _CORRUPT_HINT,
        )
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, lineno, f"the line is not JSON ({exc})", _CORRUPT_HINT) from None
    if not isinstance(obj, dict):
        raise _bad(path, lineno, "the line is not a JSON object", _CORRUPT_HINT)
    return obj, expected


def _header(path: str, obj: Mapping[str, Any]) -> TraceHeader:
    fmt = obj.get("format")
    if obj.get("type") != "header" or not isinstance(fmt, str):
        raise _bad(
            path,
            1,
            "this is not an eessi trace (the first line is not its header)",
            "give a file written by `eessi trace export` or `eessi replay -o`",
            code="trace.not-a-trace",
        )
    if fmt != FORMAT:
        name, _, version = fmt.partition("/")
        hint = (
            "it was written by a newer eessi-sim; upgrade to read it"
            if name == FORMAT_NAME and version.isdigit() and int(version) > FORMAT_VERSION
            else f"this eessi-sim reads {FORMAT}"
        )
        raise _bad(path, 1, f"unsupported trace format {fmt!r}", hint, code="trace.version")
    directory = obj.get("directory")
    config = obj.get("config", {})
    source = obj.get("source", {})
    if (
        not isinstance(directory, dict)
        or not isinstance(config, dict)
        or not isinstance(source, dict)
    ):
        raise _bad(
            path, 1, "the header's directory, config or source is not an object", _CORRUPT_HINT
        )
    return TraceHeader(
        directory=directory,
        config=config,
        source=source,
        created=str(obj.get("created", "")),
        format=fmt,
        tool=str(obj.get("tool", "")),
    )


def _time(obj: Mapping[str, Any], key: str, required: bool = False) -> datetime | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO 8601 time")
    at = datetime.fromisoformat(value)
    if at.utcoffset() is None:
        raise ValueError(f"{key} has no time zone")
    return at


def _bytes(obj: Mapping[str, Any], name: str) -> bytes:
    text = obj.get(name)
    encoding = obj.get(name + "_encoding")
    if not isinstance(text, str):
        raise ValueError(f"{name} must be a string")
    if encoding == "utf-8":
        return text.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(text.encode("ascii"), validate=True)
    raise ValueError(f"{name}_encoding must be utf-8 or base64")


def _str(obj: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _message(obj: Mapping[str, Any]) -> TraceMessage:
    payload = _bytes(obj, "payload")
    if hashlib.sha256(payload).hexdigest() != obj.get("payload_sha256"):
        raise ValueError("the payload does not match its payload_sha256")
    record = MessageRecord(
        message_id=_str(obj, "message_id"),
        direction=Direction(_str(obj, "direction")),
        sender=_str(obj, "sender"),
        receiver=_str(obj, "receiver"),
        conversation_id=_str(obj, "conversation_id"),
        ref_to_message_id=_str(obj, "ref_to_message_id", optional=True),
        sed_type=_str(obj, "sed_type"),
        sed_version=_str(obj, "sed_version"),
        service=_str(obj, "service"),
        action=_str(obj, "action"),
        created_at=_time(obj, "created_at", required=True),  # type: ignore[arg-type]
        envelope=_bytes(obj, "envelope"),
        payload=payload,
        status=MessageStatus(_str(obj, "status")),
        received_at=_time(obj, "received_at"),
        sent_at=_time(obj, "sent_at"),
        attempts=int(obj.get("attempts", 0)),
        next_attempt_at=_time(obj, "next_attempt_at"),
        last_error=_str(obj, "last_error", optional=True),
        duplicates=int(obj.get("duplicates", 0)),
        updated_at=_time(obj, "updated_at"),
    )
    return TraceMessage(observer=_str(obj, "observer"), record=record)


def _input(obj: Mapping[str, Any]) -> TraceInput:
    data = obj.get("data")
    seq = obj.get("seq")
    if not isinstance(data, dict) or not isinstance(seq, int):
        raise ValueError("an input needs a data object and an integer seq")
    at = _time(obj, "at", required=True)
    assert at is not None
    return TraceInput(
        observer=_str(obj, "observer"),
        seq=seq,
        at=at,
        data=data,
        message_id=_str(obj, "message_id", optional=True),
    )


def iter_trace(path: str | Path) -> tuple[TraceHeader, Iterator[TraceMessage | TraceInput]]:
    """Read the header now and the inputs and messages lazily, checking every line.

    The iterator raises :class:`TraceError` (with the line number) at the first bad line and
    at the end if the ``end`` line is missing or does not match. Use :func:`read_trace` to get
    all or nothing.
    """
    p = Path(path)
    name = str(p)
    lines = _lines(p)
    first = next(lines, None)
    if first is None:
        raise _bad(name, 1, "the trace is empty", "export the trace again", code="trace.truncated")
    try:
        obj, chain = _parse_line(name, 1, first[1], FORMAT.encode("ascii"))
    except TraceError as exc:
        # A file in another format (or version) fails the checksum first: say what it is.
        try:
            candidate = json.loads(first[1])
        except ValueError:
            raise exc from None
        if isinstance(candidate, dict) and candidate.get("type") == "header":
            _header(name, candidate)
        raise
    header = _header(name, obj)

    def messages() -> Iterator[TraceMessage | TraceInput]:
        previous = chain
        count = 0
        n_inputs = 0
        last = 1
        for lineno, line in lines:
            last = lineno
            obj, previous = _parse_line(name, lineno, line, previous)
            kind = obj.get("type")
            if kind == "message":
                try:
                    message = _message(obj)
                except (ValueError, TypeError, JournalError) as exc:
                    detail = exc.message if isinstance(exc, JournalError) else str(exc)
                    raise _bad(name, lineno, f"bad message line: {detail}", _CORRUPT_HINT) from None
                count += 1
                yield message
            elif kind == "input":
                try:
                    entry = _input(obj)
                except (ValueError, TypeError) as exc:
                    raise _bad(name, lineno, f"bad input line: {exc}", _CORRUPT_HINT) from None
                n_inputs += 1
                yield entry
            elif kind == "end":
                if obj.get("messages") != count or obj.get("inputs", 0) != n_inputs:
                    raise _bad(
                        name,
                        lineno,
                        f"the end line counts {obj.get('messages')} messages, the file has {count}",
                        _CORRUPT_HINT,
                    )
                if next(lines, None) is not None:
                    raise _bad(name, lineno + 1, "lines after the end line", _CORRUPT_HINT)
                return
            else:
                raise _bad(name, lineno, f"unknown line type {kind!r}", _CORRUPT_HINT)
        raise _bad(
            name,
            last + 1,
            f"the trace is cut short after line {last} (no end line)",
            "the trace was not completely written or was truncated; export it again",
            code="trace.truncated",
        )

    return header, messages()


def read_trace(path: str | Path) -> Trace:
    """The whole trace, checked; a :class:`TraceError` with the line number otherwise."""
    header, items = iter_trace(path)
    messages: list[TraceMessage] = []
    inputs: list[TraceInput] = []
    for item in items:
        if isinstance(item, TraceMessage):
            messages.append(item)
        else:
            inputs.append(item)
    return Trace(header, tuple(messages), str(path), tuple(inputs))
