"""``python -m eessi.ops.healthcheck [URL]``: a container's health check (the Dockerfile's
``HEALTHCHECK``), with nothing but the standard library.

GETs ``URL`` (default ``$EESSI_HEALTH_URL``, else ``http://127.0.0.1:8701/api/health/live``)
with ``Authorization: Bearer $EESSI_ADMIN_TOKEN`` when that variable is set (a node bound to
every interface requires the token even over loopback, docs/operations.md), and exits 0 if it
answers 200 within ``$EESSI_HEALTH_TIMEOUT`` seconds (default 3), else 1 with one line on
stderr saying why.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Final

__all__ = ["DEFAULT_URL", "check", "main"]

#: Where a node of the compose file (every institution on port 8701 in its container) answers.
DEFAULT_URL: Final = "http://127.0.0.1:8701/api/health/live"


def check(url: str, token: str | None, timeout: float) -> str | None:
    """``None`` if ``url`` answers 200, else why not."""
    request = urllib.request.Request(url, method="GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    return None if status == 200 else f"{url}: HTTP {status}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[0] if args else os.environ.get("EESSI_HEALTH_URL") or DEFAULT_URL
    try:
        timeout = float(os.environ.get("EESSI_HEALTH_TIMEOUT") or 3.0)
    except ValueError:
        timeout = 3.0
    why = check(url, os.environ.get("EESSI_ADMIN_TOKEN") or None, timeout)
    if why is not None:
        print(f"unhealthy: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
