"""``eessi pki init DIR [--directory FILE] [--days N] [--force]``: create a test PKI.

Writes a CA and, for each institution of the directory that takes part in EESSI, an RSA key
and an X.509 certificate whose subject CN is its IR ID, plus ``DIR/pki.toml``, the index that
names the files per IR ID (format: ``docs/as4.md``, "Test PKI"). Point a P-Mode file at it with
``pki = "DIR"``. The keys are not protected: a **test** PKI for the simulation only.

Exit codes: 0 created; 2 the directory file is wrong, or DIR already holds a PKI (``--force``
replaces it).
"""

from __future__ import annotations

import argparse
from typing import Any

from eessi.cli._help import examples

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pki",
        help="create a test PKI (CA, key and certificate per institution) for AS4",
        description="Create a test PKI for the AS4 security of a simulated network.",
        **examples("eessi pki init net/pki --directory net/directory.toml"),
    )
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    init = sub.add_parser(
        "init",
        help="write a CA and a key + certificate per institution into DIR",
        description="Write a CA and a key + certificate per EESSI institution of the "
        "directory into DIR, with the index DIR/pki.toml (docs/as4.md).",
        **examples(
            "eessi pki init net/pki --directory net/directory.toml",
            "eessi pki init net/pki --days 90 --force",
        ),
    )
    init.add_argument("dir", metavar="DIR", help="where to write the PKI (created if needed)")
    init.add_argument(
        "--directory",
        metavar="FILE",
        help="directory TOML file (default: the one shipped with eessi-sim)",
    )
    init.add_argument(
        "--days", type=int, default=730, help="validity of the certificates (default: 730)"
    )
    init.add_argument("--force", action="store_true", help="replace a PKI already in DIR")
    init.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import sys
    from pathlib import Path

    from eessi.as4.pki import INDEX, create_pki, directory_institutions
    from eessi.directory import default_directory_path, load_directory

    target = Path(args.dir)
    if (target / INDEX).exists() and not args.force:
        print(
            f"eessi pki: error: {target / INDEX} exists; pass --force to replace that PKI",
            file=sys.stderr,
        )
        return 2
    if args.days < 1:
        print("eessi pki: error: --days must be at least 1", file=sys.stderr)
        return 2
    directory = load_directory(args.directory or default_directory_path())
    institutions = directory_institutions(directory)
    index = create_pki(target, institutions, now=dt.datetime.now(dt.UTC), days=args.days)
    print(f"wrote a test CA and {len(institutions)} institution certificates to {target}/")
    for entry in institutions:
        print(f"  {entry.id}: {entry.id.replace(':', '-')}.key, {entry.id.replace(':', '-')}.crt")
    print(f'index: {index} (set pki = "{target}" in the P-Mode file to use it)')
    return 0
