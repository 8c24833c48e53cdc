"""Hypothesis profiles for the differential tests.

``ci`` (the default, what ``make test`` runs): 100 derandomized examples per property, so CI is
reproducible and takes about 4 s. ``long`` (``make differential``): thousands of fresh
random examples. Select with ``HYPOTHESIS_PROFILE``; examples are sized by ``DIFFERENTIAL_EXAMPLES``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("DIFFERENTIAL_EXAMPLES", "100")),
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("DIFFERENTIAL_EXAMPLES", "3000")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
