"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Speed is measured in bench/, not asserted in tests: Hypothesis gets no per-example
# deadline (on a busy machine its default of 200 ms failed correct examples), and no
# health check on slow data generation.
settings.register_profile("eseal", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("eseal")
