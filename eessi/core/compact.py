"""Compact bytes for the values a desk keeps long: frozen dataclasses (SEDs, households) as
``marshal`` bytes of plain tuples, deflated (``zlib``, level 1): a few hundred bytes where the
objects take one or two KB.

A desk with 100,000 open cases holds every case's documents and every household it read
(issue 13, "Scale"); kept as objects they are most of the process's memory. Kept as
:func:`encode`'s bytes they take a third of that, and :func:`decode` makes an equal value
again in tens of microseconds when an input reads it (D190).

What can be encoded: ``None``, ``bool``, ``int``, ``float``, ``str``, tuples, frozensets and
dicts of these, :class:`~datetime.date`, aware or naive :class:`~datetime.datetime`,
:class:`~decimal.Decimal`, enum members, and **slotted** dataclasses whose fields hold these
(every SED model class, the household classes). A dataclass is rebuilt from its field values
without calling ``__init__`` (its checks ran when it was first made). Anything else raises
``TypeError``. Decoding gives a value equal to the one encoded.

**Classes are named by a number made from their qualified name** (D425): a class's tag is the
CRC-32 of ``module.qualname`` (with :data:`_FIRST_CLASS` added), the same in every process,
so bytes one process wrote decode in another that has the same classes (same names, fields
and members) and has registered them (:func:`register`; a decoder knows the classes it has met or
been given). A node's checkpoint stores a case's packed documents as they are
(:meth:`CompactDocuments.packed`, :func:`packed_documents`) with the names of the classes
registered (:func:`registered`), under its fingerprint of the classes' shapes (D185). Whatever
else pickles a holder of these bytes gets the decoded values. This module does no I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import marshal
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, Final

__all__ = [
    "PENDING_CASES",
    "RECENT_DOCUMENTS",
    "CompactDocuments",
    "decode",
    "decode_uncompressed",
    "encode",
    "encode_uncompressed",
    "kept_decoded",
    "packed_documents",
    "packing",
    "register",
    "registered",
]

# Tags of the forms that are not a class (a class's tag is :func:`_tag_of` its name, D425).
_DATE: Final = 0
_DATETIME: Final = 1
_DECIMAL: Final = 2
_FROZENSET: Final = 3
_DICT: Final = 4
_TIMEDELTA: Final = 5
#: A case's documents as their own blob (:meth:`CompactDocuments.packed`), nested as it is.
_PACKED: Final = 6
_FIRST_CLASS: Final = 8

#: Per class seen: (tag, field names) for a dataclass, (tag, members) for an enum.
_TAGS: dict[type, int] = {}
#: By tag: how to make the value back from its encoded parts.
_MAKERS: dict[int, Callable[[tuple[Any, ...]], Any]] = {}
#: By tag: the class registered under it.
_CLASSES: dict[int, type] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}
_MEMBER_INDEX: dict[type, dict[Any, int]] = {}

_PLAIN: Final = frozenset({str, int, float, bool, type(None)})


def _tag_of(cls: type) -> int:
    """A class's tag: from its qualified name, the same in every process (D425)."""
    name = f"{cls.__module__}.{cls.__qualname__}".encode()
    return _FIRST_CLASS + (zlib.crc32(name) & 0x3FFFFFFF)


def register(cls: type) -> int:
    """Make values of ``cls`` (a slotted dataclass or an enum) encodable and decodable here,
    and return its tag; done when a value of it is first encoded, and by whoever loads bytes
    another process wrote (:func:`registered` there names the classes)."""
    return _register(cls)


def registered() -> list[type]:
    """The classes registered in this process (bytes it wrote name no others), by tag."""
    return [_CLASSES[tag] for tag in sorted(_CLASSES)]


def _register(cls: type) -> int:
    tag = _TAGS.get(cls)
    if tag is not None:
        return tag
    tag = _tag_of(cls)
    other = _CLASSES.get(tag)
    if other is not None:  # never seen among the model's classes (a test registers them all)
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} and {other.__module__}.{other.__qualname__}"
            " have the same compact tag: rename one of them"
        )
    if issubclass(cls, Enum):
        members = tuple(cls)
        _MEMBER_INDEX[cls] = {m: i for i, m in enumerate(members)}
        maker: Callable[[tuple[Any, ...]], Any] = _enum_maker(members)
    elif dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__:
        names = tuple(f.name for f in dataclasses.fields(cls))
        _FIELDS[cls] = names
        maker = _dataclass_maker(cls, names)
    else:
        raise TypeError(f"cannot encode a {cls.__module__}.{cls.__qualname__} compactly")
    _TAGS[cls] = tag
    _CLASSES[tag] = cls
    _MAKERS[tag] = maker
    return tag


def _enum_maker(members: tuple[Enum, ...]) -> Callable[[tuple[Any, ...]], Any]:
    def make(parts: tuple[Any, ...]) -> Any:
        return members[parts[1]]

    return make


def _dataclass_maker(cls: type, names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], Any]:
    # The slots' own descriptors: setting through them skips a frozen class's __setattr__.
    setters = tuple(getattr(cls, name).__set__ for name in names)
    new = object.__new__

    def make(parts: tuple[Any, ...]) -> Any:
        obj: Any = new(cls)
        for setter, part in zip(setters, parts[1:], strict=True):
            kind = type(part)
            if kind is tuple:
                part = _dec(part)
            elif kind is list:
                part = tuple([_dec(p) if type(p) in _NESTED else p for p in part])
            setter(obj, part)
        return obj

    return make


_NESTED: Final = frozenset({tuple, list})


def _enc(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    encoder = _ENCODERS.get(kind)
    if encoder is None:
        encoder = _encoder(kind)
    return encoder(value)


def _enc_tuple(value: tuple[Any, ...]) -> list[Any]:
    return [v if type(v) in _PLAIN else _enc(v) for v in value]


def _encoder(kind: type) -> Callable[[Any], Any]:
    """How to encode values of ``kind`` (made once per class, then looked up)."""
    encoder: Callable[[Any], Any]
    if kind is tuple:
        encoder = _enc_tuple
    elif kind is date:
        encoder = _enc_date
    elif kind is datetime:
        encoder = _enc_datetime
    elif kind is Decimal:
        encoder = _enc_decimal
    elif kind is frozenset:
        encoder = _enc_frozenset
    elif kind is timedelta:
        encoder = _enc_timedelta
    elif kind is CompactDocuments:
        encoder = _enc_documents
    elif issubclass(kind, Mapping):
        encoder = _enc_mapping
    else:
        tag = _register(kind)
        if kind in _MEMBER_INDEX:
            encoder = _enum_encoder(tag, _MEMBER_INDEX[kind])
        else:
            encoder = _dataclass_encoder(tag, _FIELDS[kind])
    _ENCODERS[kind] = encoder
    return encoder


def _enc_date(value: date) -> tuple[int, int]:
    return (_DATE, value.toordinal())


def _enc_datetime(value: datetime) -> tuple[int, str]:
    return (_DATETIME, value.isoformat())


def _enc_decimal(value: Decimal) -> tuple[int, str]:
    return (_DECIMAL, str(value))


def _enc_timedelta(value: timedelta) -> tuple[int, int, int, int]:
    return (_TIMEDELTA, value.days, value.seconds, value.microseconds)


def _enc_documents(value: CompactDocuments) -> tuple[Any, ...]:
    """A case's documents inside a value encoded whole (a node's checkpoint of a case, D440):
    their blob as it is, not decoded and encoded again; inside :func:`kept_decoded`, where
    they have no blob, the mapping of the decoded documents (decoded as a ``dict``)."""
    packed = value.packed()
    if packed is None:
        return _enc_mapping(value)
    return (_PACKED, list(packed[0]), packed[1])


def _enc_frozenset(value: frozenset[Any]) -> tuple[int, list[Any]]:
    return (_FROZENSET, [_enc(v) for v in value])


def _enc_mapping(value: Mapping[Any, Any]) -> tuple[int, list[Any], list[Any]]:
    return (_DICT, [_enc(k) for k in value], [_enc(v) for v in value.values()])


def _enum_encoder(tag: int, index: dict[Any, int]) -> Callable[[Any], Any]:
    def encode_member(value: Any) -> tuple[int, int]:
        return (tag, index[value])

    return encode_member


def _dataclass_encoder(
    tag: int, names: tuple[str, ...], enc: Callable[[Any], Any] | None = None
) -> Callable[[Any], Any]:
    """An encoder written for the class (D413): one attribute read per field and a plain value
    kept as it is, with no generic walk over a list of the fields (a case's documents are
    encoded whole, a few hundred fields each, when its mapping is packed). ``enc``: what
    encodes a field's value that is not plain (:func:`_enc`)."""
    reads = "".join(f"    v{i} = value.{name}\n" for i, name in enumerate(names))
    parts = "".join(f"v{i} if type(v{i}) in plain else enc(v{i}), " for i in range(len(names)))
    source = f"def encode(value):\n{reads}    return (tag, {parts})\n"
    env: dict[str, Any] = {"tag": tag, "plain": _PLAIN, "enc": enc or _enc}
    exec(compile(source, f"<compact encoder {tag}>", "exec"), env)
    encoder: Callable[[Any], Any] = env["encode"]
    return encoder


#: How to encode each class met so far.
_ENCODERS: dict[type, Callable[[Any], Any]] = {}

#: Inside :func:`encode_uncompressed`: the objects encoded so far and their parts, by the
#: object's ``id``: an object a value holds in several places (a case's exchanges in its
#: history and in effect, one datetime in each) is encoded once, and ``marshal`` writes it
#: once, then a reference to it (D442).
_SHARED: dict[int, tuple[Any, Any]] = {}
#: As :data:`_ENCODERS`, for :func:`_enc_shared`.
_SHARED_ENCODERS: dict[type, Callable[[Any], Any]] = {}


def _enc_shared(value: Any) -> Any:
    """:func:`_enc`, each object once (:data:`_SHARED`)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    seen = _SHARED.get(id(value))
    if seen is not None:
        return seen[1]
    encoder = _SHARED_ENCODERS.get(kind)
    if encoder is None:
        encoder = _shared_encoder(kind)
    parts = encoder(value)
    # the object kept too: its id is not given to another (a value a mapping makes on reading)
    _SHARED[id(value)] = (value, parts)
    return parts


def _enc_tuple_shared(value: tuple[Any, ...]) -> list[Any]:
    return [v if type(v) in _PLAIN else _enc_shared(v) for v in value]


def _enc_frozenset_shared(value: frozenset[Any]) -> tuple[int, list[Any]]:
    return (_FROZENSET, [_enc_shared(v) for v in value])


def _enc_mapping_shared(value: Mapping[Any, Any]) -> tuple[int, list[Any], list[Any]]:
    return (_DICT, [_enc_shared(k) for k in value], [_enc_shared(v) for v in value.values()])


def _shared_encoder(kind: type) -> Callable[[Any], Any]:
    """How :func:`_enc_shared` encodes values of ``kind``: as :func:`_encoder`, the values
    inside through :func:`_enc_shared`."""
    plain = _ENCODERS.get(kind) or _encoder(kind)
    encoder: Callable[[Any], Any]
    if kind is tuple:
        encoder = _enc_tuple_shared
    elif kind is frozenset:
        encoder = _enc_frozenset_shared
    elif kind is not CompactDocuments and issubclass(kind, Mapping):
        encoder = _enc_mapping_shared
    elif kind in _FIELDS and kind in _TAGS:
        encoder = _dataclass_encoder(_TAGS[kind], _FIELDS[kind], _enc_shared)
    else:  # nothing inside to share (dates, enum members...), or a case's documents' blob
        encoder = plain
    _SHARED_ENCODERS[kind] = encoder
    return encoder


def _dec(parts: Any) -> Any:
    kind = type(parts)
    if kind is list:
        return tuple([_dec(p) for p in parts])
    if kind is not tuple:
        return parts
    tag = parts[0]
    if tag >= _FIRST_CLASS:
        return _MAKERS[tag](parts)
    if tag == _DATE:
        return date.fromordinal(parts[1])
    if tag == _DATETIME:
        return datetime.fromisoformat(parts[1])
    if tag == _DECIMAL:
        return Decimal(parts[1])
    if tag == _FROZENSET:
        return frozenset(_dec(p) for p in parts[1])
    if tag == _TIMEDELTA:
        return timedelta(parts[1], parts[2], parts[3])
    if tag == _PACKED:
        return packed_documents(tuple(parts[1]), parts[2])
    return dict(zip([_dec(k) for k in parts[1]], [_dec(v) for v in parts[2]], strict=True))


def _pack(parts: Any) -> bytes:
    return zlib.compress(marshal.dumps(parts), 1)


def _unpack(data: bytes) -> Any:
    return marshal.loads(zlib.decompress(data))


def encode(value: Any) -> bytes:
    """``value`` as compact bytes, for :func:`decode` in this process (see the module
    docstring for what can be encoded; anything else raises ``TypeError``)."""
    return _pack(_enc(value))


def decode(data: bytes) -> Any:
    """A value equal to the one :func:`encode` made ``data`` of (in this process)."""
    return _dec(_unpack(data))


def encode_uncompressed(value: Any) -> bytes:
    """``value`` as :func:`encode` makes it, not deflated, for :func:`decode_uncompressed`:
    for bytes written once and soon, where deflating costs more than the bytes it saves (a
    node's checkpoint of a case: ``zlib`` costs about 45 µs a call here, most of it setting up
    its state, and a case's record is 1 KB, D440). An object held in several places of
    ``value`` is encoded and written once (D442); it decodes as equal objects."""
    try:
        return marshal.dumps(_enc_shared(value), 4)
    finally:
        _SHARED.clear()


def decode_uncompressed(data: bytes | memoryview) -> Any:
    """A value equal to the one :func:`encode_uncompressed` made ``data`` of."""
    return _dec(marshal.loads(data))


#: Documents decoded or encoded lately, by (blob, index): an input reads the documents of the
#: cases it touches several times, and the document it just recorded (D190).
_RECENT: dict[tuple[bytes, int], Any] = {}
#: How many documents :data:`_RECENT` keeps (then the oldest goes).
RECENT_DOCUMENTS: Final = 512


#: The blob last unpacked and its parts: reading every document of a case (a checkpoint's
#: ``dict(documents)``) unpacks its blob once, not once per document (D420).
_UNPACKED: list[Any] = [None, None]


def _remember(key: tuple[bytes, int], document: Any) -> None:
    if len(_RECENT) >= RECENT_DOCUMENTS:
        del _RECENT[next(iter(_RECENT))]
    _RECENT[key] = document


#: How many cases' documents stay decoded after a document is recorded (D215): a case's
#: documents are encoded into its blob when it is this many recordings old, so a case that
#: records several documents in a short while (a request, its answer, the reply) packs once.
PENDING_CASES: Final = 512
#: The mappings holding documents not yet encoded, oldest first (weak: one that is replaced
#: by a newer version of its case, and dropped, needs no encoding).
_PENDING: deque[weakref.ref[CompactDocuments]] = deque()


#: False inside :func:`kept_decoded`: recorded documents are not queued for encoding.
_packing = True


def _pend(documents: CompactDocuments) -> None:
    if not _packing:
        return
    _PENDING.append(weakref.ref(documents))
    while len(_PENDING) > PENDING_CASES:
        old = _PENDING.popleft()()
        if old is not None:
            old._compact()


def packing() -> bool:
    """Whether long-kept values are to be encoded now: ``False`` inside :func:`kept_decoded`
    (a holder such as the CNS's registry then keeps its objects as they are)."""
    return _packing


@contextlib.contextmanager
def kept_decoded() -> Iterator[None]:
    """Inside: the documents cases record stay decoded (never encoded into a blob), in this
    process and in the processes it forks meanwhile; reads and equality are unchanged.

    For a run that ends with its desks, where encoding costs more than the memory it saves:
    the offline replay (:func:`eessi.trace.offline.replay_offline`) holds the whole trace, and
    the decoded documents of a side add about a tenth to that, while encoding them was 14 %
    of its CPU (D271). A long-lived node never uses it. Documents recorded inside stay decoded
    after it ends (their mappings are not queued); those recorded before are encoded as
    usual when their turn comes. A CNS registry built or filled inside keeps those households
    as objects too (D340). Not reentrant across threads (module state, like the rest)."""
    global _packing
    before = _packing
    _packing = False
    try:
        yield
    finally:
        _packing = before


class CompactDocuments(Mapping[str, Any]):
    """A case's documents by document ID, kept as one :func:`encode`'d blob: a read decodes
    the document asked for (tens of µs), unless it is among the last :data:`RECENT_DOCUMENTS`
    read (in any case of this process). Immutable: a case that records a document gets a new
    mapping from :meth:`with_document`. A document just recorded stays decoded until
    :data:`PENDING_CASES` more mappings were made (in any case of this process), then it is
    encoded into the blob with the others (D215): recording costs no encoding at once.

    Equal to any mapping with equal items. Pickles (and copies) as the plain dict of its
    decoded documents; a node's checkpoint stores its :meth:`packed` form instead (D425)."""

    __slots__ = ("__weakref__", "_blob", "_fresh", "_ids")

    def __init__(self, documents: Mapping[str, Any] = {}) -> None:
        self._ids: tuple[str, ...] = tuple(documents)
        #: The encoded documents (the first ones of ``_ids``), or None: none yet.
        self._blob: bytes | None = None
        #: Documents not yet in the blob, by index in ``_ids`` (or None: every one is).
        self._fresh: dict[int, Any] | None = dict(enumerate(documents.values())) or None
        if self._fresh:
            _pend(self)

    def with_document(self, document_id: str, document: Any) -> CompactDocuments:
        """These documents with ``document`` under ``document_id`` (added, or replacing the
        one that had that ID: a new version keeps its document's ID)."""
        ids = self._ids
        if document_id in ids:  # a new version
            index = ids.index(document_id)
        else:
            index = len(ids)
            ids = (*ids, document_id)
        new: CompactDocuments = object.__new__(CompactDocuments)
        new._ids = ids
        new._blob = self._blob
        fresh = self._fresh
        new._fresh = {**fresh, index: document} if fresh else {index: document}
        _pend(new)
        return new

    def _compact(self) -> None:
        """Encode the documents not yet in the blob into it (the mapping stays equal)."""
        fresh = self._fresh
        if not fresh:
            return
        parts = list(_unpack(self._blob)) if self._blob is not None else []
        for index in sorted(fresh):
            encoded = _enc(fresh[index])
            if index < len(parts):
                parts[index] = encoded
            else:
                parts.append(encoded)
        self._blob = _pack(tuple(parts))
        self._fresh = None

    def packed(self) -> tuple[tuple[str, ...], bytes] | None:
        """The document IDs and the blob holding them all (the documents not yet in it encoded
        into it now, as the pending queue would soon), for :func:`packed_documents` in a
        process that registered the same classes (D425). ``None`` inside
        :func:`kept_decoded` (documents recorded there stay decoded)."""
        if self._fresh:
            if not _packing:
                return None
            self._compact()
        blob = self._blob
        return None if blob is None else (self._ids, blob)

    def __getitem__(self, document_id: str) -> Any:
        try:
            index = self._ids.index(document_id)
        except ValueError:
            raise KeyError(document_id) from None
        fresh = self._fresh
        if fresh is not None:
            document = fresh.get(index, _NONE)
            if document is not _NONE:
                return document
        blob = self._blob
        assert blob is not None  # every index is fresh or in the blob
        key = (blob, index)
        document = _RECENT.get(key, _NONE)
        if document is _NONE:
            if _UNPACKED[0] is blob:
                parts = _UNPACKED[1]
            else:
                parts = _UNPACKED[1] = _unpack(blob)
                _UNPACKED[0] = blob
            document = _dec(parts[index])
            _remember(key, document)
        return document

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CompactDocuments):
            return self._ids == other._ids and (
                (self._fresh is None and other._fresh is None and self._blob == other._blob)
                or dict(self.items()) == dict(other.items())
            )
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self.items()),))

    def __repr__(self) -> str:
        return f"CompactDocuments({dict(self.items())!r})"


_NONE: Final = object()


def packed_documents(ids: tuple[str, ...], blob: bytes) -> CompactDocuments:
    """The mapping :meth:`CompactDocuments.packed` gave ``ids`` and ``blob`` of (in this
    process or another that has registered the classes named in it, :func:`register`): nothing is
    decoded until a document is read (D425)."""
    documents: CompactDocuments = object.__new__(CompactDocuments)
    documents._ids = tuple(ids)
    documents._blob = bytes(blob)
    documents._fresh = None
    return documents
