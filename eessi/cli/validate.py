"""``eessi validate PATH...``: check SED documents against the schemas, one verdict per file.

Paths may be files, directories (every ``*.xml`` below them, sorted) or ``-`` for standard
input. Each document gets one line (``OK path S072 4.4``) or one line per issue in the usual
``path:line:col: code: message (xpath)`` form, so editors and CI logs can jump to it; then a
summary. ``--json`` prints the same as one JSON object. ``--explain`` adds, under each schema
issue, xmlschema's reason, the elements expected there and the path it blames (in JSON, an
``explanation`` object per issue). Exit status: 0 all valid, 1 some
invalid, 2 usage or I/O error (a missing or unreadable path, no document found).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from eessi.sed.validate import ValidationIssue, ValidationReport

from eessi.cli._help import examples

__all__ = ["register"]

STDIN = "-"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate SED documents against the schemas",
        description="Check SED documents against the schemas, one verdict per file (exit 0:"
        " all valid, 1: some invalid, 2: usage or I/O error).",
        **examples(
            "eessi validate s072.xml",
            "eessi validate examples/ --json",
            "eessi validate --accept-version 4.3 s071.xml",
        ),
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="XML file, directory (recursive), or - for stdin"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="for each schema issue, also give xmlschema's reason, the expected elements and"
        " the path (slower; invalid documents only)",
    )
    parser.add_argument(
        "--schemas",
        metavar="DIR",
        type=Path,
        help="validate against the *.xsd in DIR (e.g. the official EESSI set) instead of ours",
    )
    parser.add_argument(
        "--accept-version",
        action="append",
        metavar="V",
        dest="accept_versions",
        help="accept only this CDM version (repeatable), as a receiver that supports only it",
    )
    parser.add_argument(
        "--max-bytes",
        type=_positive_int,
        metavar="N",
        help="largest document accepted (default 1 MiB)",
    )
    parser.set_defaults(func=run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} bytes: give a size of at least 1 byte")
    return value


def run(args: argparse.Namespace) -> int:
    from eessi.sed import xmlsafe
    from eessi.sed.schemas import SchemaSet, default_schemas
    from eessi.sed.validate import ValidationReport, issues_from_error, validate

    schemas = SchemaSet(args.schemas) if args.schemas is not None else None
    if args.accept_versions:
        known = sorted({v for _code, v in (schemas or default_schemas()).paths})
        unknown = [v for v in args.accept_versions if v not in known]
        if unknown:
            print(
                f"eessi validate: error: --accept-version {', '.join(unknown)}: no schema of"
                f" that version; versions with schemas here: {', '.join(known) or 'none'}",
                file=sys.stderr,
            )
            return 2
    max_bytes = args.max_bytes if args.max_bytes is not None else xmlsafe.DEFAULT_MAX_BYTES
    io_errors: list[str] = []
    results: list[tuple[str, ValidationReport]] = []
    for label, data in _documents(args.paths, max_bytes, io_errors):
        if isinstance(data, int):  # too large: refused without reading it all
            error = xmlsafe.too_large(data, max_bytes, label)
            report = ValidationReport(None, None, False, issues_from_error(error))
        else:
            report = validate(
                data, schemas=schemas, accept_versions=args.accept_versions, max_bytes=max_bytes
            )
            if args.explain and not report.ok:
                from eessi.sed.explain import explain

                report = explain(data, report, schemas=schemas)
        results.append((label, report))
        if not args.json:
            _print_report(label, report)
    if not results and not io_errors:
        io_errors.append("no *.xml document found in the given paths")
    valid = sum(1 for _, report in results if report.ok)
    summary = {
        "documents": len(results),
        "valid": valid,
        "invalid": len(results) - valid,
        "io_errors": len(io_errors),
    }
    for message in io_errors:
        print(f"eessi validate: error: {message}", file=sys.stderr)
    if args.json:
        out = {
            "reports": [{"path": label, **report.to_dict()} for label, report in results],
            "summary": summary,
            "io_errors": io_errors,
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        line = f"{summary['documents']} document(s): {valid} valid, {summary['invalid']} invalid"
        if io_errors:
            line += f"; {len(io_errors)} path(s) could not be read"
        print(line)
    if io_errors:
        return 2
    return 0 if valid == len(results) else 1


def _documents(
    paths: list[str], max_bytes: int, io_errors: list[str]
) -> Iterator[tuple[str, bytes | int]]:
    """``(label, bytes)`` per document, or ``(label, size)`` for one over ``max_bytes``.

    Unreadable paths go to ``io_errors``. Files are read one at a time, and never more than
    ``max_bytes + 1`` bytes of them, so pointing the command at a huge file is harmless.
    """
    for raw in paths:
        if raw == STDIN:
            stdin = sys.stdin.buffer
            data = stdin.read(max_bytes + 1)
            if len(data) <= max_bytes:
                yield "<stdin>", data
            else:  # count the rest without keeping it, to report the true size
                yield "<stdin>", len(data) + _drain(stdin)
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.xml") if p.is_file())
            if not files:
                io_errors.append(f"{raw}: directory holds no *.xml file")
        else:
            files = [path]
        for file in files:
            try:
                with file.open("rb") as stream:
                    data = stream.read(max_bytes + 1)
                    size = (
                        len(data) if len(data) <= max_bytes else os.fstat(stream.fileno()).st_size
                    )
            except FileNotFoundError:
                io_errors.append(f"{file}: no such file")
                continue
            except OSError as exc:
                io_errors.append(f"{file}: cannot read: {exc.strerror or exc}")
                continue
            yield str(file), data if size <= max_bytes else size


def _drain(stream: BinaryIO) -> int:
    """Read ``stream`` to its end in chunks; return how many bytes there were."""
    total = 0
    while chunk := stream.read(1 << 16):
        total += len(chunk)
    return total


def _print_report(label: str, report: ValidationReport) -> None:
    if report.ok:
        print(f"OK {label} {report.sed} {report.version}")
        return
    for issue in report.errors:
        print(_issue_line(label, issue))
        if issue.explanation is not None:
            print(f"    why: {issue.explanation.reason}")
            if issue.explanation.expected:
                print(f"    expected: {', '.join(issue.explanation.expected)}")
            if issue.explanation.path:
                print(f"    at: {issue.explanation.path}")


def _issue_line(label: str, issue: ValidationIssue) -> str:
    where = label
    if issue.line is not None:
        where += f":{issue.line}"
        if issue.column is not None:
            where += f":{issue.column}"
    text = f"{where}: {issue.code}: {issue.message}"
    if issue.xpath:
        text += f" ({issue.xpath})"
    return text
