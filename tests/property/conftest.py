"""Hypothesis profiles for the property tests.

The default profile keeps the suite fast and reproducible (derandomized, 200 examples per property);
``STSMESH_HYPOTHESIS_PROFILE=large`` runs many more random examples, for a local soak or nightly CI.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "stsmesh-default",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "large",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# An unknown profile name fails loudly (hypothesis raises InvalidArgument) rather than running the default.
settings.load_profile(os.environ.get("STSMESH_HYPOTHESIS_PROFILE") or "stsmesh-default")
