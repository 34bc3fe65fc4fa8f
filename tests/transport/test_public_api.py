"""The names the node and tests import from ``eessi.transport`` stay available."""

from __future__ import annotations

import eessi.transport


def test_the_public_api_is_what_the_package_exports() -> None:
    assert sorted(eessi.transport.__all__) == sorted(
        [
            "NAMESPACE",
            "SIGNATURE_HEADER",
            "CredentialLookup",
            "Disposition",
            "EbmsCode",
            "ErrorSignal",
            "Failure",
            "HttpTransport",
            "Inbound",
            "InboundEndpoint",
            "InboundLimits",
            "OnMessage",
            "OnRefused",
            "OutboundMessage",
            "Outcome",
            "Receipt",
            "Refusal",
            "RetryPolicy",
            "SendResult",
            "SendStatus",
            "Sender",
            "StatusHook",
            "StatusUpdate",
            "Transport",
            "TransportFactory",
            "TransportSetup",
            "UserMessage",
            "decode",
            "encode",
            "http_transport",
            "user_message",
        ]
    )
    for name in eessi.transport.__all__:
        assert getattr(eessi.transport, name) is not None
