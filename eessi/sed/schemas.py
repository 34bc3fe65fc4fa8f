"""Where the XSDs are, and the compiled schema per (SED code, version), compiled once.

:func:`schema_dir` is the ONE place the schema directory is resolved (decision D1): the copy
packaged in the wheel as ``eessi/_schemas`` if present, else the checkout's ``schemas/``.

A :class:`SchemaSet` maps each ``*.xsd`` of a directory by its ``targetNamespace`` to the
``(code, version)`` it describes, using :func:`eessi.sed.catalogue.parse_namespace`. So the same
class serves our own schemas (``schemas/4.4/S071.xsd``...) and a directory of official EESSI
schemas an institution holds (``--schemas DIR``), whatever the files are called. Files whose
namespace is not a SED namespace (``common.xsd``, xmldsig, XAdES, our header) are skipped; they
are reached through ``include``/``import`` with relative, local paths.

Compiling a SED schema takes 10-50 ms, validating a document with it well under 0.1 ms, so
compiled :class:`lxml.etree.XMLSchema` objects are cached per set and per ``(code, version)``.
Compilation runs with networking off; a schema that needs the network fails to compile with a
:class:`~eessi.errors.SchemaError` naming the file.

Thread note: an ``XMLSchema`` keeps the error log of its last run; share one set per thread or
per event loop (the simulator validates on its event loop thread).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from eessi.errors import SchemaError
from eessi.sed.catalogue import parse_namespace

__all__ = [
    "SchemaSet",
    "default_schemas",
    "schema_dir",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../eessi
_XSD_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def schema_dir() -> Path:
    """Our schema directory: the installed ``eessi/_schemas``, else ``<checkout>/schemas``."""
    packaged = _PACKAGE_DIR / "_schemas"
    if packaged.is_dir():
        return packaged
    checkout = _PACKAGE_DIR.parent / "schemas"
    if checkout.is_dir():
        return checkout
    raise SchemaError(
        "the SED schemas were not found",
        where=f"{packaged} or {checkout}",
        hint="reinstall eessi-sim (the wheel ships eessi/_schemas) or run from a full checkout",
    )


class SchemaSet:
    """The SED schemas of one directory, compiled lazily and cached per ``(code, version)``."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else schema_dir()
        if not self.directory.is_dir():
            raise SchemaError(
                f"schema directory {str(self.directory)!r} does not exist",
                where=str(self.directory),
                hint="give a directory that holds the SED *.xsd files",
            )
        self._paths: dict[tuple[str, str], Path] | None = None
        self._compiled: dict[tuple[str, str], etree.XMLSchema] = {}
        #: Filled by :mod:`eessi.sed.validate`: root tag -> what validating it needs, so the hot
        #: path is one dict lookup per document.
        self.by_root_tag: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SchemaSet({str(self.directory)!r})"

    @property
    def paths(self) -> dict[tuple[str, str], Path]:
        """``(code, version) -> xsd file``, found by each file's ``targetNamespace``."""
        if self._paths is None:
            self._paths = _scan(self.directory)
        return self._paths

    def codes(self) -> tuple[str, ...]:
        """SED codes this set has a schema for, sorted."""
        return tuple(sorted({code for code, _ in self.paths}))

    def supported(self, code: str) -> tuple[str, ...]:
        """Versions of SED ``code`` this set can validate, oldest first (empty if none)."""
        return _sorted_versions(v for c, v in self.paths if c == code)

    def lookup(self, code: str, version: str) -> etree.XMLSchema | None:
        """Like :meth:`schema`, but ``None`` when the set has no schema for ``(code, version)``.

        This is the hot path of validation: one dict lookup once the schema is compiled.
        """
        compiled = self._compiled.get((code, version))
        if compiled is not None:
            return compiled
        if (code, version) not in self.paths:
            return None
        return self.schema(code, version)

    def schema(self, code: str, version: str) -> etree.XMLSchema:
        """The compiled schema of ``code`` in ``version`` (compiled on first use, then reused)."""
        key = (code, version)
        compiled = self._compiled.get(key)
        if compiled is not None:
            return compiled
        with self._lock:
            compiled = self._compiled.get(key)
            if compiled is None:
                path = self.paths.get(key)
                if path is None:
                    raise SchemaError(
                        f"no schema for {code} {version} in {self.directory}",
                        where=str(self.directory),
                        hint=f"versions of {code} available here: "
                        + (", ".join(self.supported(code)) or "none"),
                        details={"sed": code, "version": version},
                    )
                compiled = self._compiled[key] = _compile(path)
        return compiled


@functools.cache
def default_schemas() -> SchemaSet:
    """The process-wide set of our own schemas (so each schema is compiled once per process)."""
    return SchemaSet()


def _scan(directory: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(directory.rglob("*.xsd")):
        namespace = _target_namespace(path)
        parsed = parse_namespace(namespace) if namespace else None
        if parsed is None:
            continue
        previous = found.setdefault(parsed, path)
        if previous != path:
            raise SchemaError(
                f"two schemas declare the namespace {namespace}",
                where=f"{previous} and {path}",
                hint="keep one schema file per SED and version in the directory",
            )
    return found


def _target_namespace(path: Path) -> str | None:
    """Read only the root start tag of an XSD (cheap even for 200 KB official files)."""
    try:
        with path.open("rb") as stream:
            for _, element in etree.iterparse(
                stream, events=("start",), resolve_entities=False, no_network=True, load_dtd=False
            ):
                value = element.get("targetNamespace")
                return None if value is None else str(value)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise SchemaError(
            f"cannot read schema file: {exc}",
            where=str(path),
            hint="check the file is a readable XSD",
        ) from None
    return None


def _compile(path: Path) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(etree.parse(str(path), _XSD_PARSER))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise SchemaError(
            f"schema does not compile: {exc}",
            where=str(path),
            hint="every include/import must be a relative path to a local file",
        ) from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _sorted_versions(versions: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(versions), key=_version_key))
