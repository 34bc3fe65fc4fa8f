"""Hardened XML parsing: the one place where untrusted bytes become an lxml tree.

Every document that enters the simulator (a SED from a peer, a file given to ``eessi validate``)
is parsed here, so the defences live in one place and lxml's errors are translated here only:

* **size** is checked *before* parsing (``max_bytes``, default 1 MiB; real SEDs are a few KB);
* **DOCTYPE** is refused outright. SEDs never carry a DTD, and a DTD is how the known attacks
  arrive (billion laughs, external entities / XXE). The check walks the prolog bytes before the
  parser sees the data, so entities are never declared, let alone expanded. Inputs that are not
  ASCII-compatible (UTF-16/32) are parsed with entities off (libxml2 also caps entity
  amplification) and refused if the tree has a DTD;
* the parser itself never resolves entities, never loads a DTD, never touches the network and
  keeps libxml2's default limits (``huge_tree=False``), among them a nesting limit of 256;
* **depth**: the default ``max_depth`` is libxml2's own limit (256), which costs nothing. A
  stricter limit is checked with one XPath walk over the tree (measured: about 6 us for a
  4.5 KB SED of 90 elements, 5-10 % of parse+validate), so it is opt-in, not paid per message;
* empty or malformed input raises :class:`~eessi.errors.XmlSyntaxError` with line and column.

The parser object is shared: lxml parsers may be used from several threads (lxml serialises
them), and sharing avoids re-creating libxml2 contexts on the hot path.
"""

from __future__ import annotations

import re

from lxml import etree

from eessi.errors import HostileXmlError, XmlSyntaxError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "PARSER",
    "parse",
    "start_tag_column",
    "too_large",
]

#: Largest document accepted, in bytes (a realistic SED is 3-10 KB).
DEFAULT_MAX_BYTES = 1 << 20
#: Deepest nesting accepted: libxml2's own limit without ``huge_tree`` (free to enforce).
DEFAULT_MAX_DEPTH = 256

#: The one hardened parser configuration.
PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
)

_DOCTYPE = b"<!DOCTYPE"
_depth_checks: dict[int, etree.XPath] = {}


def parse(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    where: str | None = None,
) -> etree._Element:
    """Parse untrusted ``data`` into its root element, or raise a :class:`SedError`.

    Raises :class:`HostileXmlError` (codes ``sed.too-large``, ``sed.hostile``, ``sed.too-deep``)
    or :class:`XmlSyntaxError` (``sed.not-xml``). ``where`` (a file name, a message ID) is copied
    into the error so the user knows which document it was. ``max_depth`` above 256 has no
    effect: libxml2 refuses deeper documents unless ``huge_tree`` is on, which we never do.
    """
    size = len(data)
    if size > max_bytes:
        raise too_large(size, max_bytes, where)
    # Starts with "<" and is not UTF-16LE: ASCII-compatible, so the byte walk below is exact.
    # Anything else (a BOM, whitespace, UTF-16/32) also gets the DTD check after parsing.
    head = data[:2]
    plain = head[:1] == b"<" and head != b"<\x00"
    if _has_doctype(data):
        raise _doctype_error(where)
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, not data.strip(), where) from None
    if not plain:
        info = root.getroottree().docinfo
        if info.internalDTD is not None or info.doctype:
            raise _doctype_error(where)
    if max_depth < DEFAULT_MAX_DEPTH:
        check = _depth_checks.get(max_depth)
        if check is None:
            check = _depth_checks[max_depth] = etree.XPath("boolean(/*" + "/*" * max_depth + ")")
        if check(root):
            raise _too_deep(max_depth, where)
    return root


def _has_doctype(data: bytes) -> bool:
    """Whether the prolog (everything before the root element) holds a DOCTYPE.

    A DOCTYPE may only appear before the root element, after the XML declaration, comments and
    processing instructions. Walking just those is cheaper than searching the whole document
    (which costs about 2 us for 5 KB) and cannot be fooled by "<!DOCTYPE" inside a comment or
    CDATA section. The prolog rules are XML's own (a PI ends at the first ``?>``, a comment at
    the first ``-->``), so the walk and libxml2 agree on where the root element starts.
    """
    pos = 0
    find = data.find
    while True:
        lt = find(b"<", pos)
        if lt < 0:
            return False
        mark = data[lt + 1 : lt + 2]
        if mark == b"?":
            end = find(b"?>", lt + 2)
            if end < 0:
                return False
            pos = end + 2
        elif mark == b"!":
            if data.startswith(_DOCTYPE, lt):
                return True
            if not data.startswith(b"<!--", lt):
                return False  # not a comment either: the parser will refuse the document
            end = find(b"-->", lt + 4)
            if end < 0:
                return False
            pos = end + 3
        else:
            return False  # the root element: no DOCTYPE can follow


def start_tag_column(data: bytes, element: etree._Element) -> int | None:
    """The column (1-based, in characters) where ``element``'s start tag opens on its line
    (``element.sourceline``) of ``data``, the bytes it was parsed from; ``None`` if not found.

    libxml2 keeps a line number per node but no column, so errors it reports against a node
    (every schema-validity error) have column 0. The start tag is found again in the source:
    the n-th ``<name`` (any prefix) on that line, n counting the elements of that local name
    that start on the same line before it in document order. Failure path only (one walk of
    the tree per call).
    """
    line: object = element.sourceline  # lxml-stubs types it as "..."; it is int | None
    if not isinstance(line, int) or line < 1 or not isinstance(element.tag, str):
        return None
    local = etree.QName(element).localname
    before = 0
    for other in element.getroottree().getroot().iter(etree.Element):
        if other is element:
            break
        other_line: object = other.sourceline
        if other_line == line and etree.QName(other).localname == local:
            before += 1
    lines = data.split(b"\n", line)
    if len(lines) < line:
        return None
    text = lines[line - 1]
    pattern = re.compile(rb"<(?:[^\s<>/:]+:)?" + re.escape(local.encode()) + rb"(?=[\s/>])")
    found = list(pattern.finditer(text))
    if before >= len(found):
        return None
    return len(text[: found[before].start()].decode("utf-8", "replace")) + 1


def too_large(size: int, max_bytes: int, where: str | None = None) -> HostileXmlError:
    """The error for a document of ``size`` bytes over ``max_bytes``.

    Public so that readers of files and streams can refuse before reading everything.
    """
    return HostileXmlError(
        f"document is {size} bytes, more than the limit of {max_bytes}",
        code="sed.too-large",
        where=where,
        hint="SEDs are a few kilobytes; raise the limit only for a trusted source",
        details={"size": size, "max_bytes": max_bytes},
    )


def _doctype_error(where: str | None) -> HostileXmlError:
    return HostileXmlError(
        "document has a DOCTYPE (DTD); refused without parsing it",
        where=where,
        hint="SEDs never carry a DTD; DTDs carry entity attacks (billion laughs, XXE)",
    )


def _too_deep(max_depth: int, where: str | None) -> HostileXmlError:
    return HostileXmlError(
        f"document nests elements deeper than {max_depth} levels",
        code="sed.too-deep",
        where=where,
        hint="SEDs are about a dozen levels deep; this looks like a resource attack",
        details={"max_depth": max_depth},
    )


def _syntax_error(
    exc: etree.XMLSyntaxError, blank: bool, where: str | None
) -> HostileXmlError | XmlSyntaxError:
    line, column = exc.position
    text = exc.msg or str(exc)
    # libxml2 appends ", line L, column C" to its messages; we report those separately.
    text = text.split(", line ", 1)[0]
    details = {"line": line, "column": column}
    if text.startswith("Excessive depth in document"):
        return _too_deep(DEFAULT_MAX_DEPTH, where)
    if "amplification" in text or "Detected an entity reference loop" in text:
        return HostileXmlError(
            f"document refused by the parser's entity limits: {text}",
            where=where,
            details=details,
        )
    message = "document is empty" if blank else f"not well-formed XML: {text}"
    return XmlSyntaxError(
        message,
        where=where,
        hint="send one UTF-8 XML document whose root element is the SED",
        details=details,
    )
