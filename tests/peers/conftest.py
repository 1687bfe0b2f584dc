"""Fixtures for the test peers of another vendor (see vendor_c_peer.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.vendor_c_peer import vendor_c_machine


@pytest.fixture
def vendor_c() -> Iterator[str]:
    """A Vendor C coater with no fault, its web transport 1000× faster than real time."""
    with vendor_c_machine(time_scale=1000.0) as endpoint:
        yield endpoint
