"""Suite-wide settings. Hypothesis never fails a test on timing: CI machines are shared and
loaded, and speed goals live in bench/, not in tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "eessi",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("eessi")
