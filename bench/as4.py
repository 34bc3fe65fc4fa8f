"""Benchmark: eDelivery AS4 messages (eessi.as4) against the bare crypto, same run.

Run: ``.venv/bin/python bench/as4.py [--messages N] [--runs N]``.

Per message, in process, for a 5 KB SED (a real S072 padded with an XML comment to 5,120 bytes):

* **send, secured**: build the ebMS header, gzip the SED, sign (eb:Messaging, Body, attachment;
  RSA-2048 SHA-256), encrypt (AES-128-GCM, RSA-OAEP key transport), MIME-package;
* **receive, secured**: unpackage, hardened parse and header check, decrypt, verify the signature
  and the certificate, check against the P-Mode, gunzip;
* **receipt, secured**: the receiver's answer, a signed non-repudiation receipt (build, sign,
  package); **receipt check, secured**: the sender's reading of it (unpackage, parse, verify
  the signature and the certificate, match the digests sent);
* **round trip, secured**: the four above, one message from build to checked receipt, both
  sides' work;
* the same receive and receipt check of **another layout** (a line break in the security
  header, which no signature covers): our own template's messages are read as text (D320,
  D321), another access point's through the XML tree, whose cost these rows keep in view;
* the same send and receive **without security** (a P-Mode with ``enabled = false``);
* **our own work**: the same four secured steps with the RSA private-key operations (the
  unwrap, the signatures) answered from a memo of their first answer
  (:class:`~eessi.as4.security.keys.CountingKey` with ``memo=True``, the real key behind it),
  one message over and over: what the AS4 layer spends besides them (the public-key
  operations stay in: the RSA-OAEP wrap on send, the verifications). Its CPU per
  call is a fifth of a secured step's, so the same /proc ticks resolve it five times finer;
  the figure to A/B a change of the layer's own Python with (D391);
* the **bare baseline**, measured in the same run on the same SED bytes: send = one
  ``cryptography`` RSA-SHA256 signature of the bytes; receive = one bare ``lxml`` parse of the
  bytes and one RSA-SHA256 verification. AS4 must do at least that much per message; the ratio
  says how much more the message layer costs. The receipt's baselines are one signature
  (building) and one verification (checking); the round trip's is the sum of the crypto of the
  four steps (sign, RSA-OAEP wrap, AES-GCM both ways, unwrap, parse and verify, sign and verify
  the receipt).

CPU time is read from ``/proc/self/stat`` (user + system), so it counts only this process.
Each figure is min / median / max over ``--runs`` runs of ``--messages`` messages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from lxml import etree  # noqa: E402

from eessi.as4.exchange import (  # noqa: E402
    Incoming,
    Outgoing,
    build_sed_message,
    read_signal,
    receipt_for,
    receive_user_message,
)
from eessi.as4.mapping import Addressing  # noqa: E402
from eessi.as4.mime import Packaged  # noqa: E402
from eessi.as4.pki import create_pki, directory_institutions, load_pki  # noqa: E402
from eessi.as4.pmode import PModeSet, default_pmodes_path, load_pmodes, parse_pmodes  # noqa: E402
from eessi.as4.security import Credentials  # noqa: E402
from eessi.as4.security.encrypt import OAEP  # noqa: E402
from eessi.as4.security.keys import CountingKey  # noqa: E402
from eessi.directory import load_default_directory  # noqa: E402
from eessi.sed.examples import example_xml  # noqa: E402

CNS, CPAM = "LU:CNS00001", "FR:CPAM5701"
SIZE = 5120
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds() -> float:
    """User + system CPU of this process, from /proc (falls back to process_time)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return time.process_time()


def five_kb_sed() -> bytes:
    sed = example_xml("S072", seed=1)
    pad = SIZE - len(sed) - len(b"<!---->\n")
    return sed + b"<!--" + b"p" * max(0, pad) + b"-->\n"


def per_message_us(fn: Callable[[int], object], n: int, min_cpu: float = 0.5) -> float:
    """CPU per call; repeats the batch until it used ``min_cpu`` seconds (/proc counts ticks)."""
    calls, used, start = 0, 0.0, cpu_seconds()
    while True:
        for i in range(n):
            fn(calls + i)
        calls += n
        used = cpu_seconds() - start
        if used >= min_cpu:
            return used / calls * 1e6


def rsa_public(certificate: x509.Certificate) -> RSAPublicKey:
    """The certificate's RSA public key (the test PKI's keys are RSA-2048)."""
    key = certificate.public_key()
    if not isinstance(key, RSAPublicKey):
        raise TypeError(f"not an RSA key: {type(key).__name__}")
    return key


def unsecured() -> PModeSet:
    doc = tomllib.loads(default_pmodes_path().read_text("utf-8"))
    doc["defaults"]["security"]["enabled"] = False
    return parse_pmodes(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    sed = five_kb_sed()
    now = dt.datetime(2026, 4, 15, 9, 0, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        institutions = [
            e for e in directory_institutions(load_default_directory()) if e.id in (CNS, CPAM)
        ]
        create_pki(Path(tmp), institutions, now=now, days=30)
        pki = load_pki(Path(tmp))
        cns, cpam = pki.credentials(CNS), pki.credentials(CPAM)
    addressing = Addressing(CNS, CPAM, "FR-1A2B3C4D5E6F", "S_BUC_01", "S072", "4.4")
    setups = {"secured": load_pmodes(default_pmodes_path()), "no security": unsecured()}

    def sender(pmodes: PModeSet) -> Callable[[int], Outgoing]:
        pmode = pmodes.find("S_BUC_01", "S072")

        def send(i: int) -> Outgoing:
            return build_sed_message(
                addressing,
                pmode,
                sed,
                message_id=f"m-{i}@bench",
                timestamp=now,
                content_id=f"sed-{i}@bench",
                credentials=cns,
                recipient=cpam.certificate,
            )

        return send

    def receiver(pmodes: PModeSet, *, other_layout: bool = False) -> Callable[[int], Incoming]:
        out = sender(pmodes)(0)
        body, ctype = out.packaged.body, out.packaged.content_type
        if other_layout:  # a line break in the security header: not our template's bytes
            body = body.replace(b"</xenc:EncryptedKey>", b"</xenc:EncryptedKey>\n", 1)

        def receive(i: int) -> Incoming:
            return receive_user_message(
                ctype,
                body,
                pmodes=pmodes,
                receiver=CPAM,
                credentials=cpam,
                trust=pki.trust,
                now=now,
            )

        return receive

    signature = cns.key.sign(sed, padding.PKCS1v15(), hashes.SHA256())
    public = rsa_public(cns.certificate)

    def bare_send(i: int) -> object:
        return cns.key.sign(sed, padding.PKCS1v15(), hashes.SHA256())

    def bare_receive(i: int) -> object:
        etree.fromstring(sed)
        public.verify(signature, sed, padding.PKCS1v15(), hashes.SHA256())
        return None

    key = os.urandom(16)
    iv = os.urandom(12)
    recipient = rsa_public(cpam.certificate)
    wrapped = recipient.encrypt(key, OAEP)
    sealed = AESGCM(key).encrypt(iv, sed, None)

    def crypto_send(i: int) -> object:
        cns.key.sign(sed, padding.PKCS1v15(), hashes.SHA256())
        recipient.encrypt(os.urandom(16), OAEP)
        return AESGCM(key).encrypt(os.urandom(12), sed, None)

    def crypto_receive(i: int) -> object:
        etree.fromstring(sed)
        public.verify(signature, sed, padding.PKCS1v15(), hashes.SHA256())
        AESGCM(cpam.key.decrypt(wrapped, OAEP)).decrypt(iv, sealed, None)
        return None

    secured = setups["secured"]
    sent = sender(secured)(0)
    incoming = receiver(secured)(0)
    answer = receipt_for(incoming, message_id="r-0@bench", timestamp=now, credentials=cpam)

    def receipt(i: int) -> object:
        return receipt_for(
            incoming,
            message_id=f"r-{i}@bench",
            timestamp=now,
            credentials=cpam,
        )

    # The same receipt laid out otherwise (a line break after the signature's token, which no
    # signature covers): the tree path (parse, verify, match), as for another access point's.
    answer_other = answer.body.replace(
        b"</wsse:BinarySecurityToken>", b"</wsse:BinarySecurityToken>\n", 1
    )

    def receipt_check(i: int, body: bytes = answer.body) -> object:
        return read_signal(
            answer.content_type,
            body,
            sent=sent,
            trust=pki.trust,
            receiver=CPAM,
            now=now,
        )

    send_secured, receive_secured = sender(secured), receiver(secured)

    def round_trip(i: int) -> object:
        out = send_secured(i)
        got = receive_secured(i)
        signal = receipt(i)
        return out, got, signal, receipt_check(i)

    receipt_signature = cpam.key.sign(b"r" * 2048, padding.PKCS1v15(), hashes.SHA256())
    cpam_public = rsa_public(cpam.certificate)

    def bare_receipt_check(i: int) -> object:
        etree.fromstring(answer.body)
        cpam_public.verify(receipt_signature, b"r" * 2048, padding.PKCS1v15(), hashes.SHA256())
        return None

    def crypto_round(i: int) -> object:
        crypto_send(i)
        crypto_receive(i)
        bare_send(i)
        return bare_receipt_check(i)

    base_send = "bare send: RSA-SHA256 sign of the SED"
    base_recv = "bare receive: lxml parse + RSA-SHA256 verify"
    crypto_s = "bare send + encryption: sign, RSA-OAEP wrap, AES-GCM"
    crypto_r = "bare receive + decryption: parse, verify, RSA-OAEP unwrap, AES-GCM"
    cases: list[tuple[str, Callable[[int], object]]] = [
        (base_send, bare_send),
        (base_recv, bare_receive),
        (crypto_s, crypto_send),
        (crypto_r, crypto_receive),
    ]
    labels = {
        "secured": ("build+sign+encrypt+package", "unpackage+parse+decrypt+verify+gunzip"),
        "no security": ("build+gzip+package", "unpackage+parse+check+gunzip"),
    }
    for name, pm in setups.items():
        cases.append((f"AS4 send, {name}: {labels[name][0]}", sender(pm)))
        cases.append((f"AS4 receive, {name}: {labels[name][1]}", receiver(pm)))
    base_check = "bare receipt check: lxml parse + RSA-SHA256 verify"
    base_round = "bare round trip: the crypto of the four steps below"
    as4_receipt = "AS4 receipt, secured: build+sign+package"
    as4_check = "AS4 receipt check, secured: unpackage+parse+verify+match"
    as4_round = "AS4 round trip, secured: send, receive, receipt, check"
    cases += [
        (base_check, bare_receipt_check),
        (base_round, crypto_round),
        (as4_receipt, receipt),
        (as4_check, receipt_check),
        (as4_round, round_trip),
        # Our template's messages are read as text (D320, D321); another access point's
        # layout takes the tree path (lxml parse, walks, C14N), shown here by one line break.
        (
            "AS4 receive, secured, another layout (tree path)",
            receiver(secured, other_layout=True),
        ),
        (
            "AS4 receipt check, secured, another layout (tree path)",
            lambda i: receipt_check(i, answer_other),
        ),
    ]
    # Our own work: the four steps of one message again and again, the private-key
    # operations answered from the memo after the first call.
    cns_memo = Credentials(CountingKey(cns.key, memo=True), cns.certificate)
    cpam_memo = Credentials(CountingKey(cpam.key, memo=True), cpam.certificate)

    def own_send(i: int) -> Outgoing:
        return build_sed_message(
            addressing,
            secured.find("S_BUC_01", "S072"),
            sed,
            message_id="m-own@bench",
            timestamp=now,
            content_id="sed-own@bench",
            credentials=cns_memo,
            recipient=cpam.certificate,
            random=b"k" * 28,
        )

    own_sent = own_send(0)  # the same bytes every time: the same ID, time and key
    own_packaged = own_sent.packaged

    def own_receive(i: int) -> Incoming:
        return receive_user_message(
            own_packaged.content_type,
            own_packaged.body,
            pmodes=secured,
            receiver=CPAM,
            credentials=cpam_memo,
            trust=pki.trust,
            now=now,
        )

    own_incoming = own_receive(0)

    def own_receipt(i: int) -> Packaged:
        return receipt_for(
            own_incoming,
            message_id="r-own@bench",
            timestamp=now,
            credentials=cpam_memo,
        )

    own_answer = own_receipt(0)

    def own_check(i: int) -> object:
        return read_signal(
            own_answer.content_type,
            own_answer.body,
            sent=own_sent,
            trust=pki.trust,
            receiver=CPAM,
            now=now,
        )

    cases += [
        ("AS4 own work (RSA private operations memoised): send", own_send),
        ("AS4 own work (RSA private operations memoised): receive", own_receive),
        ("AS4 own work (RSA private operations memoised): receipt", own_receipt),
        ("AS4 own work (RSA private operations memoised): receipt check", own_check),
    ]
    for _, fn in cases:  # warm up (imports, caches)
        per_message_us(fn, 5)
    results: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.runs):
        for name, fn in cases:
            results[name].append(per_message_us(fn, args.messages))

    print(
        f"AS4 message layer, {len(sed)}-byte SED, {args.messages} messages x {args.runs} runs, "
        "CPU per message from /proc (us): min / median / max"
    )
    for name, values in results.items():
        lo, med, hi = min(values), statistics.median(values), max(values)
        print(f"  {name:<66} {lo:8.0f} {med:8.0f} {hi:8.0f}")
    mid = {name: statistics.median(v) for name, v in results.items()}
    print("ratio of medians, AS4 / bare baseline of the same direction (same run):")
    for name in setups:
        s = mid[f"AS4 send, {name}: {labels[name][0]}"]
        r = mid[f"AS4 receive, {name}: {labels[name][1]}"]
        print(
            f"  {name:<12} vs sign/parse+verify: send {s / mid[base_send]:5.2f}x, "
            f"receive {r / mid[base_recv]:5.2f}x;  vs the same with encryption: "
            f"send {s / mid[crypto_s]:5.2f}x, receive {r / mid[crypto_r]:5.2f}x"
        )
    print(
        f"  secured      receipt vs sign {mid[as4_receipt] / mid[base_send]:5.2f}x, "
        f"receipt check vs parse+verify {mid[as4_check] / mid[base_check]:5.2f}x, "
        f"round trip vs its crypto {mid[as4_round] / mid[base_round]:5.2f}x"
    )


if __name__ == "__main__":
    main()
