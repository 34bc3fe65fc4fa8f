"""A test PKI for a simulated network: one CA, one key and certificate per institution.

:func:`create_pki` writes, into a directory, ``ca.crt`` (and ``ca.key``), then for each EESSI
institution of the directory ``<CC>-<ID>.key`` (PKCS#8 PEM, mode 0600) and ``<CC>-<ID>.crt``
(X.509 v3, subject CN = the IR ID, issued by the CA), and ``pki.toml``, the index that names
them per IR ID. :func:`load_pki` reads that index back: the :class:`~eessi.as4.security.Trust`
of the network and each institution's :class:`~eessi.as4.security.Credentials`.

The keys are written unencrypted: this is a **test** PKI for a simulation, never for real data.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from eessi.as4.security import Credentials, Trust
from eessi.directory import Directory, InstitutionEntry
from eessi.errors import ConfigError

__all__ = ["INDEX", "KEY_BITS", "Pki", "create_pki", "file_stem", "load_pki"]

#: The index file of a PKI directory.
INDEX: Final = "pki.toml"
KEY_BITS: Final = 2048


def file_stem(ir_id: str) -> str:
    """``LU:CNS00001`` -> ``LU-CNS00001`` (file names without a colon)."""
    return ir_id.replace(":", "-")


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _write(path: Path, data: bytes, private: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_pki(
    target: Path,
    institutions: Iterable[InstitutionEntry],
    *,
    now: dt.datetime,
    days: int = 730,
) -> Path:
    """Create the PKI in ``target`` (created if needed); return the path of its index."""
    target.mkdir(parents=True, exist_ok=True)
    start = now - dt.timedelta(days=1)
    end = now + dt.timedelta(days=days)
    ca_key = _key()
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "eessi-sim test CA"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "eessi-sim (simulation only)"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(target / "ca.key", _pem_key(ca_key), private=True)
    _write(target / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    lines = [
        "# eessi-sim test PKI (simulation only: the keys are not protected).",
        '# Written by `eessi pki init`; format: docs/as4.md ("Test PKI").',
        "format = 1",
        'ca = "ca.crt"',
        "",
    ]
    for entry in institutions:
        key = _key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COMMON_NAME, entry.id),
                        x509.NameAttribute(NameOID.COUNTRY_NAME, entry.country[:2]),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, entry.name[:64]),
                    ]
                )
            )
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=True,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
            .sign(ca_key, hashes.SHA256())
        )
        stem = file_stem(entry.id)
        _write(target / f"{stem}.key", _pem_key(key), private=True)
        _write(target / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), False)
        lines += [
            f'[institution."{entry.id}"]',
            f'key = "{stem}.key"',
            f'certificate = "{stem}.crt"',
            "",
        ]
    index = target / INDEX
    index.write_text("\n".join(lines), "utf-8")
    return index


@dataclass(frozen=True, slots=True)
class Pki:
    """A loaded PKI: the trust anchor and, per IR ID, the certificate and key files."""

    root: Path
    trust: Trust
    certificates: dict[str, x509.Certificate]
    _key_files: dict[str, Path] = field(repr=False)

    def certificate(self, ir_id: str) -> x509.Certificate:
        try:
            return self.certificates[ir_id]
        except KeyError:
            raise ConfigError(
                f"the PKI has no certificate for {ir_id}",
                code="pki.unknown",
                where=str(self.root / INDEX),
                hint="run `eessi pki init DIR --directory FILE` for this directory again",
            ) from None

    def credentials(self, ir_id: str) -> Credentials:
        """The institution's own key and certificate (read on demand)."""
        cert = self.certificate(ir_id)
        path = self._key_files[ir_id]
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the key of {ir_id}: {exc}", code="pki.key", where=str(path)
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"the key of {ir_id} is not RSA", code="pki.key", where=str(path))
        return Credentials(key, cert)


def load_pki(root: Path) -> Pki:
    """Read ``root/pki.toml`` and the certificates it names; errors name file and key."""
    index = root / INDEX

    def err(message: str, key: str) -> ConfigError:
        return ConfigError(
            message,
            code="pki.invalid",
            where=f"{index}: {key}",
            hint="create a test PKI with `eessi pki init DIR` (docs/as4.md)",
        )

    try:
        doc = tomllib.loads(index.read_text("utf-8"))
    except OSError as exc:
        raise err(f"cannot read the PKI index: {exc.strerror or exc}", "file") from None
    except tomllib.TOMLDecodeError as exc:
        raise err(f"the PKI index is not valid TOML: {exc}", "file") from None
    if doc.get("format") != 1:
        raise err(f"format is {doc.get('format')!r}, this version reads 1", "format")

    def cert(name: object, key: str) -> x509.Certificate:
        if not isinstance(name, str):
            raise err("a file name (string) is required", key)
        try:
            return x509.load_pem_x509_certificate((root / name).read_bytes())
        except (OSError, ValueError) as exc:
            raise err(f"cannot read certificate {name!r}: {exc}", key) from None

    ca = cert(doc.get("ca"), "ca")
    certificates: dict[str, x509.Certificate] = {}
    keys: dict[str, Path] = {}
    table = doc.get("institution", {})
    if not isinstance(table, dict):
        raise err("[institution] must be a table of IR IDs", "institution")
    for ir_id, files in table.items():
        if not isinstance(files, dict) or not isinstance(files.get("key"), str):
            raise err("needs key and certificate file names", f"institution.{ir_id!r}")
        certificates[ir_id] = cert(files.get("certificate"), f"institution.{ir_id!r}.certificate")
        keys[ir_id] = root / files["key"]
    return Pki(root, Trust(ca), certificates, keys)


def directory_institutions(directory: Directory) -> list[InstitutionEntry]:
    """The institutions that get a certificate: those that take part in EESSI."""
    return [e for e in directory if e.eessi]
