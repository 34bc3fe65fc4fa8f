"""Generate the CDM 4.3 schemas from the 4.4 ones.

4.4 is the source of truth; 4.3 differs only by its namespaces (``.../ns/4_3/<CODE>``) and by
the lines marked ``<!--4.4-only-->`` (the ``residenceInThisCountrySince`` declarations in
``common.xsd``), which 4.3 does not have. Generating instead of keeping two hand-edited copies
means the difference stays exactly the documented one.

Usage (from the repository root)::

    python schemas/tools/make_43.py           # rewrite schemas/4.3/ from schemas/4.4/
    python schemas/tools/make_43.py --check   # exit 1 if schemas/4.3/ is not up to date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["MARKER", "expected_files", "render_43"]

#: Lines carrying this comment exist in 4.4 only.
MARKER = "<!--4.4-only-->"

SCHEMAS = Path(__file__).resolve().parents[1]


def render_43(text: str) -> str:
    """The 4.3 text of one 4.4 schema file."""
    lines = [line for line in text.splitlines(keepends=True) if MARKER not in line]
    out = "".join(lines)
    out = out.replace("http://ec.europa.eu/eessi/ns/4_4/", "http://ec.europa.eu/eessi/ns/4_3/")
    out = out.replace('version="4.4"', 'version="4.3"')
    # The first mention (the file's title line) names the version; later ones speak of 4.4 itself.
    return out.replace(
        "CDM 4.4", "CDM 4.3 (generated from schemas/4.4 by schemas/tools/make_43.py)", 1
    )


def expected_files(schemas: Path = SCHEMAS) -> dict[str, str]:
    """File name -> expected 4.3 text, for every ``.xsd`` in ``schemas/4.4``."""
    return {
        p.name: render_43(p.read_text("utf-8")) for p in sorted((schemas / "4.4").glob("*.xsd"))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check that 4.3/ is up to date")
    args = parser.parse_args(argv)
    target = SCHEMAS / "4.3"
    expected = expected_files()
    if args.check:
        actual = {p.name: p.read_text("utf-8") for p in sorted(target.glob("*.xsd"))}
        if actual != expected:
            stale = sorted(
                n for n in expected.keys() | actual.keys() if actual.get(n) != expected.get(n)
            )
            print(
                f"schemas/4.3 is out of date ({', '.join(stale)}); run {__file__}", file=sys.stderr
            )
            return 1
        return 0
    target.mkdir(exist_ok=True)
    for old in target.glob("*.xsd"):
        if old.name not in expected:
            old.unlink()
    for name, text in expected.items():
        (target / name).write_text(text, "utf-8")
    print(f"wrote {len(expected)} files to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
