"""Shared test set-up: hypothesis profiles and the optional PyTorch oracle.

Profiles: "quick" (default, for a developer's loop) and "thorough" (CI), chosen
by the environment variable CHAINRULE_HYPOTHESIS.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("quick", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.load_profile(os.environ.get("CHAINRULE_HYPOTHESIS", "quick"))
