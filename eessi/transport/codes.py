"""The ebMS3-style error codes the simulation uses, with their HTTP status.

Codes and short descriptions follow ebMS3 Core section 6.7; the HTTP statuses are our choice
(ebMS answers over a SOAP fault; we use the status that tells a plain HTTP client the same
thing: 4xx means "do not resend this as is", 5xx means "try again later").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FAILED_AUTHENTICATION",
    "INVALID_HEADER",
    "OTHER",
    "PROCESSING_MODE_MISMATCH",
    "TOO_LARGE",
    "UNAVAILABLE",
    "VALUE_INCONSISTENT",
    "EbmsCode",
]


@dataclass(frozen=True, slots=True)
class EbmsCode:
    """An ebMS error code, its short description and the HTTP status we answer with."""

    code: str
    short_description: str
    http_status: int


#: Header values that contradict each other or the SED. The endpoint answers a wrong To party
#: with 404 and a PartInfo/SED mismatch with 400; a callback's refusal with this code is 422.
VALUE_INCONSISTENT = EbmsCode("EBMS:0003", "ValueInconsistent", 422)
#: Anything else; the callback's refusals default to it (e.g. a SED invalid against its schema).
OTHER = EbmsCode("EBMS:0004", "Other", 422)
#: The body is larger than this endpoint accepts.
TOO_LARGE = EbmsCode("EBMS:0004", "Other", 413)
#: The receiver could not journal the message; the sender should retry.
UNAVAILABLE = EbmsCode("EBMS:0004", "Other", 503)
#: The framing or the envelope is malformed or invalid against envelope.xsd.
INVALID_HEADER = EbmsCode("EBMS:0009", "InvalidHeader", 400)
#: The SED version is not one this institution accepts.
PROCESSING_MODE_MISMATCH = EbmsCode("EBMS:0010", "ProcessingModeMismatch", 422)
#: Unknown From party, or the MAC does not verify under its credential.
FAILED_AUTHENTICATION = EbmsCode("EBMS:0101", "FailedAuthentication", 403)
