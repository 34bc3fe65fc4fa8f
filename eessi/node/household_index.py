"""A households directory read once, then kept as an index: starting a CNS with 100,000
households without parsing 100,000 files each time (D150).

The CNS's registry needs, to start, only which households exist: each one's key and main
insured PINs (how an S071 names a family). The whole household is needed when an input is
about it. So :func:`household_source` lists the directory (names, sizes and modification
times), and for the files it knows unchanged since the last start it takes their key and PINs
from an index file kept beside them (``.eessi-households-index``, ``marshal``'s form behind
a header line, D211); the others (new or changed files) are parsed and checked as always,
so a bad file is still refused at start-up with its path. The registry
(:meth:`HouseholdSource.registry`) is then :meth:`~eessi.core.registry.CnsRegistry.indexed`:
a household file is read and parsed when it is first looked up.

The index is written (atomically: a temporary file renamed) when the directory has at least
:data:`INDEX_FROM` files and changed since the index was written; a directory the node cannot
write to is read in full each time, as before.

**A directory unchanged since it was checked is not listed again** (D188): a start that
listed the directory, found it as the index says and saw its modification time unchanged
during the listing (and older than :data:`RACY_NS`, so that a later change cannot share its
timestamp) writes a stamp beside the index (``.eessi-households-stamp``: the directory's
modification time and inode, the index's time and size). The next start that finds the stamp
still true takes the files from the index without a ``stat`` per file: adding, removing or
renaming a file (an editor's save, ``mv``) changes the directory's time, and the index's own
rewrite changes the stamp. What it cannot see is a file rewritten in place (``cp`` over it,
``>``): a household is read from its file when first looked up, so its content is never used
stale; its file is then checked against the index (one ``stat``), and a change clears the
stamp (the next start lists and notes the households again) and is logged; a changed key or
main insured PIN is refused as a change while the node runs is.

The index names the version of the household format's code that wrote it
(:func:`format_version`): other code ignores it and parses everything again. ``digest``
fingerprints the listing, so that the start note (:func:`eessi.trace.runlog.note_run`) journals
the households again only when they changed.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import marshal
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from eessi.core.household import Household
from eessi.core.registry import CnsRegistry
from eessi.errors import ConfigError
from eessi.node.households import no_households_at, read_household_file

__all__ = [
    "INDEX_FILE",
    "INDEX_FROM",
    "RACY_NS",
    "STAMP_FILE",
    "HouseholdSource",
    "Listing",
    "format_version",
    "household_source",
    "list_in_background",
]

log = logging.getLogger("eessi.node")

#: The index file's name in the households directory (not ``*.json``: never read as a household).
INDEX_FILE: Final = ".eessi-households-index"
#: Directories with fewer files are parsed in full at each start (a fraction of a second).
INDEX_FROM: Final = 1000
_FORMAT: Final = "eessi-households-index/2"
#: The index file's first line: its form (marshal's version: another Python's is not read).
_HEADER: Final = f"eessi-households-index marshal {marshal.version}\n".encode("ascii")
#: The stamp of a directory checked as indexed (D188), beside the index.
STAMP_FILE: Final = ".eessi-households-stamp"
#: A directory changed less than this long ago (ns) is not stamped: a change right after the
#: stamp could carry the same timestamp (file systems keep coarse times).
RACY_NS: Final = 2_000_000_000


@dataclass(frozen=True)
class Listing:
    """What a start found of the directory: its files' sizes and times (``files``), or, when
    its stamp held (D188), nothing listed (``files`` is ``None``, ``trusted``)."""

    files: dict[str, tuple[int, int]] | None
    trusted: bool = False
    #: The directory's modification time, when it did not change during the listing.
    settled: int | None = None


@cache
def format_version() -> str:
    """A fingerprint of the code that reads household files into keys and PINs."""
    core = Path(__file__).resolve().parents[1] / "core"
    digest = hashlib.sha256(_FORMAT.encode())
    for name in ("household.py", "household_json.py", "registry.py"):
        digest.update((core / name).read_bytes())
    return digest.hexdigest()[:32]


@dataclass
class HouseholdSource:
    """The households of one directory (or file): listed, indexed, parsed on demand."""

    path: Path
    #: File name -> (size, modification time in ns, key, main insured PINs), sorted by name.
    files: dict[str, tuple[int, int, str, list[str]]]
    #: Fingerprint of the listing (names, sizes, times) and of the format's code.
    digest: str
    #: Households parsed so far, by file name.
    parsed: dict[str, Household] = field(default_factory=dict)
    #: The files were taken from the index without a ``stat`` (D188): each is checked when
    #: first read.
    trusted: bool = False

    def __len__(self) -> int:
        return len(self.files)

    def _file(self, name: str) -> Path:
        return self.path / name if self.path.is_dir() else self.path

    def household(self, name: str) -> Household:
        """The household of file ``name`` (parsed on first use)."""
        household = self.parsed.get(name)
        if household is None:
            if self.trusted:
                self._check(name)
            household = self.parsed[name] = read_household_file(self._file(name))
        return household

    def _check(self, name: str) -> None:
        """A file taken from the index unlisted (D188), read now: if it was rewritten in
        place since the index, the stamp goes (the next start lists the directory)."""
        path = self._file(name)
        with suppress(OSError):  # a file gone: reading it says so
            st = path.stat()
            size, mtime = self.files[name][:2]
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                log.warning(
                    "household file %s changed in place since the households index; the next"
                    " start reads the directory again",
                    path,
                )
                _clear_stamp(self.path)

    def households(self) -> list[Household]:
        """Every household, sorted by file name (parses those not parsed yet)."""
        return [self.household(name) for name in self.files]

    def __iter__(self) -> Iterator[Household]:
        return iter(self.households())

    def registry(self) -> CnsRegistry:
        """The CNS's registry of these households, each parsed when first looked up."""
        from eessi.node.households import registry_entry

        by_key = {info[2]: name for name, info in self.files.items()}

        def load(key: str) -> Any:
            name = by_key[key]
            household = self.household(name)
            entry = registry_entry(household)
            pins = [m.pin for m in household.main_insured]
            if entry.key != key or pins != self.files[name][3]:
                # the file changed since the start (or, D188, since the index): its key or
                # main insured PINs with it
                _clear_stamp(self.path)
                raise ConfigError(
                    f"household file {by_key[key]} changed since the node listed it (its key"
                    f" was {key!r}, it is now {entry.key!r}; main insured PINs"
                    f" {' '.join(self.files[name][3])} then, {' '.join(pins)} now)",
                    code="config.households",
                    where=str(self._file(by_key[key])),
                    hint="restart the node after changing household files",
                )
            return entry

        with _no_collection():
            return CnsRegistry.indexed(((info[2], info[3]) for info in self.files.values()), load)


@contextmanager
def _no_collection() -> Iterator[None]:
    """No garbage collection passes while a block makes 100,000s of objects that are not
    garbage (the index's entries, the registry's): each pass would scan the whole heap (D211:
    about 0.1 s of a start at 100,000 households)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _listing(path: Path) -> dict[str, tuple[int, int]]:
    """``name -> (size, mtime_ns)`` of the directory's ``*.json`` files (in no order)."""
    out = {}
    with os.scandir(path) as entries:
        for e in entries:
            if e.name.endswith(".json") and e.is_file():
                st = e.stat()
                out[e.name] = (st.st_size, st.st_mtime_ns)
    return out


def _stamp(path: Path) -> str:
    """What the stamp says of a directory (D188): its modification time and inode, and the
    index's modification time and size (raises ``OSError`` without an index)."""
    here, index = path.stat(), (path / INDEX_FILE).stat()
    return f"{here.st_mtime_ns} {here.st_ino} {index.st_mtime_ns} {index.st_size}"


def _stamp_holds(path: Path) -> bool:
    try:
        written = (path / STAMP_FILE).read_text(encoding="ascii")
        return bool(written) and written == _stamp(path)
    except (OSError, ValueError):
        return False


def _clear_stamp(path: Path) -> None:
    """The stamp emptied in place (the directory's time unchanged): the next start lists."""
    if path.is_dir():
        with suppress(OSError), open(path / STAMP_FILE, "r+b") as f:
            f.truncate(0)


def scan(path: Path) -> Listing:
    """The directory's listing, or, if its stamp holds, none (D188). The stamp file is made
    (empty) before the directory's time is read, so that making it does not change that."""
    stamp = path / STAMP_FILE
    if (path / INDEX_FILE).exists():
        if _stamp_holds(path):
            return Listing(None, trusted=True)
        if not stamp.exists():
            with suppress(OSError):
                stamp.touch()
    before = path.stat().st_mtime_ns
    files = _listing(path)
    after = path.stat().st_mtime_ns
    settled = before if before == after and time.time_ns() - after > RACY_NS else None
    return Listing(files, settled=settled)


def _write_stamp(path: Path, settled: int) -> None:
    """Stamp the directory (D188), written in place: its time stays ``settled`` unless
    something changed it since the listing (then nothing is written)."""
    try:
        text = _stamp(path)
        if not text.startswith(f"{settled} "):
            return
        with open(path / STAMP_FILE, "r+b") as f:
            f.truncate(0)
            f.write(text.encode("ascii"))
    except OSError as exc:
        log.info("households stamp not written in %s: %s", path, exc.strerror)


def _read_index(path: Path) -> dict[str, tuple[int, int, str, list[str]]]:
    """The index file's entries (empty if there is none, or another version wrote it). It
    holds one array per field (names, sizes, times, keys, main insured PINs) in ``marshal``'s
    form (D211): about five times quicker to read than the same in JSON. A file written in
    another form (an older node's JSON) or damaged reads as none: the directory is parsed and
    the index written again."""
    return _read_index_and_digest(path)[0]


def _read_index_and_digest(
    path: Path,
) -> tuple[dict[str, tuple[int, int, str, list[str]]], str | None]:
    """The index's entries and the digest of the listing they are (:func:`_digest`), stored
    with them when written (``None`` with no entries)."""
    try:
        raw = (path / INDEX_FILE).read_bytes()
        if not raw.startswith(_HEADER):
            return {}, None
        with _no_collection():
            data = marshal.loads(memoryview(raw)[len(_HEADER) :])
            if not isinstance(data, tuple) or len(data) != 7 or data[0] != format_version():
                return {}, None
            _, digest, names, sizes, times, keys, pins = data
            files = {
                name: (size, mtime, key, pin)
                for name, size, mtime, key, pin in zip(names, sizes, times, keys, pins, strict=True)
            }
        return files, digest if isinstance(digest, str) else None
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return {}, None


def _write_index(path: Path, files: dict[str, tuple[int, int, str, list[str]]]) -> None:
    infos = list(files.values())
    data = (
        format_version(),
        _digest(files),
        list(files),
        [i[0] for i in infos],
        [i[1] for i in infos],
        [i[2] for i in infos],
        [list(i[3]) for i in infos],
    )
    tmp = path / f"{INDEX_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_bytes(_HEADER + marshal.dumps(data))
        # the stamp's file made now, with the index: its making does not unsettle the next
        # start's listing (D188); emptied, since this index is new
        with open(path / STAMP_FILE, "wb"):
            pass
        os.replace(tmp, path / INDEX_FILE)
    except OSError as exc:  # a read-only directory: parsed in full at each start
        tmp.unlink(missing_ok=True)
        log.info("households index not written in %s: %s", path, exc.strerror)


def list_in_background(where: str | Path) -> Callable[[], Listing | None]:
    """Start listing directory ``where`` (one ``stat`` per file, none if its stamp holds:
    :func:`scan`) on a thread, so that it
    overlaps what the process does meanwhile (its imports, the directory); returns a
    function giving the listing for :func:`household_source` (``None`` if ``where`` is not
    a directory, or the listing failed: then it lists again and reports why)."""
    path = Path(where)
    result: list[Listing | None] = [None]

    def run() -> None:
        with suppress(OSError):
            result[0] = scan(path)

    thread = threading.Thread(target=run, name="households-listing", daemon=True)
    thread.start()

    def listing() -> Listing | None:
        thread.join()
        return result[0]

    return listing


def household_source(
    where: str | Path,
    *,
    listing: Listing | None = None,
    index_from: int = INDEX_FROM,
) -> HouseholdSource:
    """The households of directory (or file) ``where``; see the module docstring.
    ``listing``: the directory's, if already made (:func:`list_in_background`);
    ``index_from``: the number of files from which the index is kept."""
    path = Path(where)
    if listing is not None and path.is_dir():
        pass
    elif path.is_file():
        st = path.stat()
        listing = Listing({path.name: (st.st_size, st.st_mtime_ns)})
    elif path.is_dir():
        listing = scan(path)
    else:
        raise no_households_at(path)
    if listing.files is None:  # the stamp held (D188): the index lists the files
        indexed, digest = _read_index_and_digest(path)
        if len(indexed) >= index_from:
            # the files are the index's: the digest of that listing is the one stored with it
            digest = digest or _digest(indexed)
            return HouseholdSource(path, indexed, digest, {}, trusted=True)
        listing = Listing(_listing(path))
    found = listing.files
    assert found is not None
    indexed, stored = _read_index_and_digest(path) if len(found) >= index_from else ({}, None)
    files: dict[str, tuple[int, int, str, list[str]]] = {}
    parsed: dict[str, Household] = {}
    # the index's order (by name) when it lists the same files, else the listing sorted
    for name in indexed if indexed.keys() == found.keys() else sorted(found):
        stat = found[name]
        known = indexed.get(name)
        if known is not None and known[0] == stat[0] and known[1] == stat[1]:
            files[name] = known
            continue
        household = parsed[name] = read_household_file(path / name if path.is_dir() else path)
        key = household.id or household.main_insured[0].pin
        files[name] = (stat[0], stat[1], key, [m.pin for m in household.main_insured])
    if len(found) >= index_from:
        if parsed or len(indexed) != len(files):
            _write_index(path, files)  # the stamp, if any, no longer holds (the index's time)
        elif listing.settled is not None:  # as indexed, and settled: the next start trusts it
            _write_stamp(path, listing.settled)
    if stored is None or parsed or len(indexed) != len(files):
        stored = _digest(files)  # else the files are the index's: its digest is theirs
    return HouseholdSource(path, files, stored, parsed)


def _digest(files: dict[str, tuple[int, int, str, list[str]]]) -> str:
    """A fingerprint of the listing (names, sizes, times, in name order) and the code."""
    text = "\0".join(f"{name}\0{info[0]}\0{info[1]}" for name, info in files.items())
    return hashlib.sha256(f"{format_version()}\0{text}".encode()).hexdigest()[:32]
