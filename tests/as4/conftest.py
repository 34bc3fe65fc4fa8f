"""The official AS4 schemas (``../shared/as4-schemas`` or ``EESSI_AS4_SCHEMAS``), offline.

They stay out of the project: tests that need them skip with the reason when they are absent.
Their ``schemaLocation``s are public URLs; a resolver maps each to the local file, and the
parser never touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

_URLS = {
    "http://schemas.xmlsoap.org/soap/envelope/": "soap-envelope-1.1.xsd",
    "http://www.w3.org/2003/05/soap-envelope": "soap-envelope-1.2.xsd",
    "http://www.w3.org/2001/03/xml.xsd": "xml.xsd",
    "http://www.w3.org/2001/xml.xsd": "xml.xsd",
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd": (
        "oasis-200401-wss-wssecurity-utility-1.0.xsd"
    ),
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd": (
        "oasis-200401-wss-wssecurity-secext-1.0.xsd"
    ),
    "http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd": "xmldsig-core-schema.xsd",
    "http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd": (
        "xmldsig-core-schema.xsd"
    ),
    "urn:eessi-sim:test:ebms": "ebms-header-3_0-200704.xsd",
    "urn:eessi-sim:test:xenc": "xenc-schema.xsd",
}

_WRAPPER = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="urn:eessi-sim:test:as4-wrapper">
  <xs:import namespace="http://www.w3.org/2003/05/soap-envelope"
      schemaLocation="http://www.w3.org/2003/05/soap-envelope"/>
  <xs:import namespace="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"
      schemaLocation="urn:eessi-sim:test:ebms"/>
  <xs:import namespace="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
      schemaLocation="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"/>
  <xs:import namespace="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
      schemaLocation="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"/>
  <xs:import namespace="http://www.w3.org/2000/09/xmldsig#"
      schemaLocation="http://www.w3.org/TR/xmldsig-core/xmldsig-core-schema.xsd"/>
  <xs:import namespace="http://www.w3.org/2001/04/xmlenc#"
      schemaLocation="urn:eessi-sim:test:xenc"/>
  <xs:import namespace="http://www.w3.org/2009/xmlenc11#" schemaLocation="xenc11-mgf.xsd"/>
</xs:schema>"""

# XML Encryption 1.1's schema is not among the shared ones; RSA-OAEP with MGF1-SHA-256 needs
# its xenc11:MGF element (XML Encryption 1.1, 5.5.2: an element with a required Algorithm URI),
# declared here as that section has it, and nothing else of the namespace.
_XENC11_MGF = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
    targetNamespace="http://www.w3.org/2009/xmlenc11#" elementFormDefault="qualified">
  <xs:element name="MGF">
    <xs:complexType>
      <xs:attribute name="Algorithm" type="xs:anyURI" use="required"/>
    </xs:complexType>
  </xs:element>
</xs:schema>"""


def schemas_dir() -> Path | None:
    env = os.environ.get("EESSI_AS4_SCHEMAS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidate = Path(__file__).resolve().parents[2].parent / "shared" / "as4-schemas"
    return candidate if candidate.is_dir() else None


_cache: dict[Path, etree.XMLSchema] = {}


def load_schema(root: Path, workdir: Path) -> etree.XMLSchema:
    """Compile the official schemas from copies whose public locations name the local files."""
    if root not in _cache:
        for name in set(_URLS.values()):
            text = (root / name).read_text("utf-8")
            for url, local in sorted(_URLS.items(), key=lambda kv: -len(kv[0])):
                text = text.replace(f'schemaLocation="{url}"', f'schemaLocation="{local}"')
                text = text.replace(f"schemaLocation='{url}'", f"schemaLocation='{local}'")
            (workdir / name).write_text(text, "utf-8")
        wrapper = _WRAPPER.decode()
        for url, local in sorted(_URLS.items(), key=lambda kv: -len(kv[0])):
            wrapper = wrapper.replace(f'schemaLocation="{url}"', f'schemaLocation="{local}"')
        (workdir / "wrapper.xsd").write_text(wrapper, "utf-8")
        (workdir / "xenc11-mgf.xsd").write_bytes(_XENC11_MGF)
        parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=True)
        _cache[root] = etree.XMLSchema(etree.parse(str(workdir / "wrapper.xsd"), parser))
    return _cache[root]


@pytest.fixture(scope="session")
def as4_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[bytes | etree._Element], None]:
    """A checker: raises with libxml2's messages if the envelope is not schema-valid."""
    root = schemas_dir()
    if root is None:
        pytest.skip(
            "official AS4 schemas not found: put them in ../shared/as4-schemas "
            "or set EESSI_AS4_SCHEMAS=DIR"
        )
    schema = load_schema(root, tmp_path_factory.mktemp("as4-schemas"))

    def check(envelope: bytes | etree._Element) -> None:
        doc = etree.fromstring(envelope) if isinstance(envelope, bytes) else envelope
        if not schema.validate(doc):
            raise AssertionError("\n".join(str(e) for e in schema.error_log))

    return check
