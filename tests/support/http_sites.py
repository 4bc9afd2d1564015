"""The two-site aggregator HTTP simulator, started per test on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.devstack.http_sites import AggregatorSimulator


@pytest.fixture
async def http_sites() -> AsyncIterator[AggregatorSimulator]:
    """Sites "dc3" and "bos" (login "acme", password "secret"), each on its own port."""
    sim = AggregatorSimulator()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
