"""Log set-up for the long-running commands: ``--log-format text|json`` and ``--log-level``.

The standard :mod:`logging` module throughout; :class:`JsonFormatter` writes one JSON object
per line (``ts``, ``level``, ``logger``, ``event``, ``message``, then the record's structured
fields: whatever was passed as ``extra={"fields": {...}}``). It is written here rather than
taken from ``python-json-logger`` because it is twenty lines and needs no more (see
docs/decisions.md D75).

:func:`announce` is for the few lines a command prints for its user (the URLs ``eessi up``
listens on, "stopping"): plain text normally, a JSON line with ``--log-format json`` so that
everything the process writes parses.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Final, Literal, TextIO

__all__ = [
    "FIELDS",
    "LEVELS",
    "JsonFormatter",
    "LogFormat",
    "announce",
    "configure_logging",
    "log_event",
]

#: The attribute of a :class:`logging.LogRecord` holding its structured fields.
FIELDS: Final = "fields"
#: The levels ``--log-level`` accepts.
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")

LogFormat = Literal["text", "json"]

_format: LogFormat = "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": getattr(record, "event", "log"),
            "message": record.getMessage(),
        }
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False, separators=(",", ":"))


class _TextFormatter(logging.Formatter):
    """The classic line, with the structured fields appended as ``key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, FIELDS, None)
        if isinstance(fields, dict) and fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return text


def configure_logging(
    level: str | None = None, fmt: LogFormat = "text", *, stream: TextIO | None = None
) -> None:
    """Send the ``eessi`` loggers' records at ``level`` (default ``WARNING``) and above to
    ``stream`` (default stderr) in ``fmt``; replaces any handler set before."""
    global _format
    _format = fmt
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or "WARNING").upper())


def log_event(logger: logging.Logger, level: int, event: str, message: str, **fields: Any) -> None:
    """Log ``message`` as ``event`` with structured ``fields`` (cheap when the level is off)."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", message, extra={"event": event, FIELDS: fields})


def announce(text: str, *, stream: TextIO | None = None, **fields: Any) -> None:
    """Print a line for the user: ``text``, or a JSON line (``event`` = ``fields["event"]``)
    when the logs are JSON."""
    out = stream if stream is not None else sys.stdout
    if _format == "json":
        line = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "message": text}
        line.update(fields)
        line.setdefault("event", "announce")
        print(json.dumps(line, default=str, separators=(",", ":")), file=out, flush=True)
    else:
        print(text, file=out, flush=True)
