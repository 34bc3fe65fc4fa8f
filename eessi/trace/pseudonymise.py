"""Pseudonymise a trace so it can be shared: names, PINs, dates of birth and addresses.

**Consistent.** Every replacement is a function of the original value and a key (HMAC-SHA256),
never of where the value stands, so the same person gets the same pseudonym in every document
of the trace *and* in the households of the header's configuration: the replayed institutions
then find the pseudonymised people where the recorded documents name them, and the trace still
replays. Names are replaced word by word (case, accents and hyphens aside, the same word gives
the same pseudonym), because the core splits a household's full name into forename and family
name (``eessi.core.mapping.split_name``) and a replay must rebuild the same split.

**Still valid.** Every replacement keeps the value's shape and length: a pseudonym has the
letters of the word it replaces, a PIN keeps its length and its digits/letters pattern, a
Luxembourg matricule (``YYYYMMDD`` + serial + Luhn + Verhoeff) keeps a date that is the
pseudonymised date of birth and gets correct check digits again, a number whose last two digits
are a mod-97 key (French NIR, Belgian national number) gets a correct key again, a date of birth
stays in its year and month (so ages at a decision date move by less than a month: documented
limit). Every document that was schema-valid is validated again after the change; a failure is
an error, never a silently broken trace.

**What changes.** In SEDs: family names and forenames (also at birth, father's and mother's),
dates of birth, PINs, streets and building names, the town of birth, and in free text
(``additionalInformation``, ``description``, ``details``, ``text``) any name word or PIN met
elsewhere. Towns, postal codes, regions and countries of addresses are kept: the simulated
institutions derive them from a person's country, and they say little on their own. In the
configuration's households: names, PINs, foreign numbers, dates of birth, household and member
IDs (and the references to them), descriptions; in the institutions' input logs the same
keys and the funds' record keys (``household/member``). Legacy envelopes get the new payload
digest and size. An AS4 envelope (the MIME package the journal keeps, D90) carries the SED
itself, compressed and often encrypted: each of its attachments is replaced by the
pseudonymised SED (gzip-compressed unless the part was plain XML), so no original value stays
in it, in clear, compressed or encrypted; its signature and encryption headers then no longer
match its parts (they are kept as a record of how the message was secured).

The key defaults to one derived from the trace's own content: the same trace pseudonymises the
same way, and no one without the original can recompute it. Pass ``key`` to share a mapping
across traces.
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from lxml import etree

from eessi.as4.mime import package, unpackage
from eessi.as4.wire import from_entity, is_entity, to_entity
from eessi.errors import EessiError, SedError
from eessi.mock.personal import pseudonymise_mock
from eessi.sed import xmlsafe
from eessi.sed.examples import lu_matricule
from eessi.trace.format import Trace, TraceError, TraceHeader, TraceMessage

__all__ = ["Pseudonymiser", "pseudonymise_trace"]

_NAME_ELEMENTS = frozenset(
    {
        "familyName",
        "forename",
        "familyNameAtBirth",
        "forenameAtBirth",
        "fatherFamilyNameAtBirth",
        "forenameFather",
        "motherFamilyNameAtBirth",
        "forenameMother",
    }
)
_STREET_ELEMENTS = frozenset({"street", "buildingName"})
_FREE_TEXT = frozenset({"additionalInformation", "description", "details", "text"})
_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ID_TOKEN = re.compile(r"[a-z]+")
#: How the node marks the addresses it makes up (``eessi.node.households``).
_SIM_MARK = "(sim)"


def _fold(word: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return bare.casefold()


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


class Pseudonymiser:
    """Keyed, consistent replacements (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        #: Folded name words met so far -> pseudonym (for free-text substitution).
        self.words: dict[str, str] = {}
        #: PINs met so far -> pseudonym.
        self.pins: dict[str, str] = {}
        self.ids: dict[str, str] = {}

    # -- primitives ------------------------------------------------------------------------
    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()

    def _stream(self, kind: str, value: str, n: int) -> list[int]:
        out: list[int] = []
        counter = 0
        while len(out) < n:
            out.extend(self._digest(f"{kind}#{counter}", value))
            counter += 1
        return out[:n]

    def word(self, word: str) -> str:
        """A pronounceable pseudonym with the same number of letters and the same case."""
        folded = _fold(word)
        if folded not in self.words:
            stream = self._stream("word", folded, len(folded))
            letters = [
                (_CONSONANTS if i % 2 == 0 else _VOWELS)[b % (16 if i % 2 == 0 else 5)]
                for i, b in enumerate(stream)
            ]
            self.words[folded] = "".join(letters)
        pseudo = self.words[folded]
        if word.isupper() and len(word) > 1:
            return pseudo.upper()
        if word[:1].isupper():
            return pseudo[:1].upper() + pseudo[1:]
        return pseudo

    def name(self, text: str) -> str:
        """Each word replaced (separators, digits and punctuation kept)."""
        return _WORD.sub(lambda m: self.word(m.group()), text)

    def birth_date(self, day: date) -> date:
        """Same year and month, another day of that month."""
        days = calendar.monthrange(day.year, day.month)[1]
        pick = int.from_bytes(self._digest("dob", day.isoformat())[:4], "big") % days
        return day.replace(day=1 + pick)

    def birth_date_text(self, text: str) -> str:
        try:
            return self.birth_date(date.fromisoformat(text.strip())).isoformat()
        except ValueError:
            return self.name(text)

    def _shape(self, kind: str, value: str) -> str:
        stream = self._stream(kind, value, len(value))
        out = []
        for ch, b in zip(value, stream, strict=True):
            if ch.isdigit():
                out.append(str(b % 10))
            elif ch.isalpha() and ch.isascii():
                letter = chr(ord("a") + b % 26)
                out.append(letter.upper() if ch.isupper() else letter)
            else:
                out.append(ch)
        return "".join(out)

    def pin(self, value: str) -> str:
        """A PIN of the same shape; a matricule or a mod-97 number stays checkable."""
        raw = value.strip()
        if raw in self.pins:
            return self.pins[raw]
        result = self._pin(raw)
        self.pins[raw] = result
        return result

    def _pin(self, raw: str) -> str:
        if len(raw) == 13 and raw.isdigit():
            try:
                born = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
            except ValueError:
                born = None
            if born is not None:
                serial = int(self._shape("serial", raw)[8:11])
                new = lu_matricule(self.birth_date(born), serial)
                if lu_matricule(born, int(raw[8:11])) == raw:
                    return new
                return new[:11] + self._shape("check", raw)[11:]
        if raw.isdigit() and len(raw) in (11, 15):
            base = raw[:-2]
            key = int(raw[-2:])
            for prefix in ("", "2"):
                if 97 - int(prefix + base) % 97 == key:
                    new_base = self._shape("mod97", base)
                    return f"{new_base}{97 - int(prefix + new_base) % 97:02d}"
        return self._shape("pin", raw)

    def street(self, text: str) -> str:
        """Every word replaced (house numbers and punctuation kept), except in a simulated
        address (``"(sim) address of <name>"``, made by the node from a person's name): there
        only the name words, so that a replay rebuilds the same pseudonymised address."""
        if _SIM_MARK in text:
            return self.free_text(text)
        return _WORD.sub(lambda m: self.word(m.group()), text)

    def free_text(self, text: str) -> str:
        """Known name words and PINs replaced; everything else kept."""
        for pin in sorted(self.pins, key=len, reverse=True):
            if pin in text:
                text = text.replace(pin, self.pins[pin])
        return _WORD.sub(
            lambda m: self.word(m.group()) if _fold(m.group()) in self.words else m.group(), text
        )

    def identifier(self, value: str) -> str:
        """A household or member ID: its letter runs replaced (digits and hyphens kept)."""
        if value not in self.ids:
            self.ids[value] = _ID_TOKEN.sub(lambda m: self.word(m.group()).lower(), value)
        return self.ids[value]

    # -- learning (first pass) -----------------------------------------------------------
    def learn_xml(self, payload: bytes) -> None:
        """Remember the name words and PINs of a document (for free-text substitution)."""
        try:
            root = xmlsafe.parse(payload)
        except SedError:
            return
        for el in root.iter():
            name = _local(el.tag)
            if el.text and el.text.strip():
                if name in _NAME_ELEMENTS:
                    for w in _WORD.findall(el.text):
                        self.word(w)
                elif name == "personalIdentificationNumber":
                    self.pin(el.text)

    def learn_config(self, value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                self.learn_config(v, k)
        elif isinstance(value, list):
            for v in value:
                self.learn_config(v, key)
        elif isinstance(value, str):
            if key == "name":
                for w in _WORD.findall(value):
                    self.word(w)
            elif key in ("pin", "foreign_number", "main_insured_pin"):
                self.pin(value)

    # -- documents -------------------------------------------------------------------------
    def xml(self, payload: bytes) -> bytes:
        """The document with its personal data replaced; the same bytes if it holds none (or
        is not XML)."""
        try:
            root = xmlsafe.parse(payload)
        except SedError:
            return payload
        changed = False
        for el in root.iter():
            text = el.text
            if not isinstance(el.tag, str) or text is None or not text.strip():
                continue
            name = _local(el.tag)
            parent = el.getparent()
            new = text
            if name in _NAME_ELEMENTS:
                new = self.name(text)
            elif name == "dateBirth":
                new = self.birth_date_text(text)
            elif name == "personalIdentificationNumber":
                new = self.pin(text)
            elif name in _STREET_ELEMENTS:
                new = self.street(text)
            elif name == "town" and parent is not None and _local(parent.tag) == "PlaceBirth":
                new = self.name(text)
            elif name in _FREE_TEXT:
                new = self.free_text(text)
            if new != text:
                el.text = new
                changed = True
        if not changed:
            return payload
        out = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
        tail = payload[len(payload.rstrip()) :]
        return out + tail

    def config(self, value: Any, key: str = "") -> Any:
        """The run configuration with the households' personal data replaced."""
        if isinstance(value, Mapping):
            return {k: self.config(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.config(v, key) for v in value]
        if not isinstance(value, str):
            return value
        if key == "name":
            return self.name(value)
        if key in ("pin", "foreign_number", "main_insured_pin"):
            return self.pin(value)
        if key == "person":  # a fund's record key: "household/member"
            return "/".join(self.identifier(part) for part in value.split("/"))
        if key in ("date_of_birth", "birth_date"):
            return self.birth_date_text(value)
        if key in ("id", "member", "maintained_by", "lives_with", "related_to"):
            return self.identifier(value)
        if key in ("description", "street"):
            return self.free_text(value) if key == "description" else self.street(value)
        return value


def _envelope(envelope: bytes, old: bytes, new: bytes) -> bytes:
    """The envelope with the new payload's digest and size (where it names them); an AS4
    envelope with the new payload as its attachments (:func:`_as4_envelope`)."""
    if not envelope or old == new:
        return envelope
    if is_entity(envelope):
        return _as4_envelope(envelope, new)
    out = envelope.replace(
        hashlib.sha256(old).hexdigest().encode(), hashlib.sha256(new).hexdigest().encode()
    )
    return out.replace(f"<Size>{len(old)}</Size>".encode(), f"<Size>{len(new)}</Size>".encode())


def _as4_envelope(entity: bytes, new: bytes) -> bytes:
    """The journaled AS4 package ``entity`` with every attachment replaced by ``new`` (the
    pseudonymised SED): as plain XML where the part was plain XML, else gzip-compressed (a
    compressed part, or an encrypted one, whose ciphertext holds the original SED). A package
    that cannot be read is dropped (empty): it may hold the original SED anywhere."""
    try:
        packaged = from_entity(entity)
        parts = unpackage(packaged.content_type, packaged.body)
    except EessiError:
        return b""
    attachments = [
        replace(a, data=new if _plain_xml(a.content_type) else gzip.compress(new, mtime=0))
        for a in parts.attachments
    ]
    return to_entity(package(parts.envelope, attachments))


def _plain_xml(content_type: str) -> bool:
    """Whether a part of this MIME type carries the SED as plain XML. Decided by the declared
    type, never by the bytes: an encrypted part's ciphertext starts with ``<`` once in about
    250 messages, and such a part must still get the compressed SED."""
    media = content_type.partition(";")[0].strip().lower()
    return media in ("application/xml", "text/xml") or media.endswith("+xml")


def default_key(trace: Trace) -> bytes:
    """A key derived from the trace's content (header and every payload)."""
    h = hashlib.sha256(b"eessi-trace pseudonymisation key\x00")
    h.update(repr(sorted(trace.header.config.items())).encode())
    for m in trace.messages:
        h.update(hashlib.sha256(m.record.payload).digest())
    return h.digest()


def _validated(payload: bytes) -> bool:
    from eessi.sed.validate import validate

    return validate(payload).ok


def pseudonymise_trace(trace: Trace, *, key: str | bytes | None = None) -> Trace:
    """The trace with names, PINs, dates of birth and addresses replaced consistently.

    Raises :class:`TraceError` if a document that was schema-valid is not valid any more.
    """
    raw_key = key.encode() if isinstance(key, str) else key
    p = Pseudonymiser(raw_key if raw_key is not None else default_key(trace))
    p.learn_config(trace.header.config)
    for entry in trace.inputs:
        p.learn_config(entry.data)
    for m in trace.messages:
        p.learn_xml(m.record.payload)
    config = p.config({k: v for k, v in trace.header.config.items() if k != "mocks"})
    mocks = trace.header.config.get("mocks")
    if isinstance(mocks, Mapping):  # the mock layer says what in its rules is personal
        config["mocks"] = {f: pseudonymise_mock(m, p) for f, m in mocks.items()}
    header = TraceHeader(
        directory=trace.header.directory,
        config=config,
        source={**trace.header.source, "pseudonymised": True},
        created=trace.header.created,
        format=trace.header.format,
        tool=trace.header.tool,
    )
    cache: dict[bytes, bytes] = {}
    messages: list[TraceMessage] = []
    for index, m in enumerate(trace.messages, start=1):
        r = m.record
        new = cache.get(r.payload)
        if new is None:
            new = p.xml(r.payload)
            if new != r.payload and _validated(r.payload) and not _validated(new):
                raise TraceError(
                    "a pseudonymised document is not schema-valid any more",
                    code="trace.pseudonymise",
                    where=f"message {index} ({r.sed_type} {r.message_id})",
                    hint="report this as a bug; the trace was not written",
                )
            cache[r.payload] = new
        envelope = _envelope(r.envelope, r.payload, new)
        messages.append(replace(m, record=replace(r, payload=new, envelope=envelope)))
    inputs = tuple(replace(i, data=p.config(i.data)) for i in trace.inputs)
    return Trace(header, tuple(messages), trace.path, inputs)
