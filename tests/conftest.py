"""Settings for the whole suite."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Speed is measured in bench/, not asserted in tests: Hypothesis gets no per-example
# deadline (on a busy machine its default of 200 ms failed correct examples), and no
# health check on slow data generation.
settings.register_profile("eseal", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("eseal")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the run's PostgreSQL schema (:mod:`tests.postgres`), if a test made it."""
    from tests.postgres import drop_run_schema

    drop_run_schema()
