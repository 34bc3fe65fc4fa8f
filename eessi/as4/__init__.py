"""eDelivery AS4 for eessi-sim: the ebMS 3.0 message, its MIME package, P-Modes and security.

Cut along the specification's own seams, so each module reads next to its section:

* :mod:`eessi.as4.pmode`: P-Modes (ebMS 3.0 core, appendix D) as frozen data from TOML;
* :mod:`eessi.as4.mapping`: how EESSI (BUC, SED, case, institution) maps onto ebMS values;
* :mod:`eessi.as4.ebms_build` / :mod:`eessi.as4.ebms_parse`: the ``eb:Messaging`` header
  (UserMessage, Receipt and Error signals) in a SOAP 1.2 envelope;
* :mod:`eessi.as4.mime`: the SOAP-with-Attachments ``multipart/related`` package;
* :mod:`eessi.as4.codes`: the ebMS 3.0 core error codes (EBMS:0001 ... EBMS:0303);
* :mod:`eessi.as4.security`: WS-Security 1.1 signing, verification, encryption, decryption,
  and the non-repudiation receipt;
* :mod:`eessi.as4.exchange`: one exchange end to end, without I/O (what a transport calls);
* :mod:`eessi.as4.pki`: the test PKI (``eessi pki init``).

Nothing here does network I/O: the transport seam (issue 11, next part) puts it on the wire.
Guide: ``docs/as4.md``.
"""

from __future__ import annotations

__all__: list[str] = []
