"""Fixtures for the test peers of another vendor (see vendor_c_peer.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.peers.vendor_c_client import Coater, bring_to_idle, coater
from tests.peers.vendor_c_peer import vendor_c_machine


@pytest.fixture(scope="module")
def vendor_c() -> Iterator[str]:
    """One Vendor C coater per module (starting one costs seconds), 1000× faster than real time."""
    with vendor_c_machine(time_scale=1000.0) as endpoint:
        yield endpoint


@pytest.fixture
async def idle_coater(vendor_c: str) -> AsyncIterator[Coater]:
    """A client on the shared coater, brought to Idle with no fault; counters carry over between tests."""
    async with coater(vendor_c) as c:
        await bring_to_idle(c)
        yield c
