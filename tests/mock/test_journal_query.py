"""XPath over received SEDs: namespace-aware, prefix- and version-insensitive."""

from __future__ import annotations

import pytest

from eessi.errors import ConfigError
from eessi.mock.journal_query import matches, select
from eessi.sed.examples import example_xml

S041_44 = example_xml("S041", "4.4", seed=1)
S072_43 = example_xml("S072", "4.3", seed=2)


def _reprefixed(payload: bytes, old: bytes, new: bytes) -> bytes:
    """The same document with another namespace prefix on its root."""
    return (
        payload.replace(b"<" + old + b":", b"<" + new + b":")
        .replace(b"</" + old + b":", b"</" + new + b":")
        .replace(b"xmlns:" + old, b"xmlns:" + new)
    )


@pytest.mark.parametrize("prefix", [b"sed", b"ns0", b"x", b"S041"])
def test_a_query_matches_whatever_prefix_the_sender_wrote(prefix: bytes) -> None:
    doc = _reprefixed(S041_44, b"sed", prefix)
    assert select(doc, "/sed:S041/Person/PersonIdentification/familyName") == select(
        S041_44, "/sed:S041/Person/PersonIdentification/familyName"
    )
    assert matches(doc, "/S041:S041/Reply")


def test_the_sed_prefix_is_bound_to_the_documents_own_version() -> None:
    assert matches(S072_43, "/sed:S072")
    assert matches(S072_43, "namespace-uri(/*) = 'http://ec.europa.eu/eessi/ns/4_3/S072'")
    assert not matches(S041_44, "/sed:S072")


def test_boolean_and_value_queries() -> None:
    reply = select(S041_44, "/sed:S041/Reply/inReplyS040/value")
    assert len(reply) == 1
    assert matches(S041_44, f"/sed:S041/Reply/inReplyS040/value = '{reply[0]}'")
    assert not matches(S041_44, "/sed:S041/Reply/inReplyS040/value = 'zz'")
    assert select(S041_44, "count(/sed:S041/Person)") == ["1.0"]
    assert not matches(S041_44, "count(/sed:S041/Nothing)")


def test_extra_namespaces_can_be_bound_by_the_caller() -> None:
    ns = {"old": "http://ec.europa.eu/eessi/ns/4_3/S072"}
    assert matches(S072_43, "/old:S072/Person", ns)


def test_a_payload_that_is_not_xml_matches_nothing() -> None:
    assert not matches(b"this is not xml", "/sed:S041")
    assert select(b"<broken", "/*") == []


def test_a_wrong_xpath_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        matches(S041_44, "/sed:S041[")
    assert info.value.code == "mock.bad-xpath"
    with pytest.raises(ConfigError, match="bind every prefix"):
        matches(S041_44, "/nope:S041")
