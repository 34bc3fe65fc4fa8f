"""The ebMS 3.0 core error codes (section 6.7) and AS4's additions (AS4 profile, section 5.2).

Each :class:`EbmsError` carries the values an ``eb:Error`` element needs: ``errorCode``,
``shortDescription``, ``category`` and ``severity``. :func:`ebms_error_of` picks the code for a
structured error of :mod:`eessi.errors` (its ``details["ebms_code"]``, else by its class), so a
receiver answers every refusal with the right signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from eessi.errors import EessiError, EnvelopeError, HostileXmlError, XmlSyntaxError

__all__ = [
    "CODES",
    "DECOMPRESSION_FAILURE",
    "DELIVERY_FAILURE",
    "FAILED_AUTHENTICATION",
    "FAILED_DECRYPTION",
    "FEATURE_NOT_SUPPORTED",
    "INVALID_HEADER",
    "INVALID_RECEIPT",
    "MIME_INCONSISTENCY",
    "MISSING_RECEIPT",
    "OTHER",
    "POLICY_NONCOMPLIANCE",
    "PROCESSING_MODE_MISMATCH",
    "VALUE_INCONSISTENT",
    "VALUE_NOT_RECOGNIZED",
    "EbmsError",
    "ebms_error",
    "ebms_error_of",
]

Severity = Literal["failure", "warning"]


@dataclass(frozen=True, slots=True)
class EbmsError:
    """One row of the ebMS error table."""

    code: str
    short_description: str
    #: ``Content``, ``Communication``, ``Unpackaging`` or ``Processing``.
    category: str
    severity: Severity
    meaning: str


_TABLE: Final = (
    EbmsError("EBMS:0001", "ValueNotRecognized", "Content", "failure",
              "an element content or attribute value is not recognized"),
    EbmsError("EBMS:0002", "FeatureNotSupported", "Content", "warning",
              "an element or attribute names a feature the receiver does not support"),
    EbmsError("EBMS:0003", "ValueInconsistent", "Content", "failure",
              "an element content or attribute value is inconsistent with other values"),
    EbmsError("EBMS:0004", "Other", "Content", "failure", "any other error"),
    EbmsError("EBMS:0005", "ConnectionFailure", "Communication", "failure",
              "the MSH cannot reach the other MSH"),
    EbmsError("EBMS:0006", "EmptyMessagePartitionChannel", "Communication", "warning",
              "no message in the pulled partition channel"),
    EbmsError("EBMS:0007", "MimeInconsistency", "Unpackaging", "failure",
              "the MIME package does not follow the SOAP-with-attachments rules"),
    EbmsError("EBMS:0008", "FeatureNotSupported", "Unpackaging", "failure",
              "a header feature the receiver must understand is not supported"),
    EbmsError("EBMS:0009", "InvalidHeader", "Unpackaging", "failure",
              "the ebMS header is not well-formed or not valid against its schema"),
    EbmsError("EBMS:0010", "ProcessingModeMismatch", "Processing", "failure",
              "the message does not match the P-Mode it is processed under"),
    EbmsError("EBMS:0011", "ExternalPayloadError", "Content", "failure",
              "a payload outside the message could not be resolved"),
    EbmsError("EBMS:0101", "FailedAuthentication", "Processing", "failure",
              "the signature or the sender's credentials do not verify"),
    EbmsError("EBMS:0102", "FailedDecryption", "Processing", "failure",
              "the encrypted data cannot be decrypted"),
    EbmsError("EBMS:0103", "PolicyNoncompliance", "Processing", "failure",
              "the security applied is not what the P-Mode requires"),
    EbmsError("EBMS:0201", "DysfunctionalReliability", "Processing", "failure",
              "reliable messaging failed"),
    EbmsError("EBMS:0202", "DeliveryFailure", "Communication", "failure",
              "the message could not be delivered"),
    EbmsError("EBMS:0301", "MissingReceipt", "Communication", "failure",
              "no receipt came back in time (AS4)"),
    EbmsError("EBMS:0302", "InvalidReceipt", "Communication", "failure",
              "the receipt is not valid (AS4)"),
    EbmsError("EBMS:0303", "DecompressionFailure", "Communication", "failure",
              "an AS4-compressed payload does not decompress (AS4)"),
)  # fmt: skip

#: Every code, by ``EBMS:nnnn``.
CODES: Final = {e.code: e for e in _TABLE}

VALUE_NOT_RECOGNIZED: Final = CODES["EBMS:0001"]
FEATURE_NOT_SUPPORTED: Final = CODES["EBMS:0008"]
VALUE_INCONSISTENT: Final = CODES["EBMS:0003"]
OTHER: Final = CODES["EBMS:0004"]
MIME_INCONSISTENCY: Final = CODES["EBMS:0007"]
INVALID_HEADER: Final = CODES["EBMS:0009"]
PROCESSING_MODE_MISMATCH: Final = CODES["EBMS:0010"]
FAILED_AUTHENTICATION: Final = CODES["EBMS:0101"]
FAILED_DECRYPTION: Final = CODES["EBMS:0102"]
POLICY_NONCOMPLIANCE: Final = CODES["EBMS:0103"]
DELIVERY_FAILURE: Final = CODES["EBMS:0202"]
MISSING_RECEIPT: Final = CODES["EBMS:0301"]
INVALID_RECEIPT: Final = CODES["EBMS:0302"]
DECOMPRESSION_FAILURE: Final = CODES["EBMS:0303"]


def ebms_error(code: str) -> EbmsError:
    """The table row of ``code`` (``"EBMS:0009"``); :class:`KeyError` if there is none."""
    return CODES[code]


def ebms_error_of(exc: EessiError) -> EbmsError:
    """The ebMS error a receiver answers ``exc`` with.

    An error raised by this package names its code in ``details["ebms_code"]``; hostile or
    malformed XML is an invalid header (EBMS:0009); anything else is EBMS:0004 (Other).
    """
    code = exc.details.get("ebms_code")
    if isinstance(code, str) and code in CODES:
        return CODES[code]
    if isinstance(exc, XmlSyntaxError | HostileXmlError | EnvelopeError):
        return INVALID_HEADER
    return OTHER
