"""The Content-Type reader of eessi.as4.mime (a regular expression for RFC 2045's plain grammar,
D135) reads every value as the standard library's email parser does."""

from __future__ import annotations

from email.message import Message

import pytest

from eessi.as4.mime import _content_type, package, unpackage
from eessi.as4.model import Attachment


def _by_email(value: str) -> tuple[str, dict[str, str]]:
    msg = Message()
    msg["Content-Type"] = value
    params: dict[str, str] = {}
    for k, v in (msg.get_params() or [])[1:]:
        if isinstance(v, str):
            params.setdefault(k.lower(), v)
    return msg.get_content_type(), params


VALUES = [
    package(b"<e/>", [Attachment("sed-1@x", "application/gzip", b"z")]).content_type,
    "application/soap+xml; charset=UTF-8",
    "application/soap+xml",
    'Multipart/Related; Boundary="a b;c"; type="application/soap+xml"; start="<root@x>"',
    'multipart/related;boundary=----=_Part_0_1;type="application/soap+xml";start="<r@x>"',
    'multipart/related; boundary="q\\"uoted\\\\"; start="<r@x>";',
    "multipart/related; boundary=abc; start=<r@x>",  # unquoted <...>: the email parser's
    "multipart/related; boundary*=utf-8''abc",  # RFC 2231: the email parser's
    "multipart/related; boundary=abc (a comment)",
    "text",
    "multipart/related/extra; boundary=abc",
    "",
]


@pytest.mark.parametrize("value", VALUES)
def test_content_type_parameters_read_as_the_email_parser_reads_them(value: str) -> None:
    assert _content_type(value) == _by_email(value)


def test_a_package_with_a_quoted_boundary_holding_a_semicolon_unpacks() -> None:
    body = (
        b"--a;b\r\nContent-Type: application/soap+xml\r\nContent-ID: <r@x>\r\n\r\n"
        b"<e/>\r\n--a;b--\r\n"
    )
    parts = unpackage('multipart/related; boundary="a;b"; start="<r@x>"', body)
    assert parts.envelope == b"<e/>"
