from __future__ import annotations

import sys

from eessi.cli import main

sys.exit(main())
