"""What a worker process owns: its engine, the line, its equipment loop and unit drivers.

Built on first use in the process that uses it (after the fork), dropped by
``reset_context`` in ``worker_process_init``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from mes.config import get_settings
from mes.db import make_engine
from mes.equipment.commission import check_unit
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import NodeMismatch
from mes.equipment.line import Line, load_line_for
from workers.bridge import LoopThread, init_process_loop


@dataclass
class WorkerContext:
    engine: Engine
    line: Line
    bridge: LoopThread
    drivers: dict[str, UnitDriver] = field(default_factory=dict)
    pid: int = field(default_factory=os.getpid)

    async def driver(self, unit: str) -> UnitDriver:
        """A connected driver for ``unit``, reused while its link lives.

        A new link is first checked against the unit's profile (what ``mes equipment
        check`` does): a unit whose server does not match raises :class:`NodeMismatch`
        naming every entry that is wrong, before anything is written or commanded.
        """
        driver = self.drivers.get(unit)
        if driver is None or driver.client is None:
            driver = UnitDriver(self.line.unit(unit), self.line.profiles[unit], timeout_s=4.0, retry_s=8.0)
            await driver.connect()
            try:
                await self._check(driver)
            except BaseException:
                await driver.disconnect()
                raise
            self.drivers[unit] = driver
        return driver

    async def _check(self, driver: UnitDriver) -> None:
        entries = [e for e in (await check_unit(driver)).entries if not e.ok]
        if entries:
            wrong = "; ".join(
                f"{e.entry} ({e.node}) {e.status}" + (f": {e.detail}" if e.detail else "") for e in entries
            )
            raise NodeMismatch(
                f"{driver.name}: profile {driver.profile.id} does not match its server: {wrong}"
            )

    async def drop(self, unit: str) -> None:
        driver = self.drivers.pop(unit, None)
        if driver is not None:
            await driver.disconnect()


_context: WorkerContext | None = None


def context() -> WorkerContext:
    global _context
    if _context is None or _context.pid != os.getpid():
        settings = get_settings()
        _context = WorkerContext(
            engine=make_engine(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms),
            line=load_line_for(settings),
            bridge=init_process_loop(),
        )
    return _context


def reset_context() -> None:
    global _context
    _context = None
