"""Writing a run's reports to ``--report-dir``: JUnit XML, GITB TAR XML, JSON and HTML."""

from __future__ import annotations

import json
from pathlib import Path

from eessi.conformance.model import SuiteResult
from eessi.errors import ConfigError

__all__ = ["REPORT_FILES", "write_reports"]

#: The files a run writes, by format.
REPORT_FILES = {
    "junit": "junit.xml",
    "tar": "tar.xml",
    "json": "report.json",
    "html": "report.html",
}


def write_reports(result: SuiteResult, directory: str | Path) -> dict[str, Path]:
    """Write every report into ``directory`` (made if missing); their paths by format."""
    from eessi.conformance.report_html import html_report
    from eessi.conformance.report_junit import junit_xml
    from eessi.conformance.report_tar import tar_xml

    where = Path(directory)
    try:
        where.mkdir(parents=True, exist_ok=True)
        out = {}
        for kind, name in REPORT_FILES.items():
            path = where / name
            if kind == "junit":
                path.write_bytes(junit_xml(result))
            elif kind == "tar":
                path.write_bytes(tar_xml(result))
            elif kind == "html":
                path.write_text(html_report(result), encoding="utf-8")
            elif kind == "json":
                text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
                path.write_text(text + "\n", encoding="utf-8")
            out[kind] = path
        return out
    except OSError as exc:
        raise ConfigError(
            f"cannot write the reports to {where}: {exc.strerror}",
            where="--report-dir",
            hint="give a directory you can write to",
            code="conformance.report-dir",
        ) from None
