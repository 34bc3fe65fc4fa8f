from __future__ import annotations

import gzip
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from trace_builders import header, messages, r17_records

from eessi.as4.mapping import Addressing
from eessi.as4.mime import package, unpackage
from eessi.as4.pki import load_pki
from eessi.as4.pmode import default_pmodes_path, load_pmodes
from eessi.as4.startup import without_security
from eessi.as4.transport import As4Keys, build_message
from eessi.as4.wire import from_entity, is_entity, to_entity
from eessi.core.household_json import parse_household
from eessi.sed.examples import lu_matricule
from eessi.sed.validate import validate
from eessi.trace.diff import compare
from eessi.trace.fields import field_map
from eessi.trace.format import Trace, read_trace, write_trace
from eessi.trace.pseudonymise import Pseudonymiser, pseudonymise_trace

HOUSEHOLD = json.loads(
    (
        Path(__file__).resolve().parents[2] / "examples/households/resident-with-family-abroad.json"
    ).read_text(encoding="utf-8")
)


def _trace() -> Trace:
    return Trace(header(households=[HOUSEHOLD], seed=3), tuple(messages(r17_records())))


def _values(payload: bytes, suffix: str) -> list[str]:
    return [v for k, v in field_map(payload).items() if k.endswith(suffix)]


def test_names_pins_birth_dates_and_streets_change_and_documents_stay_valid() -> None:
    before = _trace()
    after = pseudonymise_trace(before)
    for old, new in zip(before.messages, after.messages, strict=True):
        assert validate(new.record.payload).ok
        for suffix in ("/familyName", "/forename", "/personalIdentificationNumber", "/street"):
            olds, news = _values(old.record.payload, suffix), _values(new.record.payload, suffix)
            assert len(olds) == len(news)
            assert not set(olds) & set(news), suffix
        for o, n in zip(
            _values(old.record.payload, "/dateBirth"),
            _values(new.record.payload, "/dateBirth"),
            strict=True,
        ):
            assert o[:7] == n[:7]  # same year and month: ages barely move


def test_the_same_person_gets_the_same_pseudonym_everywhere() -> None:
    before, after = _trace(), pseudonymise_trace(_trace())
    mapping: dict[str, set[str]] = {}
    for old, new in zip(before.messages, after.messages, strict=True):
        for suffix in ("/familyName", "/forename", "/dateBirth", "/personalIdentificationNumber"):
            pairs = zip(
                _values(old.record.payload, suffix),
                _values(new.record.payload, suffix),
                strict=True,
            )
            for o, n in pairs:
                mapping.setdefault(o, set()).add(n)
    assert mapping
    assert all(len(news) == 1 for news in mapping.values())
    assert any(len(news) == 1 and o == "Janssens" for o, news in mapping.items())
    p = Pseudonymiser(b"key")
    assert p.name("João Silva") == p.name("JOAO silva".title())
    assert p.name("Jean-Luc Weber") == p.word("Jean") + "-" + p.word("Luc") + " " + p.word("Weber")
    assert pseudonymise_trace(_trace()).messages == after.messages
    other_key = pseudonymise_trace(_trace(), key="another key")
    assert other_key.messages[0].record.payload != after.messages[0].record.payload


def test_matricule_keeps_its_shape_checks_and_the_pseudonymised_birth_date() -> None:
    p = Pseudonymiser(b"k")
    born = date(1962, 10, 27)
    original = lu_matricule(born, 353)
    new = p.pin(original)
    new_born = p.birth_date(born)
    assert new != original
    assert new == lu_matricule(new_born, int(new[8:11]))
    assert new.startswith(f"{new_born:%Y%m%d}")
    assert p.pin("A123456789")[0].isalpha()
    assert p.pin("A123456789")[1:].isdigit()


def test_households_in_the_config_are_pseudonymised_consistently_and_still_load() -> None:
    after = pseudonymise_trace(_trace())
    (household,) = after.header.config["households"]
    parse_household(household)  # still a valid household file
    p_names = {m["name"] for m in household["members"]} | {household["main_insured"][0]["name"]}
    assert not p_names & {"João Silva", "Ana Silva", "Rui Silva"}
    main = household["main_insured"][0]
    assert main["pin"] != "1978072712345"
    assert main["date_of_birth"][:7] == "1978-07"
    assert household["members"][1]["maintained_by"] == [main["id"]]
    assert main["id"] != "joao"
    assert after.header.config["seed"] == 3
    assert after.header.source["pseudonymised"] is True


def test_envelope_digest_follows_the_new_payload() -> None:
    import hashlib

    trace = _trace()
    first = trace.messages[0]
    digest = hashlib.sha256(first.record.payload).hexdigest()
    env = f"<Digest>{digest}</Digest><Size>{len(first.record.payload)}</Size>".encode()
    trace = replace(trace, messages=(replace(first, record=replace(first.record, envelope=env)),))
    new = pseudonymise_trace(trace).messages[0].record
    assert hashlib.sha256(new.payload).hexdigest().encode() in new.envelope
    assert f"<Size>{len(new.payload)}</Size>".encode() in new.envelope


def test_pseudonymised_trace_is_written_read_and_compares_like_the_original(
    tmp_path: Path,
) -> None:
    after = pseudonymise_trace(_trace())
    path = tmp_path / "p.jsonl"
    write_trace(path, after.header, after.messages)
    again = read_trace(path)
    assert again.messages == after.messages
    assert compare(again.messages, pseudonymise_trace(_trace()).messages).ok


def test_a_document_that_is_not_xml_is_left_alone() -> None:
    p = Pseudonymiser(b"k")
    assert p.xml(b"\x00 not xml") == b"\x00 not xml"
    assert p.birth_date_text("1980-02-29")[:7] == "1980-02"


def _as4(trace: Trace, *, secured: bool) -> Trace:
    """``trace`` with every envelope an AS4 package carrying its payload, as an AS4 journal
    keeps it (D90): signed and encrypted, or (``secured=False``) the SED only compressed."""
    pki = PKI if secured else None
    pmodes = load_pmodes(default_pmodes_path())
    if not secured:
        pmodes = without_security(pmodes)
    out = []
    for m in trace.messages:
        r = m.record
        keys = As4Keys.from_pki(pki, r.sender) if pki is not None else As4Keys()
        entity = build_message(
            pmodes,
            keys,
            Addressing(r.sender, r.receiver, r.conversation_id, "S_BUC_01", r.sed_type, "4.4"),
            r.payload,
            message_id=r.message_id,
            timestamp=r.created_at,
        )
        out.append(replace(m, record=replace(r, envelope=entity)))
    return replace(trace, messages=tuple(out))


PKI = load_pki(Path(__file__).resolve().parents[1] / "data/protocol/pki")


def test_AS4_envelopes_carry_the_pseudonymised_SED_and_no_original_value() -> None:
    for secured in (False, True):
        before = _as4(_trace(), secured=secured)
        after = pseudonymise_trace(before)
        for old, new in zip(before.messages, after.messages, strict=True):
            assert is_entity(new.record.envelope)
            packaged = from_entity(new.record.envelope)
            (part,) = unpackage(packaged.content_type, packaged.body).attachments
            assert gzip.decompress(part.data) == new.record.payload
            # the header (who, which case, which P-Mode) is kept as it was
            assert _messaging(new.record.envelope) == _messaging(old.record.envelope)
            for suffix in ("/familyName", "/personalIdentificationNumber"):
                for value in _values(old.record.payload, suffix):
                    assert value.encode() not in gzip.decompress(part.data)
        if not secured:  # the original's compressed SED is where the PIN was
            first = from_entity(before.messages[0].record.envelope)
            (part,) = unpackage(first.content_type, first.body).attachments
            assert gzip.decompress(part.data) == before.messages[0].record.payload


def test_an_encrypted_part_whose_ciphertext_starts_like_XML_still_gets_the_compressed_SED() -> None:
    # an encrypted part is random bytes: about one in 250 starts with "<" (the check used to
    # sniff the bytes, and stored such a part's pseudonymised SED uncompressed)
    secured = _as4(_trace(), secured=True)
    first = secured.messages[0]
    packaged = from_entity(first.record.envelope)
    parts = unpackage(packaged.content_type, packaged.body)
    (part,) = parts.attachments
    assert part.content_type == "application/octet-stream"
    looks_like_xml = replace(part, data=b"<" + part.data[1:])
    entity = to_entity(package(parts.envelope, [looks_like_xml]))
    trace = replace(
        secured, messages=(replace(first, record=replace(first.record, envelope=entity)),)
    )
    (new,) = pseudonymise_trace(trace).messages
    out = from_entity(new.record.envelope)
    (new_part,) = unpackage(out.content_type, out.body).attachments
    assert gzip.decompress(new_part.data) == new.record.payload


def _messaging(entity: bytes) -> bytes:
    packaged = from_entity(entity)
    envelope = unpackage(packaged.content_type, packaged.body).envelope
    start = envelope.index(b"<eb:Messaging")
    return envelope[start : envelope.index(b"</eb:Messaging>", start)]
