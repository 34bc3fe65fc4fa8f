"""Message traces: export from journals, read and write (versioned), show, diff, pseudonymise,
replay. The file format is :mod:`eessi.trace.format` (``docs/trace-format.md``)."""

from __future__ import annotations
