"""The codec's fast paths give exactly what the general ones gave.

The encoder writes the XML text directly (P3): it must be byte-identical to building the lxml
tree with ``encode_node`` and serializing it indented. The decoder builds decoded models without
their constructor when every field passed its checks: a value the model refuses must still be
refused, with the model's message and the element's path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from eessi.errors import SedError
from eessi.sed import codec
from eessi.sed.catalogue import SEDS, SUPPORTED_VERSIONS, Role, namespace
from eessi.sed.codec import SED_PREFIX, encode_node, encode_sed
from eessi.sed.documents import DOCUMENTS, S073, X009, Document, SedReference, from_xml
from eessi.sed.examples import example
from eessi.sed.header import SBDH_NS, BusinessScope, CaseAction, Header, Partner
from eessi.sed.header import DocumentIdentification as DocId
from eessi.sed.model import Node, xml_fields


def tree_bytes(node: object, root_ns: str, root_name: str, prefix: str, qualified: bool) -> bytes:
    """The reference serialization: lxml elements, ``etree.indent``, ``etree.tostring``."""
    root = etree.Element(f"{{{root_ns}}}{root_name}", nsmap={prefix: root_ns})
    version = getattr(node, "version", "")
    encode_node(root, node, version, root_ns if qualified else None, f"/{root_name}")  # type: ignore[arg-type]
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def sed_tree_bytes(doc: Document) -> bytes:
    return tree_bytes(doc, namespace(doc.code, doc.version), doc.code, SED_PREFIX, False)


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("code", sorted(SEDS))
def test_every_sed_is_written_exactly_as_lxml_would(code: str, version: str) -> None:
    for seed in range(4):
        doc = example(code, version, seed)
        assert encode_sed(doc) == sed_tree_bytes(doc)


def test_special_characters_are_escaped_exactly_as_lxml_would() -> None:
    doc = example("X009", "4.4", 0)
    assert isinstance(doc, X009)
    tricky = "a & b < c > d ]]> \"q\" 's' \r\n\ttab é 😀"
    doc = dataclasses.replace(doc, additional_information=tricky)
    data = encode_sed(doc)
    assert data == sed_tree_bytes(doc)
    assert from_xml(data) == doc


def test_the_header_is_written_exactly_as_lxml_would() -> None:
    header = Header(
        sender=Partner(identifier="FR:CPAM5700", role=Role.CASE_OWNER),
        receiver=Partner(identifier="LU:CNS00001", role=Role.COUNTERPARTY),
        document=DocId(
            type="S071",
            type_version="4.4",
            instance_id="0b6f4c2e-3c1d-4a9e-9f59-2f6c1f7d9a10",
            created=dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC),
            case_action=CaseAction.CREATE,
        ),
        scope=BusinessScope(case_id="FR-2026-1", buc_name="S_BUC_24", buc_version="v4.2"),
    )
    data = header.to_xml()
    assert data == tree_bytes(header, SBDH_NS, "StandardBusinessDocumentHeader", "sbdh", True)
    assert Header.from_xml(data) == header


def test_a_decoded_value_the_model_refuses_is_refused_with_its_path() -> None:
    doc = example("S073", "4.4", 1)
    assert isinstance(doc, S073)
    uuid = "0b6f4c2e-3c1d-4a9e-9f59-2f6c1f7d9a10"
    doc = dataclasses.replace(doc, reference=SedReference(sed_type="S072", sed_id=uuid))
    bad = doc.to_xml().replace(uuid.encode(), b"not-a-uuid")
    with pytest.raises(SedError) as info:
        from_xml(bad)
    assert info.value.code == "sed.bad-value"
    assert "not-a-uuid" in info.value.message
    assert info.value.where is not None
    assert info.value.where.startswith("/S073/")


@pytest.mark.parametrize(
    "inside", [b"<Institution>", b"<PeriodEntitlement>", b"<Person>", b"<PersonIdentification>"]
)
def test_an_element_no_field_maps_is_refused_wherever_it_is(inside: bytes) -> None:
    data = example("S072", "4.4", 2).to_xml()
    assert inside in data
    bad = data.replace(inside, inside + b"<Stray>x</Stray>", 1)
    with pytest.raises(SedError) as info:
        from_xml(bad)
    assert info.value.code == "sed.unexpected-element"
    assert "Stray" in info.value.message or "Stray" in (info.value.where or "")


def general_decode(data: bytes) -> Document:
    """The general decoder alone (the one that names problems), without the one-pass one."""
    root = codec.parse(data)
    code, version = codec.sed_identity(root)
    reader = codec._Reader(version)
    doc = codec._decode(root, DOCUMENTS[code], reader, None, f"/{code}", {"version": version})
    if len(reader.seen) != reader.listed:
        codec._check_all_seen(root, reader.seen, f"/{code}")
    return doc


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
@pytest.mark.parametrize("code", sorted(SEDS))
def test_the_one_pass_decoder_builds_what_the_general_one_builds(code: str, version: str) -> None:
    for seed in range(6):
        data = example(code, version, seed).to_xml()
        root = codec.parse(data)
        fast = codec._fast_decode(root, DOCUMENTS[code], None, version, {"version": version})
        assert fast == general_decode(data) == from_xml(data)
        assert fast.to_xml() == data


@pytest.mark.parametrize(
    ("change", "code"),
    [
        # a single element twice
        ((b"<forename>", b"<forename>Twice</forename><forename>"), "sed.unexpected-element"),
        # a wrapper twice
        (
            (b"</PeriodEntitlement>", b"</PeriodEntitlement><PeriodEntitlement/>"),
            "sed.unexpected-element",
        ),
        # a leaf holding an element
        ((b"<forename>", b"<forename><b>x</b>"), "sed.unexpected-element"),
        # a code the list does not have
        ((b"<value>06</value>", b"<value>66</value>"), "sed.bad-value"),
        # a date that is no date
        ((b"<dateBirth>", b"<dateBirth>31."), "sed.bad-value"),
    ],
)
def test_an_irregular_document_is_refused_as_the_general_decoder_says(
    change: tuple[bytes, bytes], code: str
) -> None:
    _assert_refused_as_the_general_decoder_says(_changed_s072(change), code)


def _changed_s072(change: tuple[bytes, bytes]) -> bytes:
    """An example S072 (4.4) with the first ``change[0]`` replaced by ``change[1]``."""
    data = example("S072", "4.4", 2).to_xml()
    assert change[0] in data
    return data.replace(*change, 1)


def _assert_refused_as_the_general_decoder_says(bad: bytes, code: str) -> None:
    with pytest.raises(SedError) as info:
        from_xml(bad)
    with pytest.raises(SedError) as general:
        general_decode(bad)
    assert info.value.code == general.value.code == code
    assert info.value.message == general.value.message
    assert info.value.where == general.value.where


def test_a_signature_at_the_end_is_skipped() -> None:
    data = example("S073", "4.4", 0).to_xml()
    signed = data.replace(
        b"</sed:S073>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo/>'
        b"</ds:Signature></sed:S073>",
    )
    assert from_xml(signed) == from_xml(data)


def _specs() -> list[tuple[str, codec.XmlField]]:
    """Every field spec of the SED and header model classes (nested ones included)."""
    seen: set[type] = set()
    found: list[tuple[str, codec.XmlField]] = []
    todo: list[type] = [*DOCUMENTS.values(), Header]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        for name, spec in xml_fields(cls):
            found.append((f"{cls.__name__}.{name}", spec))
            if isinstance(spec.kind, type) and issubclass(spec.kind, Node):
                todo.append(spec.kind)
            todo.extend(c for _, c in spec.choice)
    return found


def _probes(spec: codec.XmlField) -> list[object]:
    if spec.kind == "int":
        low = spec.min_value or 0
        return [low - 1, low, low + 1, 10**6]
    if spec.kind == "datetime":
        return [dt.datetime(2026, 3, 2, 9, 0), dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)]
    texts = ["", "A", "AB", "x" * 40, "0b6e4b44-5a4b-4c1e-9a43-2d7b9d2a1f00", "S072", "01", "99"]
    for n in (spec.min_len - 1, spec.min_len, spec.max_len, (spec.max_len or 0) + 1):
        if n is not None and n >= 0:
            texts.append("y" * n)
    texts += sorted(spec.codes or ())
    return texts


def test_the_one_pass_decoders_inline_checks_are_as_strict_as_the_checks() -> None:
    """D402: the generated decoder checks each value with an expression written inline; it
    refuses exactly the values the general check (``_check_for``) refuses."""
    compared = 0
    for where, spec in _specs():
        check = codec._check_for(spec)
        env: dict[str, object] = {}
        failed = codec._failed_check_source(spec, "v", env, "0")
        if check is None:
            assert failed is None, where
            continue
        if failed is None:  # nothing to check: the check passes everything
            assert all(check(v) for v in _probes(spec)), where
            continue
        test = eval(f"lambda v: {failed}", env)
        for value in _probes(spec):
            assert test(value) is (not check(value)), (where, value)
            compared += 1
    assert compared > 500


@pytest.mark.parametrize(
    ("change", "code"),
    [
        # a text longer than its field allows
        ((b"<forename>", b"<forename>" + b"n" * 300), "sed.bad-value"),
        # a code the list does not have (a checked text, not an enum)
        ((b"<value>DE</value>", b"<value>D1</value>"), "sed.bad-value"),
    ],
)
def test_a_value_the_checks_refuse_is_refused_as_the_general_decoder_says(
    change: tuple[bytes, bytes], code: str
) -> None:
    bad = _changed_s072(change)
    root = codec.parse(bad)
    with pytest.raises(codec._Irregular):
        codec._fast_decode(root, DOCUMENTS["S072"], None, "4.4", {"version": "4.4"})
    _assert_refused_as_the_general_decoder_says(bad, code)
