"""Hypothesis profiles for the fuzz properties.

``ci`` (the default, used by ``make test``): a fixed, small example budget per property and
derandomized generation, so the whole fuzz part is deterministic and takes well under a minute on
2 cores. ``deep`` (``make fuzz``): the same properties with a large budget and random generation.
Select with ``HYPOTHESIS_PROFILE=deep`` (or ``--hypothesis-profile deep``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # wall-clock per example varies on a loaded 2-core machine; budgets bound the run
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=400, derandomize=True, database=None, **_COMMON)
settings.register_profile("deep", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
