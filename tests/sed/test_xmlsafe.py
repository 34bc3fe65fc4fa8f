from __future__ import annotations

from pathlib import Path

import pytest

from eessi.errors import HostileXmlError, XmlSyntaxError
from eessi.sed.xmlsafe import DEFAULT_MAX_BYTES, parse

DATA = Path(__file__).resolve().parent.parent / "data"
VALID = (DATA / "valid" / "S071-4.4-family-member.xml").read_bytes()


def test_valid_document_parses_to_its_root_element() -> None:
    root = parse(VALID)
    assert root.tag == "{http://ec.europa.eu/eessi/ns/4_4/S071}S071"


def test_billion_laughs_is_refused_as_hostile() -> None:
    data = (DATA / "invalid" / "billion-laughs.xml").read_bytes()
    with pytest.raises(HostileXmlError) as caught:
        parse(data)
    assert caught.value.code == "sed.hostile"
    assert "DOCTYPE" in caught.value.message


def test_xxe_with_system_entity_is_refused_and_the_file_never_read() -> None:
    data = (DATA / "invalid" / "xxe-system-file.xml").read_bytes()
    with pytest.raises(HostileXmlError) as caught:
        parse(data)
    assert caught.value.code == "sed.hostile"
    assert "root:" not in str(caught.value)


def test_doctype_in_utf16_is_refused_too() -> None:
    text = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    with pytest.raises(HostileXmlError):
        parse(text.encode("utf-16"))


def test_doctype_after_a_comment_in_the_prolog_is_refused() -> None:
    data = b'<?xml version="1.0"?>\n<!-- hello -->\n<?pi x?>\n<!DOCTYPE a SYSTEM "x.dtd"><a/>'
    with pytest.raises(HostileXmlError):
        parse(data)


def test_the_word_doctype_inside_a_comment_in_the_body_is_harmless() -> None:
    root = parse(b"<a><!-- <!DOCTYPE is only text here --><b/></a>")
    assert root[1].tag == "b"


def test_utf16_document_without_dtd_is_accepted() -> None:
    root = parse('<?xml version="1.0" encoding="UTF-16"?><a>\u00e9</a>'.encode("utf-16"))
    assert root.text == "\u00e9"


def test_oversized_document_is_refused_before_parsing() -> None:
    # Not even well-formed: proves the size check comes before the parser.
    data = b"<" * (DEFAULT_MAX_BYTES + 1)
    with pytest.raises(HostileXmlError) as caught:
        parse(data)
    assert caught.value.code == "sed.too-large"
    assert caught.value.details == {"size": DEFAULT_MAX_BYTES + 1, "max_bytes": DEFAULT_MAX_BYTES}


def test_size_limit_is_configurable() -> None:
    with pytest.raises(HostileXmlError):
        parse(VALID, max_bytes=100)
    assert parse(VALID, max_bytes=len(VALID)) is not None


def test_nesting_beyond_libxml2_limit_is_refused_as_too_deep() -> None:
    data = (DATA / "invalid" / "deeply-nested.xml").read_bytes()
    with pytest.raises(HostileXmlError) as caught:
        parse(data)
    assert caught.value.code == "sed.too-deep"


def test_stricter_depth_limit_is_checked_when_asked() -> None:
    nested = b"<a>" * 12 + b"</a>" * 12
    assert parse(nested, max_depth=12) is not None
    with pytest.raises(HostileXmlError) as caught:
        parse(nested, max_depth=11)
    assert caught.value.code == "sed.too-deep"
    assert parse(VALID, max_depth=20) is not None


@pytest.mark.parametrize("data", [b"", b"   \n", b"\n\n"])
def test_empty_input_says_empty(data: bytes) -> None:
    with pytest.raises(XmlSyntaxError) as caught:
        parse(data)
    assert caught.value.message == "document is empty"


def test_malformed_xml_reports_line_and_column() -> None:
    with pytest.raises(XmlSyntaxError) as caught:
        parse(b"<a>\n  <b>\n</a>", where="in.xml")
    error = caught.value
    assert error.code == "sed.not-xml"
    assert error.details == {"line": 3, "column": 5}
    assert "mismatch" in error.message
    assert error.where == "in.xml"
    assert ", line" not in error.message  # position is reported in details, not repeated


def test_entities_are_not_expanded_in_plain_documents() -> None:
    root = parse(b"<a>&amp;&#233;</a>")
    assert root.text == "&\u00e9"
