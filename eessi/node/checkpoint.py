"""Checkpoints of a desk's state, so that a restart replays only the inputs since the last one.

Theory of operation
-------------------
A desk's state (``CnsState``, ``FundState``) is one frozen dataclass whose fields are mappings
(cases by ID, registrations by member...). A checkpoint stores the **cases entry by entry**:
one row ``(field, key, value)`` per case, in the journal's checkpoint tables
(:mod:`eessi.journal.checkpoint_store`), with an **index** of them (each row's key, the
case's head, whether it is due; packed as below) that a restart reads instead of the rows
(D221); every **other mapping packed** (D220): rows of
:data:`CHUNK_ENTRIES` entries each, keys and values as columns in ``marshal``'s form (strings,
numbers and tuples as they are, dates as ordinals, objects of one slotted dataclass as a column
per field, anything else pickled), which a restart reads a few rows and C-level loops at a
time instead of one row and one object per entry; plus a header: the format, fingerprints of
the state's model and of this codec, whose state it is, and the input-log position (``seq``
and time of the last input it includes). A case is stored in :mod:`eessi.core.compact`'s
form (D440): its record as ``marshal`` bytes of plain tuples made by encoders written per
class, its documents as the blob it already keeps them in; a case holding anything compact
cannot encode is pickled (see "Why pickle" below), and a restore reads either.

**Incremental.** :class:`DeskCheckpoints` remembers which object it saved for every key. The
state is immutable and an input replaces only what it changes, so the entries to write next
time are those whose value is not the *same object* any more (an identity test per key, no
encoding), plus the keys that went away. A checkpoint costs the entries changed since the
previous one, not the state's size; the journal writes them and the new header in one
transaction, so a crash half-way leaves the previous checkpoint whole.

**Documents stay encoded.** A case's documents (parsed SEDs, most of a case's bytes) are
stored as the blob the desk already keeps them in (:class:`~eessi.core.compact.CompactDocuments`,
D190), its bytes as they are, and come back as the same kind of mapping, which decodes a
document on first use (D425): a checkpoint neither decodes nor pickles them. The blob, and a
case's record in compact's form (D440), name classes by numbers made from their names
(:mod:`eessi.core.compact`); the header lists the classes registered (``compact``), which a
restore registers before anything is decoded, and the model fingerprint covers their shapes.
Documents not in that form (a mapping recorded inside :func:`~eessi.core.compact.kept_decoded`)
are encoded with the record, decoded (they come back as a ``dict``); in a case that is pickled,
they are pickled apart, as one blob per case, and come back as a :class:`LazyDocuments` mapping
that decodes its blob on first use. A restart
therefore decodes the documents of the cases that inputs touch after it, not of every case
ever handled; a case no input touched is not written again at all (its value is the same
object). Entries name the classes, functions and enum members they use by number, in a table
of globals kept in the header and resolved once per load (:class:`_Codec`), and slotted
dataclasses are rebuilt from their field values: less to read and fewer lookups per entry
than plain pickle (D51).

**Only what restart needs is decoded** (D101). An entry is written with a leading zero byte
(then its summary: a case's BUC and state, what ``/metrics`` counts without decoding it, D152)
when the desk has nothing to look at in it by time (every value but a case with a reply
due: :func:`~eessi.core.desk.case_due`), and comes back as a
:class:`~eessi.core.desk.Deferred`: the bytes, decoded when an input first reads the key. The
desk's tables (:class:`~eessi.core.desk.PersistentMap`) hand out the decoded value, and the
desk's reminder index skips deferred cases. So a restart decodes the cases waiting for a reply
and leaves the others (completed, closed...) encoded. Where the journal can read on the calling
thread (SQLite), a restore reads of a deferred entry only its head (mark and summary) and its
key, and the entry is read whole from the journal when an input first needs it (D186): the
restarted node holds no bytes of the cases nobody asks about. A checkpoint that overwrites or
removes an entry still deferred first reads it (:func:`_settle`), so that a version of the
state kept from before never reads the new one. A key that is a string is stored as its
UTF-8, and one that is a slotted dataclass of strings (a ``MemberRef``) as its class number and
fields: neither needs unpickling. An entry decoded but not changed since is not written
again.

**Never misread.** The header names the format (:data:`FORMAT`), a fingerprint of the state's
model (:func:`model_version`: the shape of every class the state can hold, D185), one of the
codec (:func:`codec_version`: this module), the institution, the state's class (module and
name) and fields. A checkpoint of the previous format (:data:`LEGACY_FORMAT`, every table one
row per entry) is read too when the build before wrote it and the classes and the entry codec
are still that build's (D220); the next checkpoint, the stop's at the latest, replaces its
rows by packed ones. If any differs, or the checkpoint
cannot be read or decoded, or the input log at its position does not hold the input it names,
the checkpoint is ignored (logged at WARNING with the reason) and the node replays the whole
input log, as it did before checkpoints existed; its next checkpoint replaces the ignored one.
So a build that moves a class (``eessi.core.cns`` split in modules) or changes a field never
unpickles an older build's objects; a build that changes only code (the desk's rules, the
node, the web) keeps the checkpoint: what it holds is what happened, decided and sent by the
code of the time (D185).

Why pickle
----------
The state holds parsed documents and core objects not meant to be serialised (D7); an explicit
encoding would be a second model of every class to keep in step with the core. Pickle is safe
here because the checkpoint is the node's own, in its own local journal file, written and read
by the same code (the fingerprint makes sure): whoever can write that file can already make the
node send anything. Pickles from anywhere else are never loaded (traces carry JSON). A case's
record is not pickled but in compact's form (D440), which is no second model either (an
encoder per class, made from its fields), and costs a quarter of the pickle here: pickling
calls this module's hooks (``persistent_id``, ``reducer_override``) in Python for every object
of the record, compact's encoders read the fields and ``marshal`` writes plain tuples.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib
import io
import logging
import marshal
import pickle
import pkgutil
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, date, datetime
from enum import Enum
from functools import cache, partial
from itertools import compress, repeat
from operator import itemgetter
from pathlib import Path
from types import BuiltinFunctionType, CodeType, FunctionType, MemberDescriptorType, NoneType
from typing import Any, Final

from eessi.core import compact
from eessi.core.compact import CompactDocuments, packed_documents
from eessi.core.desk import CaseFile, Deferred, PersistentMap, case_due
from eessi.errors import EessiError, JournalError
from eessi.journal.base import CheckpointItem, Journal
from eessi.node.records import INPUT_LOG

__all__ = [
    "CHUNK_ENTRIES",
    "FORMAT",
    "LEGACY_FORMAT",
    "MODEL_MODULES",
    "MODEL_PACKAGES",
    "STATE_VERSION",
    "DeskCheckpoints",
    "LazyDocuments",
    "codec_version",
    "model_modules",
    "model_version",
    "unreadable",
]

log = logging.getLogger("eessi.node")

#: The checkpoint format this code writes and reads.
FORMAT: Final = "eessi-checkpoint/4"
_PROTOCOL: Final = 5
#: The field of a dataclass whose mapping is kept encoded (a case's documents).
_LAZY_FIELD: Final = "documents"
#: Entries from which a restored state is moved out of the garbage collector's generations
#: (``gc.freeze``): a big heap, decoded at once and kept, that collections need not scan.
_FREEZE_FROM: Final = 20_000
#: The table of a state field that is not a mapping (stored whole under one key).
_WHOLE: Final = b""
#: First byte of a key that is a string, stored as its UTF-8 (a pickle starts with 0x80).
_TEXT: Final = 0
_TEXT_MARK: Final = b"\x00"
#: First byte of a key that is a slotted dataclass of strings, stored as text.
_TEXT_FIELDS: Final = 1
_TEXT_FIELDS_MARK: Final = b"\x01"
#: First byte of a value the restore defers (:class:`~eessi.core.desk.Deferred`, D101).
_DORMANT: Final = b"\x00"
_DORMANT_BYTE: Final = 0
#: First byte of an entry (after a deferred one's mark and summary) in compact's form, not
#: pickled (D440): :func:`~eessi.core.compact.encode_uncompressed`. A pickle starts with 0x80.
_COMPACT: Final = b"\x01"
_COMPACT_BYTE: Final = 1
#: The tables kept one row per entry: the cases, each read by its key when an input first needs
#: it (D186), and an index of them that a restore reads instead (D221). Every other mapping is
#: packed, :data:`CHUNK_ENTRIES` entries a row (D220).
_PER_ENTRY: Final = frozenset({"cases"})
#: Entries per row of a packed table: a checkpoint rewrites the rows whose entries changed and
#: the last one, to which new keys are added (at most this many entries packed again and
#: written per table and checkpoint however few changed: 1,024 rather than 4,096, D442; a
#: restore reads rows of any size).
CHUNK_ENTRIES: Final = 1024
#: First byte of the key of a packed table's row (then the row's number, in ASCII).
_CHUNK: Final = 2
_CHUNK_MARK: Final = b"\x02"
#: How much of a deferred value a restore reads (its mark, the summary's length and the
#: summary), where the journal can read the rest when an input needs it (D186).
_HEAD: Final = 2 + 255


def _summary(value: Any) -> bytes:
    """What a deferred entry says of itself (:attr:`~eessi.core.desk.Deferred.summary`): a
    case's BUC and state, as a length byte and ``buc TAB state`` (D152); else a zero byte."""
    if isinstance(value, CaseFile):
        text = f"{value.snapshot.buc}\t{value.snapshot.state.value}".encode()
        if len(text) < 256:
            return bytes((len(text),)) + text
    return b"\x00"


def _read_summary(raw: bytes) -> tuple[str, ...] | None:
    """A summary's fields; ``None`` if damaged (the entry then fails when decoded)."""
    try:
        fields = tuple(raw.decode().split("\t"))
    except UnicodeDecodeError:
        return None
    return fields if len(fields) == 2 else None


def _dormant(value: Any) -> bool:
    """A value the desk need not see before an input reads it: anything but a case with
    something due (the desk files those in its due index when it is built)."""
    return not isinstance(value, CaseFile) or case_due(value) is None


#: Bumped by hand when what a checkpointed value *means* changes while the shape of its classes
#: (their names, fields and members, :func:`model_version`) does not (D185).
STATE_VERSION: Final = 1
#: The modules whose classes a desk state holds: every module of the core (cases, records,
#: messages) and the parsed SEDs' model (what a case's documents are made of).
MODEL_PACKAGES: Final = ("eessi.core",)
MODEL_MODULES: Final = ("eessi.sed.catalogue", "eessi.sed.documents", "eessi.sed.header",
                        "eessi.sed.model")  # fmt: skip


def _shape(cls: type) -> str:
    """What of ``cls`` a pickle depends on: its name, and its dataclass fields (with their
    annotations), its enum members or its slots."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if dataclasses.is_dataclass(cls):
        fields = [f"{f.name}:{f.type}" for f in dataclasses.fields(cls)]
        return f"{name}({','.join(fields)})"
    if issubclass(cls, Enum):
        return f"{name}[{','.join(f'{m.name}={_stable_repr(m.value)}' for m in cls)}]"
    return f"{name}<{','.join(getattr(cls, '__slots__', ()))}>"


def _stable_repr(value: Any) -> str:
    """``repr``, the same in every process (a set's order depends on the hash seed)."""
    if isinstance(value, frozenset | set):
        return "{" + ",".join(sorted(_stable_repr(v) for v in value)) + "}"
    if isinstance(value, tuple):
        return "(" + ",".join(_stable_repr(v) for v in value) + ")"
    return repr(value)


def _code_shape(code: CodeType) -> str:
    """A function's code without its line numbers (moving it in its file changes nothing)."""
    consts = [
        _code_shape(c) if isinstance(c, CodeType) else _stable_repr(c) for c in code.co_consts
    ]
    return f"{code.co_code.hex()} {code.co_names} {code.co_varnames} {consts}"


def model_modules() -> list[str]:
    """The modules :func:`model_version` fingerprints: :data:`MODEL_PACKAGES`' and
    :data:`MODEL_MODULES`."""
    names = list(MODEL_MODULES)
    for package_name in MODEL_PACKAGES:
        package = importlib.import_module(package_name)
        names.extend(m.name for m in pkgutil.iter_modules(package.__path__, f"{package_name}."))
    return sorted(names)


@cache
def model_version() -> str:
    """A fingerprint of what a checkpoint's entries are made of (D185, D220): every class
    defined in the :func:`model_modules` (by :func:`_shape`), the rule that defers an entry
    (:func:`~eessi.core.desk.case_due`'s code), :data:`STATE_VERSION`, the Python version and
    the pickle protocol. Not the codec (:func:`codec_version`) and not the rest of the code: a
    build that changes only behaviour reads the checkpoint an older one wrote."""
    digest = hashlib.sha256(f"{sys.version_info[:2]} {_PROTOCOL} {STATE_VERSION}".encode())
    digest.update(_code_shape(case_due.__code__).encode())
    for module_name in model_modules():
        module = importlib.import_module(module_name)
        shapes = sorted(
            _shape(obj)
            for obj in vars(module).values()
            if isinstance(obj, type) and obj.__module__ == module_name
        )
        digest.update("\n".join([module_name, *shapes, ""]).encode())
    return digest.hexdigest()[:32]


@cache
def codec_version() -> str:
    """A fingerprint of the code that writes and reads the entries (D185: this module whole,
    with :data:`FORMAT`): a checkpoint written by another version of it is not read, but for
    the previous format's (:func:`_legacy_reason`)."""
    digest = hashlib.sha256(f"{FORMAT} {marshal.version}".encode())
    digest.update(Path(__file__).read_bytes())
    # a case's documents are stored as compact's blobs (D425): its encoding is part of ours
    digest.update(Path(compact.__file__).read_bytes())
    return digest.hexdigest()[:32]


#: The code that decodes a checkpoint's entries one row each (the format before
#: :data:`FORMAT`, and the cases in both): what must not have changed for this build to read
#: the previous format's checkpoints (D220).
def _entry_codec_version() -> str:
    parts = [
        f"{_PROTOCOL} {_TEXT} {_TEXT_FIELDS} {_DORMANT_BYTE} {_WHOLE!r} {_LAZY_FIELD}",
        *(
            _code_shape(function.__code__)
            for function in (
                _rebuild,
                _resolve,
                _read_summary,
                _load_deferred,
                _fetch_deferred,
                _Codec.__init__,
                _Codec._add,
                _Codec.load_key,
                _Codec.loads,
                LazyDocuments.__init__,
                LazyDocuments._decoded,
            )
        ),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


#: The previous format, read by this build (D220): its checkpoints hold every table one row
#: per entry, which is how this format still stores the cases.
LEGACY_FORMAT: Final = "eessi-checkpoint/3"
#: The ``model`` a checkpoint of :data:`LEGACY_FORMAT` carries when the last build writing it
#: (eessi-sim at c2a2e52, Python 3.11) wrote it; with :data:`_LEGACY_AS`, what this build's
#: fingerprints were when it was made to read it. Both must hold: the state classes are
#: the same as that build's, and so is the code decoding an entry. Any later change of either
#: makes the previous format's checkpoints ignored (a full replay, as for any other).
_LEGACY_MODEL: Final = {(3, 11): "5cacf6844d0511eabbf76928298d3a7a"}
_LEGACY_AS: Final = ("4746d3baa9e1f6bbab79fbd7c6faac67", "a94d0f9e5c3f98ea7732093d9cadabb8")


def _legacy_reason(header: Mapping[str, Any]) -> str | None:
    """Why this build does not read a checkpoint of :data:`LEGACY_FORMAT` (``None``: it does)."""
    written = _LEGACY_MODEL.get(sys.version_info[:2])
    if header.get("model") != written:
        return f"its model is {header.get('model')!r}, which this build does not read"
    if (model_version(), _entry_codec_version()) != _LEGACY_AS:
        return "this build's state classes or entry codec changed since it could read it"
    return None


def unreadable(header: Mapping[str, Any], owner: str, state: Any) -> str | None:
    """Why this build would not read a checkpoint with ``header`` for the desk state whose
    fresh value is ``state`` (``None``: it reads it): its format, model, codec, owner, state
    class and fields must be this build's, or it is of :data:`LEGACY_FORMAT` as written by
    the build before (:func:`_legacy_reason`)."""
    cls = type(state)
    expected: dict[str, Any] = {
        "owner": owner,
        "state": _class_name(cls),
        "fields": [f.name for f in dataclasses.fields(cls)],
    }
    if header.get("format") == LEGACY_FORMAT:
        reason = _legacy_reason(header)
        if reason is not None:
            return f"it is of the previous format ({LEGACY_FORMAT}) and {reason}"
    else:
        expected = {
            "format": FORMAT,
            "model": model_version(),
            "codec": codec_version(),
            **expected,
        }
    for name, value in expected.items():
        if header.get(name) != value:
            return f"its {name} is {header.get(name)!r}, this node's is {value!r}" + (
                " (written by a version of eessi-sim whose state classes differ)"
                if name == "model"
                else ""
            )
    return None


class LazyDocuments(Mapping[str, Any]):
    """A case's documents as a checkpoint restored them: decoded on first use, and written to
    the next checkpoint as the same bytes. A read-only mapping like the dict it stands for."""

    __slots__ = ("_blob", "_data")

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self._data: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            data = self._data = pickle.loads(self._blob)
        return data

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyDocuments, (self._blob,))

    def __repr__(self) -> str:
        return repr(self._decoded())


#: Field names of the dataclasses rebuilt, by class (``dataclasses.fields`` is slow per call).
_FIELDS: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    """A slotted dataclass instance with these field values, without ``__init__`` (what
    ``copyreg`` does for it, without looking its fields up again for every object)."""
    obj: Any = object.__new__(cls)
    for name, value in zip(_field_names(cls), values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


def _global_name(obj: Any) -> str | None:
    """The name under which a checkpoint's table of globals lists ``obj``, if it is one: a
    class or function (by module and qualified name), an enum member, or ``UTC``."""
    if obj is UTC:
        return "utc"
    if isinstance(obj, Enum):
        cls = type(obj)
        return f"e {cls.__module__} {cls.__qualname__} {obj.name}"
    if isinstance(obj, type | FunctionType | BuiltinFunctionType):
        return f"g {obj.__module__} {obj.__qualname__}"
    return None


#: Names of the classes compact has registered, by class; ``None``: not importable by its name
#: (a class made in a function), so never in a case a restore can read (D425).
_COMPACT_NAMES: dict[type, str | None] = {}


def _compact_classes() -> list[str]:
    """The names of the classes :mod:`eessi.core.compact` registered here that a restore can
    import (the header's ``compact``, D425)."""
    names = []
    for cls in compact.registered():
        name = _COMPACT_NAMES.get(cls, "")
        if name == "":
            name = _global_name(cls)
            try:
                if name is None or _resolve(name) is not cls:
                    name = None
            except Exception:  # not importable by its name
                name = None
            _COMPACT_NAMES[cls] = name
        if name is not None:
            names.append(name)
    return names


def _resolve(name: str) -> Any:
    """The object a table-of-globals name stands for (raises if there is none)."""
    if name == "utc":
        return UTC
    kind, module, qualname, *member = name.split(" ")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if kind == "e":
        return obj[member[0]]
    return obj


class _Codec:
    """Pickles a checkpoint's entries against one table of the globals they name (classes,
    functions, enum members, ``UTC``), saved in the header: an entry names them by number,
    which keeps each entry small and spares its decoding a lookup by name per class. A slotted
    dataclass is rebuilt from its field values (:func:`_rebuild`); one with a ``documents``
    mapping keeps it as one blob (:class:`LazyDocuments`)."""

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: list[str] = []
        self.objects: list[Any] = []
        self._numbers: dict[int, int] = {}
        self._lazy: dict[type, int | None] = {}
        #: Key classes stored as text (see :meth:`key`).
        self._text_keys: set[type] = set()
        for name in names:
            self._add(name, _resolve(name))

    def _add(self, name: str, obj: Any) -> int:
        number = len(self.objects)
        self.names.append(name)
        self.objects.append(obj)
        self._numbers[id(obj)] = number
        return number

    def persistent_id(self, obj: Any) -> int | None:
        number = self._numbers.get(id(obj))
        if number is not None:
            return number
        name = _global_name(obj)
        return None if name is None else self._add(name, obj)

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is CompactDocuments:  # its blob as it is, not its documents decoded (D425)
            packed = obj.packed()
            if packed is not None:
                return (packed_documents, packed)
            return (LazyDocuments, (pickle.dumps(dict(obj), protocol=_PROTOCOL),))
        index = self._lazy.get(cls, -1)
        if index == -1:
            index = None
            if dataclasses.is_dataclass(cls) and not hasattr(obj, "__dict__"):
                names = _field_names(cls)
                index = names.index(_LAZY_FIELD) if _LAZY_FIELD in names else len(names)
            self._lazy[cls] = index
        if index is None:
            return NotImplemented
        values = [getattr(obj, name) for name in _field_names(cls)]
        if index < len(values):
            docs = values[index]
            if not isinstance(docs, LazyDocuments | CompactDocuments):
                values[index] = LazyDocuments(pickle.dumps(dict(docs), protocol=_PROTOCOL))
        return (_rebuild, (cls, tuple(values)))

    def dumps(self, value: Any) -> bytes:
        out = io.BytesIO()
        _Pickler(out, self).dump(value)
        return out.getvalue()

    def entry(self, value: Any) -> bytes:
        """An entry's bytes (a case, D440): in compact's form, which names classes by their
        tags (the header lists them) and keeps a case's documents as their blob; pickled
        (:meth:`dumps`) if it holds anything compact cannot encode."""
        try:
            return _COMPACT + compact.encode_uncompressed(value)
        except TypeError:
            return self.dumps(value)

    def key(self, value: Any) -> bytes:
        """A key's bytes: the same for equal keys (no memo, so sharing inside does not show).
        A string is its UTF-8 after a zero byte, a slotted dataclass of strings (a
        ``MemberRef``) its class number and fields, NUL-separated, after a one byte: both
        decoded without unpickling."""
        cls = type(value)
        if cls is str:
            string: str = value
            return _TEXT_MARK + string.encode()
        if cls in self._text_keys or self._text_key_class(value):
            fields = [getattr(value, name) for name in _field_names(cls)]
            if all(type(f) is str and "\0" not in f for f in fields):
                number = self.persistent_id(cls)
                text = "\0".join([str(number), *fields])
                return _TEXT_FIELDS_MARK + text.encode()
        out = io.BytesIO()
        pickler = _Pickler(out, self)
        pickler.fast = True
        pickler.dump(value)
        return out.getvalue()

    def _text_key_class(self, key: Any) -> bool:
        """Is ``key`` a slotted dataclass (then keys of its class may be stored as text)?"""
        if dataclasses.is_dataclass(key) and not hasattr(key, "__dict__"):
            self._text_keys.add(type(key))
            return True
        return False

    def load_key(self, data: bytes) -> Any:
        first = data[0]
        if first == _TEXT:
            return data[1:].decode()
        if first == _TEXT_FIELDS:
            number, *fields = data[1:].decode().split("\0")
            return _rebuild(self.objects[int(number)], tuple(fields))
        return self.loads(data)

    def load_entry(self, data: bytes) -> Any:
        """An entry's value from :meth:`entry`'s bytes (compact's form or a pickle; the previous
        format's entries are all pickles, D220)."""
        if data[0] == _COMPACT_BYTE:
            return compact.decode_uncompressed(memoryview(data)[1:])
        return self.loads(data)

    def loads(self, data: bytes) -> Any:
        unpickler = pickle.Unpickler(io.BytesIO(data))
        unpickler.persistent_load = self.objects.__getitem__  # type: ignore[method-assign]
        return unpickler.load()


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, codec: _Codec) -> None:
        super().__init__(file, protocol=_PROTOCOL)
        self.codec = codec

    def persistent_id(self, obj: Any) -> int | None:
        return self.codec.persistent_id(obj)

    def reducer_override(self, obj: Any) -> Any:
        return self.codec.reducer_override(obj)


# -- packed tables (D220) ---------------------------------------------------------------------
#
# A packed row holds a chunk of one table as ``marshal`` of (keys column, values column). A
# column is the list of its values in one of these forms, the first that fits:
#   ("k",)                     the keys column itself (a registration's member is its key)
#   ("p", values)              str, int, float, bool, bytes, None, or tuples of them: as they are
#   ("d", ordinals)            dates (``datetime.date`` exactly) or None: proleptic ordinals
#   ("o", class, [columns])    objects of one slotted dataclass: a column per field, rebuilt
#                              with the slots' descriptors (no ``__init__``, as :func:`_rebuild`)
#   ("x", pickle)              anything else: the list pickled by the codec (:class:`_Codec`)
# Decoding a column is a few C-level loops (``map``), not a Python call per value.

_PLAIN: Final = frozenset({str, int, float, bool, bytes, NoneType})


def _plain(value: Any) -> bool:
    cls = type(value)
    return cls in _PLAIN or (cls is tuple and all(map(_plain, value)))


def _slot_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of a slotted dataclass whose every field is a slot (``None`` otherwise, or
    for one whose documents the codec keeps apart, :class:`LazyDocuments`)."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls):
        return None
    names = _field_names(cls)
    if _LAZY_FIELD in names or not all(
        isinstance(getattr(cls, name, None), MemberDescriptorType) for name in names
    ):
        return None
    return names


def _column(codec: _Codec, values: list[Any], keys: list[Any] | None) -> tuple[Any, ...]:
    if keys is not None and values == keys:
        return ("k",)
    if all(map(_plain, values)):
        return ("p", values)
    if all(type(v) is date or v is None for v in values):
        return ("d", [None if v is None else v.toordinal() for v in values])
    cls = type(values[0])
    names = _slot_fields(cls)
    if names is not None and all(type(v) is cls for v in values):
        number = codec.persistent_id(cls)
        return (
            "o",
            number,
            [_column(codec, [getattr(v, name) for v in values], keys) for name in names],
        )
    return ("x", codec.dumps(values))


def _uncolumn(codec: _Codec, column: tuple[Any, ...], keys: list[Any] | None) -> list[Any]:
    kind = column[0]
    if kind == "k" and keys is not None:
        return keys
    if kind == "p":
        values: list[Any] = column[1]
        return values
    if kind == "d":
        ordinals: list[Any] = column[1]
        if None in ordinals:
            return [None if o is None else date.fromordinal(o) for o in ordinals]
        return list(map(date.fromordinal, ordinals))
    if kind == "o":
        cls = codec.objects[column[1]]
        fields = [_uncolumn(codec, c, keys) for c in column[2]]
        names = _slot_fields(cls)
        if names is None or len(names) != len(fields) or len({len(f) for f in fields}) > 1:
            raise ValueError(f"a packed column of {cls!r} does not match its fields")
        objects = list(map(object.__new__, repeat(cls, len(fields[0]) if fields else 0)))
        for name, field_values in zip(names, fields, strict=True):
            deque(map(getattr(cls, name).__set__, objects, field_values), maxlen=0)
        return objects
    if kind == "x":
        loaded: list[Any] = codec.loads(column[1])
        return loaded
    raise ValueError(f"a packed column of unknown kind {kind!r}")


def _pack(codec: _Codec, keys: list[Any], values: list[Any]) -> bytes:
    """A packed row: ``keys`` and their ``values`` (lists of the same length, not empty)."""
    return marshal.dumps((_column(codec, keys, None), _column(codec, values, keys)), 4)


def _unpack(codec: _Codec, data: bytes) -> tuple[list[Any], list[Any]]:
    key_column, value_column = marshal.loads(data)
    keys = _uncolumn(codec, key_column, None)
    values = _uncolumn(codec, value_column, keys)
    if len(keys) != len(values):
        raise ValueError("a packed row has not as many values as keys")
    return keys, values


def _chunk_key(number: int) -> bytes:
    return _CHUNK_MARK + str(number).encode()


class _Packed:
    """What the journal's checkpoint holds of one packed table: its rows' numbers and keys,
    and the value object saved under each key (to write only the rows that changed)."""

    __slots__ = ("_restored", "rows", "where")

    def __init__(self, restored: list[tuple[int, list[Any], list[Any]]] | None = None) -> None:
        #: Rows as a restore read them, made into :attr:`where` and :attr:`rows` when first
        #: needed (the next checkpoint, not the restart).
        self._restored = restored
        #: key -> (row number, value object saved).
        self.where: dict[Any, tuple[int, Any]] = {}
        #: row number -> its keys, in order.
        self.rows: dict[int, dict[Any, None]] = {}

    def settle(self) -> None:
        restored, self._restored = self._restored, None
        for number, keys, values in restored or ():
            self.rows[number] = dict.fromkeys(keys)
            self.where.update(zip(keys, zip(repeat(number), values, strict=False), strict=True))

    def save(
        self,
        codec: _Codec,
        name: str,
        items: Iterable[tuple[Any, Any]],
        row_value: Callable[[Any, Any], Any] | None = None,
    ) -> tuple[list[CheckpointItem], list[tuple[str, bytes]]]:
        """The rows to write and to remove for the table's items now (and remember them).
        ``row_value(key, item)``: what a row holds of an item (default: the item)."""
        self.settle()
        where, rows = self.where, self.rows
        new: dict[Any, tuple[int, Any]] = {}
        dirty: set[int] = set()
        last = max(rows, default=0)
        for key, item in items:
            if type(item) is Deferred and row_value is None:  # the previous format's row
                item = item.value()
            was = where.get(key)
            if was is None:
                if len(rows.get(last, ())) >= CHUNK_ENTRIES:
                    last += 1
                rows.setdefault(last, {})[key] = None
                number = last
                dirty.add(number)
            else:
                number = was[0]
                if _replaced(was[1], item):
                    dirty.add(number)
            new[key] = (number, item)
        for key in where.keys() - new.keys():
            number = where[key][0]
            del rows[number][key]
            dirty.add(number)
        self.where = new
        return self._rows(codec, name, dirty, row_value)

    def update(
        self,
        codec: _Codec,
        name: str,
        changes: Iterable[tuple[Any, Any]],
        row_value: Callable[[Any, Any], Any] | None = None,
    ) -> tuple[list[CheckpointItem], list[tuple[str, bytes]]]:
        """As :meth:`save`, given only the keys that may have changed since the last call, each
        with its item now (:data:`_GONE`: removed): costs those keys and the rows they are in,
        not the table's size (D441)."""
        self.settle()
        where, rows = self.where, self.rows
        dirty: set[int] = set()
        last = max(rows, default=0)
        for key, item in changes:
            was = where.get(key)
            if item is _GONE:
                if was is not None:
                    del rows[was[0]][key], where[key]
                    dirty.add(was[0])
                continue
            if type(item) is Deferred and row_value is None:  # the previous format's row
                item = item.value()
            if was is None:
                if len(rows.get(last, ())) >= CHUNK_ENTRIES:
                    last += 1
                rows.setdefault(last, {})[key] = None
                where[key] = (last, item)
                dirty.add(last)
            elif _replaced(was[1], item):
                where[key] = (was[0], item)
                dirty.add(was[0])
        return self._rows(codec, name, dirty, row_value)

    def _rows(
        self,
        codec: _Codec,
        name: str,
        dirty: set[int],
        row_value: Callable[[Any, Any], Any] | None,
    ) -> tuple[list[CheckpointItem], list[tuple[str, bytes]]]:
        """The ``dirty`` rows packed again (or removed, if emptied)."""
        where, rows = self.where, self.rows
        changed: list[CheckpointItem] = []
        removed: list[tuple[str, bytes]] = []
        for number in sorted(dirty):
            keys = list(rows[number])
            if keys:
                if row_value is None:
                    values = [where[key][1] for key in keys]
                else:
                    values = [row_value(key, where[key][1]) for key in keys]
                changed.append((name, _chunk_key(number), _pack(codec, keys, values)))
            else:
                del rows[number]
                removed.append((name, _chunk_key(number)))
        return changed, removed


def _replaced(saved: Any, item: Any) -> bool:
    """Is ``item`` another value than the one saved (not the same object, nor the value its
    saved :class:`~eessi.core.desk.Deferred` made since)?"""
    return saved is not item and not (
        type(saved) is Deferred and saved.loaded and saved.value() is item
    )


#: A key's item in :meth:`_Packed.update` and in a checkpoint's changes: the key was removed.
_GONE: Final = object()


def _head(
    saved: Mapping[Any, tuple[bytes, Any]],
    shared: dict[Any, Any],
    key: Any,
    item: Any,
) -> tuple[bytes, tuple[str, str] | None, bool]:
    """What the index of a table kept one row per entry holds of an entry (D221): its row's
    key, its summary (a case's BUC and state, as the row's head, D152) and whether it is due
    (decoded at restore, not deferred). Equal summaries are one object (``shared``), which
    ``marshal`` writes once."""
    if type(item) is Deferred:
        if not item.loaded:
            summary = item.summary
            return (saved[key][0], shared.setdefault(summary, summary), False)
        item = item.value()
    summary = None
    if isinstance(item, CaseFile):
        summary = (item.snapshot.buc, item.snapshot.state.value)
    return (saved[key][0], shared.setdefault(summary, summary), not _dormant(item))


def _from_index(
    table: str,
    keys: list[Any],
    heads: list[Any],
    loader: Any,
    fetch: Any,
    loads: Any,
    tables: dict[str, dict[Any, tuple[bytes, Any]]],
) -> list[Any]:
    """The entries of a row of a table's index, its rows left unread (D221): each a
    :class:`~eessi.core.desk.Deferred` read by its key when first needed, but those due, read
    and decoded now."""
    key_bytes = list(map(itemgetter(0), heads))
    entries: list[Any] = list(map(Deferred, repeat(loader), key_bytes, map(itemgetter(1), heads)))
    for i in compress(range(len(entries)), map(itemgetter(2), heads)):
        data = fetch(table, key_bytes[i])
        if data is None:
            raise ValueError(f"the index names an entry of {table} that is not there")
        entries[i] = loads(data)
    tables[table].update(zip(keys, zip(key_bytes, entries, strict=True), strict=True))
    return entries


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _load_deferred(loads: Any, table: str, data: bytes) -> Any:
    """A deferred entry's value, decoded when an input first reads it (D101): after the
    dormant mark and the summary (:func:`_summary`)."""
    try:
        return loads(data[2 + data[1] :])
    except Exception as exc:  # whatever unpickling raises: the entry is damaged
        raise JournalError(
            f"an entry of the checkpoint ({table}) cannot be decoded: {type(exc).__name__}: {exc}",
            code="journal.checkpoint-damaged",
            hint="stop the node and delete the journal's checkpoint (DELETE FROM checkpoint):"
            " the next start replays the whole input log",
        ) from exc


def _fetch_deferred(fetch: Any, loads: Any, table: str, key: bytes) -> Any:
    """A deferred entry's value, read whole from the journal and decoded when an input first
    reads it (D186): the restore kept only its key and summary."""
    data = fetch(table, key)
    if not data or data[0] != _DORMANT_BYTE:
        raise JournalError(
            f"an entry of the checkpoint ({table}) is no longer in the journal",
            code="journal.checkpoint-damaged",
            hint="stop the node and delete the journal's checkpoint (DELETE FROM checkpoint):"
            " the next start replays the whole input log",
        )
    return _load_deferred(loads, table, data)


def _settle(item: Any) -> None:
    """Make a deferred value before its entry is overwritten or removed: a version of the
    state kept from before (a rollback's) must not read the new one (D186)."""
    if type(item) is Deferred and not item.loaded:
        with suppress(JournalError):  # damaged: it fails for whoever reads it, as it would
            item.value()


class DeskCheckpoints:
    """Writes and reads the checkpoints of one node's desk (see the module docstring)."""

    def __init__(self, journal: Journal, owner: str) -> None:
        self.journal = journal
        self.owner = owner
        #: The input-log position of the state the desk holds (last input included).
        self.input_seq = 0
        self.input_at: datetime | None = None
        #: Inputs logged since the last checkpoint.
        self.pending = 0
        #: Per state field: key -> (its bytes, the value object saved). ``None``: nothing of
        #: the journal's checkpoint is known to be ours, the next one rewrites everything.
        self._saved: dict[str, dict[Any, tuple[bytes, Any]]] | None = None
        #: The packed tables' rows (D220), when :attr:`_saved` is not ``None``.
        self._packs: dict[str, _Packed] = {}
        #: The table of globals the saved entries name (see :class:`_Codec`).
        self._codec = _Codec()
        #: Wall seconds of the last restore: ``checkpoint`` (fresh desk, checkpoint read and
        #: decoded), ``replay`` (the input log after it); for ``bench/restart.py``.
        self.timings: dict[str, float] = {}
        #: The desk's state now, if :meth:`follow` was told how to read it.
        self._current: Callable[[], Any] | None = None
        #: Per state field: its value when last looked at (:meth:`_track`).
        self._seen: dict[str, Any] = {}
        #: Per state field: the keys changed since the last checkpoint, in the order they first
        #: changed; ``None`` or absent: not known, every key is compared (D441).
        self._dirty: dict[str, dict[Any, None] | None] = {}

    def logged(self, seq: int, at: datetime, count: int) -> None:
        """``count`` inputs were committed to the input log, the last one at ``seq``."""
        self.input_seq, self.input_at = seq, at
        self.pending += count
        if self._current is not None and self._saved is not None:
            self._track(self._current())

    # -- reading -------------------------------------------------------------------------
    async def restore(self, fresh: Any) -> Any | None:
        """The state of the journal's checkpoint, if there is a usable one (else ``None``:
        replay the whole input log). ``fresh`` is the desk's state before any input, which
        says what class and fields the checkpoint must hold. Sets :attr:`input_seq`."""
        self._saved, self._packs, self._seen, self._dirty = None, {}, {}, {}
        self.input_seq, self.input_at, self.pending = 0, None, 0
        try:
            checkpoint = await self.journal.load_checkpoint(head=_HEAD)
        except EessiError as exc:
            return self._ignored(f"it cannot be read: {exc}")
        if checkpoint is None:
            return None
        header = checkpoint.header
        reason = unreadable(header, self.owner, fresh)
        if reason is not None:
            return self._ignored(reason)
        cls = type(fresh)
        fields = [f.name for f in dataclasses.fields(cls)]
        if checkpoint.input_seq > 0:
            reason = await self._check_position(checkpoint.input_seq, checkpoint.at)
            if reason is not None:
                return self._ignored(reason)
        tables: dict[str, dict[Any, tuple[bytes, Any]]] = {name: {} for name in fields}
        #: The same entries' values alone: the state's tables.
        objects: dict[str, dict[Any, Any]] = {name: {} for name in fields}
        #: Packed rows (D220) by table: (row number, bytes).
        packed: dict[str, list[tuple[int, bytes]]] = {}
        packs: dict[str, _Packed] = {}
        was_enabled = gc.isenabled()
        gc.disable()  # millions of small objects, none of them garbage: no collection passes
        try:
            codec = _Codec(header.get("globals", ()))
            for name in header.get("compact", ()):  # the classes its documents' blobs name
                compact.register(_resolve(name))
            loads, load_key = codec.load_entry, codec.load_key
            fetch = checkpoint.fetch
            # a deferred value: kept as its bytes, or (when the journal reads it later) as its
            # key alone, D186
            loaders = {
                name: partial(_load_deferred, loads, name)
                if fetch is None
                else partial(_fetch_deferred, fetch, loads, name)
                for name in fields
            }
            last_table, entries, values, loader = "", {}, {}, loaders[fields[0]]
            summaries: dict[bytes, tuple[str, ...] | None] = {}
            for table, key_bytes, value_bytes in checkpoint.items:
                if table != last_table:  # rows come grouped by table, mostly
                    got = tables.get(table)
                    if got is None:
                        return self._ignored(f"it has entries for an unknown field {table!r}")
                    last_table, entries, values = table, got, objects[table]
                    loader = loaders[table]
                if key_bytes[0] == _CHUNK:  # a packed table's row (D220), or an index's (D221)
                    packed.setdefault(table, []).append((int(key_bytes[1:]), value_bytes))
                    continue
                # dormant: decoded when an input reads it (D101), its summary read now
                if value_bytes[0] == _DORMANT_BYTE:
                    size = value_bytes[1]
                    summary = None
                    if size:
                        raw = value_bytes[2 : 2 + size]
                        summary = summaries.get(raw)
                        if summary is None:
                            summary = summaries[raw] = _read_summary(raw)
                    entry: Any = Deferred(
                        loader, value_bytes if fetch is None else key_bytes, summary
                    )
                else:
                    entry = loads(value_bytes)
                key = key_bytes[1:].decode() if key_bytes[0] == _TEXT else load_key(key_bytes)
                entries[key] = (key_bytes, entry)
                values[key] = entry
            count = len(checkpoint.items)
            indexed = header.get("by_key") or {}
            for table, rows in packed.items():
                rows.sort()
                restored = []
                values = objects[table]
                for number, data in rows:
                    keys, row_values = _unpack(codec, data)
                    if table in _PER_ENTRY:  # the index of the table's rows (D221)
                        if fetch is not None:  # the rows were not read: made from the index
                            row_values = _from_index(
                                table, keys, row_values, loaders[table], fetch, loads, tables
                            )
                        else:  # the rows were read: the index says where each key is
                            row_values = [values[key] for key in keys]
                    values.update(zip(keys, row_values, strict=True))
                    restored.append((number, keys, row_values))
                    count += len(keys) - 1
                packs[table] = _Packed(restored)
                if table in _PER_ENTRY and fetch is not None:
                    made = sum(len(keys) for _, keys, _ in restored)
                    if made != indexed.get(table):
                        raise ValueError(
                            f"the index of {table} has {made} entries, not {indexed.get(table)}"
                        )
            if count >= _FREEZE_FROM:
                # The state is long-lived: out of the collector's generations, it spares the
                # restarted node full collections over millions of objects (seconds each).
                gc.freeze()
        except Exception as exc:  # whatever unpickling raises: the checkpoint is not used
            return self._ignored(f"an entry cannot be decoded: {type(exc).__name__}: {exc}")
        finally:
            if was_enabled:
                gc.enable()
        state_values: dict[str, Any] = {}
        for name in fields:
            whole = tables[name].get(_WHOLE)
            if whole is not None and not isinstance(getattr(fresh, name), Mapping):
                state_values[name] = whole[1]
            else:
                state_values[name] = PersistentMap(objects[name])
        try:
            state = cls(**state_values)
        except Exception as exc:
            return self._ignored(f"its state cannot be rebuilt: {exc}")
        self._saved, self._packs, self._codec = tables, packs, codec
        # what the rows hold: the keys changed from here on are noted (D441)
        self._seen = {name: state_values[name] for name in fields}
        self._dirty = {name: {} for name in fields}
        self.input_seq, self.input_at = checkpoint.input_seq, checkpoint.at
        if header.get("format") == LEGACY_FORMAT:
            # converted by the next checkpoint, the stop's at the latest: counted as an input
            # the checkpoint does not hold yet
            self.pending = 1
            log.info(
                "%s: checkpoint of the previous format (%s) read; the next one, at the stop at"
                " the latest, is written in this one (%s)",
                self.owner,
                LEGACY_FORMAT,
                FORMAT,
            )
        return state

    async def _check_position(self, seq: int, at: datetime) -> str | None:
        around = await self.journal.case_events_after(INPUT_LOG, seq - 1)
        if not around or around[0].seq != seq or around[0].at != at:
            return f"the input log has no input {seq} at {at.isoformat()} (a different journal?)"
        return None

    def _ignored(self, reason: str) -> Any:
        log.warning(
            "%s: checkpoint ignored, %s; replaying the whole input log",
            self.owner,
            reason,
        )
        self._saved, self._packs, self._seen, self._dirty = None, {}, {}, {}
        return None

    # -- writing -------------------------------------------------------------------------
    async def save(self, state: Any) -> int:
        """Write a checkpoint of ``state``, which must include exactly the inputs up to
        :attr:`input_seq` (none before any input was logged: then nothing is written).
        Returns the number of rows written and removed."""
        at = self.input_at
        if at is None:  # nothing was ever logged: nothing to checkpoint
            return 0
        self._track(state)
        # the keys changed since the last checkpoint, by table (absent or None: every key),
        # and from now on those changed since this one
        dirty, self._dirty = self._dirty, {name: {} for name in self._seen}
        try:
            return await self._write(state, at, dirty)
        except BaseException:  # saved or not, unknown: the next one rewrites everything
            self._saved, self._packs, self._seen = None, {}, {}
            raise

    async def _write(
        self, state: Any, at: datetime, dirty: dict[str, dict[Any, None] | None]
    ) -> int:
        changed: list[CheckpointItem] = []
        removed: list[tuple[str, bytes]] = []
        previous = self._saved
        if previous is None:  # everything is written again: a table of globals afresh
            self._codec, self._packs = _Codec(), {}
        codec = self._codec
        saved: dict[str, dict[Any, tuple[bytes, Any]]] = {}
        packs: dict[str, _Packed] = {}
        by_key: dict[str, int] = {}
        for f in dataclasses.fields(state):
            name = f.name
            value = getattr(state, name)
            old = previous.get(name, {}) if previous is not None else {}
            keys = dirty.get(name) if previous is not None and name in self._packs else None
            if keys is not None and isinstance(value, PersistentMap):
                # only the keys changed since (D441); the saved tables updated in place
                raw_get = value.raw_get
                pack = packs[name] = self._packs[name]
                if name not in _PER_ENTRY:
                    rows, gone = pack.update(codec, name, ((k, raw_get(k, _GONE)) for k in keys))
                else:
                    for key in keys:
                        item = raw_get(key, _GONE)
                        was = old.get(key)
                        if item is not _GONE:
                            held, row = _entry(codec, name, key, item, was)
                            old[key] = held
                            if row is not None:
                                changed.append(row)
                        elif was is not None:
                            _settle(was[1])
                            removed.append((name, was[0]))
                            del old[key]
                    rows, gone = pack.update(
                        codec,
                        name,
                        ((k, old[k][1] if k in old else _GONE) for k in keys),
                        partial(_head, old, {}),
                    )
                    by_key[name] = len(old)
                changed.extend(rows)
                removed.extend(gone)
                saved[name] = old
                continue
            new: dict[Any, tuple[bytes, Any]] = {}
            items: Iterable[tuple[Any, Any]]
            if isinstance(value, PersistentMap):  # as stored: what is deferred stays so
                items = value.raw_items()
            else:
                items = value.items() if isinstance(value, Mapping) else [(_WHOLE, value)]
            if name not in _PER_ENTRY and isinstance(value, Mapping):
                # packed (D220); rows of one entry each (the previous format's) replaced
                for key_bytes, item in old.values():
                    _settle(item)
                    removed.append((name, key_bytes))
                pack = packs[name] = self._packs.get(name) or _Packed()
                rows, gone = pack.save(codec, name, items)
                changed.extend(rows)
                removed.extend(gone)
                saved[name] = new
                continue
            for key, item in items:
                was = old.get(key)
                if was is not None and was[1] is item:  # the same object: not changed
                    new[key] = was
                    continue
                new[key], row = _entry(codec, name, key, item, was)
                if row is not None:
                    changed.append(row)
            for key in old.keys() - new.keys():
                _settle(old[key][1])
                removed.append((name, old[key][0]))
            saved[name] = new
            if isinstance(value, Mapping):  # its index: each row's key and head (D221)
                index = packs[name] = self._packs.get(name) or _Packed()
                rows, gone = index.save(
                    codec, name, ((k, v[1]) for k, v in new.items()), partial(_head, new, {})
                )
                changed.extend(rows)
                removed.extend(gone)
                by_key[name] = len(new)
        header = {
            "format": FORMAT,
            "model": model_version(),
            "codec": codec_version(),
            "owner": self.owner,
            "state": _class_name(type(state)),
            "fields": [f.name for f in dataclasses.fields(state)],
            "globals": codec.names,
            # the classes a case's documents may name (D425): every one this process
            # registered, a superset of those in the blobs written now or before
            "compact": _compact_classes(),
            # tables whose rows a restore need not read (their index has each key and head,
            # D221), and how many rows each has besides the index
            "by_key": by_key,
        }
        await self.journal.save_checkpoint(
            header=header,
            input_seq=self.input_seq,
            at=at,
            changed=changed,
            removed=removed,
            replace_all=previous is None,
        )
        self._saved, self._packs = saved, packs
        self.pending = 0
        return len(changed) + len(removed)

    # -- the keys changed since the last checkpoint (D441) ---------------------------------
    def follow(self, current: Callable[[], Any]) -> None:
        """Look at the desk's state (``current()``) each time inputs are :meth:`logged`, to
        note the keys they changed: a checkpoint then costs those keys, not the state's size,
        and the versions between two checkpoints are not kept alive until the next one."""
        self._current = current

    def _track(self, state: Any) -> None:
        """Note the keys of each table of ``state`` changed since the state last looked at."""
        seen, dirty = self._seen, self._dirty
        for name in _field_names(type(state)):
            value = getattr(state, name)
            before = seen.get(name)
            if before is value:
                continue
            keys = (
                value.changed_since(before)
                if before is not None and isinstance(value, PersistentMap)
                else None
            )
            if keys is None:
                dirty[name] = None
            else:
                known = dirty.setdefault(name, {})
                if known is not None:
                    known.update(keys)
            seen[name] = value


def _entry(
    codec: _Codec, name: str, key: Any, item: Any, was: tuple[bytes, Any] | None
) -> tuple[tuple[bytes, Any], CheckpointItem | None]:
    """What the checkpoint of table ``name`` holds of ``key`` whose value is now ``item``
    (its key's bytes and the value saved), and the row to write (``None``: unchanged).
    ``was``: what it held before."""
    if was is not None:
        saved_item = was[1]
        if saved_item is item:
            return was, None
        if type(saved_item) is Deferred and saved_item.loaded and saved_item.value() is item:
            return (was[0], item), None  # made since the restore, not changed
        _settle(saved_item)  # its entry is about to change
    key_bytes = was[0] if was is not None else codec.key(key)
    held = (key_bytes, item)
    if type(item) is Deferred:  # all is written again (a checkpoint ignored)
        item = item.value()
    data = codec.entry(item)
    if _dormant(item):
        data = _DORMANT + _summary(item) + data
    return held, (name, key_bytes, data)
