"""Simulators on loopback for the equipment tests: real asyncua servers, no mocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from mes.equipment.driver import UnitDriver
from mes.equipment.profile import Profile, Security, UnitConfig, load_profile
from mes.sim.unit import SimUnit
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "recipes" / "profiles"
SimFactory = Callable[..., AbstractAsyncContextManager[tuple[SimUnit, UnitDriver]]]


def profile(name: str) -> Profile:
    return load_profile(PROFILES / f"{name}.yaml")


@asynccontextmanager
async def running(profile_name: str, *, time_scale: float = 500.0, security: Security | None = None,
                  password: str | None = None, client_password: str | None = None,
                  state_file: Path | None = None, connect: bool = True, prof: Profile | None = None,
                  **sim_kwargs: Any) -> AsyncIterator[tuple[SimUnit, UnitDriver]]:  # fmt: skip
    """A simulator of ``profile_name`` (or of ``prof``, a changed copy of it) on a free port and
    a driver for it."""
    prof = prof or profile(profile_name)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}"
    unit = UnitConfig(name=f"{prof.equipment_class}-t", equipment_class=prof.equipment_class, endpoint=endpoint,
                      profile=PROFILES / f"{profile_name}.yaml", security=security or Security())  # fmt: skip
    sim = SimUnit(unit.name, prof, endpoint, time_scale=time_scale, security=security, password=password,
                  state_file=state_file, seed=7, **sim_kwargs)  # fmt: skip
    await sim.start()
    driver = UnitDriver(unit, prof, timeout_s=2.0, retry_s=10.0, password=client_password)
    try:
        if connect:
            await driver.connect()
        yield sim, driver
    finally:
        await driver.disconnect()
        await sim.stop()


@pytest.fixture
def sim_factory() -> SimFactory:
    return running


def with_commands(prof: Profile, **changes: Any) -> Profile:
    """``prof`` with its commands block changed (``confirm_timeout_s``, counters)."""
    return prof.model_copy(update={"commands": prof.commands.model_copy(update=changes)})
