"""Run a whole line on one machine: simulators, Celery worker processes, the collector, and
(``mes demo``) the web server of the operator pages.

Used by ``mes demo`` (SQLite + filesystem broker) and by the tests that run the
same flow in production mode (PostgreSQL + Redis). Workers are real ``celery
worker`` processes, one per unit queue with concurrency 1, plus one for the
``dispatch`` queue with the beat scheduler embedded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from mes.collector.service import Collector
from mes.config import get_settings
from mes.db import make_engine
from mes.equipment.ports import check_ports, unavailable
from mes.equipment.profile import Line
from mes.errors import ServiceNotStarted
from mes.execution.scheduler import unit_queue
from mes.sim.unit import SimUnit


@dataclass
class LineRunner:
    line: Line
    env: dict[str, str]  # MES_* settings the worker processes get
    workdir: Path
    time_scale: float = 1_000.0
    seed: int = 11
    # Units whose machine runs elsewhere (a vendor's server, a real unit): no simulator is started for them.
    external: frozenset[str] = frozenset()
    sims: dict[str, SimUnit] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    collector: Collector | None = None
    web: subprocess.Popen[bytes] | None = None
    _stop: asyncio.Event | None = None
    _collector_task: asyncio.Task[None] | None = None

    def check_ports(self) -> None:
        """Refuse (:class:`PortUnavailable`) a line whose simulators could not all listen."""
        check_ports(self.line, [u for u in self.line.units if u not in self.external])

    async def start_sims(self) -> None:
        """Every simulator of the line, or none: a port that cannot be bound stops the others."""
        self.check_ports()
        for i, (name, cfg) in enumerate(self.line.units.items()):
            if name in self.external:
                continue
            sim = SimUnit(
                name,
                self.line.profiles[name],
                cfg.endpoint,
                time_scale=self.time_scale,
                security=cfg.security,
                seed=self.seed + i,
            )
            try:
                await sim.start()
            except OSError as exc:  # taken after the check, by a faster process
                for started in self.sims.values():
                    await started.stop()
                self.sims.clear()
                raise unavailable(name, cfg.endpoint, exc) from exc
            self.sims[name] = sim

    def worker_command(self, queue: str, *, beat: bool = False) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            cmd += ["-B", "--schedule", str(self.workdir / "beat-schedule")]
        return cmd

    def start_worker(self, queue: str, *, beat: bool = False) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"worker-{queue}.log", "ab")  # the child process writes it
        env = self._child_env()
        proc = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            self.worker_command(queue, beat=beat),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        self.workers[queue] = proc
        return proc

    def start_workers(self) -> None:
        self.start_worker("dispatch", beat=True)
        for unit in self.line.units:
            self.start_worker(unit_queue(unit))

    def _child_env(self) -> dict[str, str]:
        return {**{k: v for k, v in os.environ.items() if not k.startswith("MES_")}, **self.env}

    def start_web(self, host: str, port: int, *, ready_timeout_s: float = 30.0) -> str:
        """``mes web`` on ``host:port`` with this line's settings, answering before this returns; its
        base URL. Raises :class:`ServiceNotStarted` with the end of its log when it exits or never answers."""
        log_path = self.workdir / "web.log"
        log = open(log_path, "ab")  # the child process writes it
        mes = str(Path(sys.executable).with_name("mes"))
        self.web = subprocess.Popen(  # noqa: S603 - our console script, our arguments
            [mes, "web", "--host", host, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._child_env(),
            start_new_session=True,
        )
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url + "/api/v1/health", timeout=1) as answer:  # noqa: S310 - http on our host
                    if answer.status == 200:
                        return url
            except OSError:
                time.sleep(0.2)
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        self.stop_web()
        raise ServiceNotStarted(f"mes web did not start on {url}: " + (" / ".join(tail) or "no output"))

    def stop_web(self) -> None:
        if self.web is not None:
            if self.web.poll() is None:
                os.killpg(self.web.pid, signal.SIGTERM)
                try:
                    self.web.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.web.pid, signal.SIGKILL)
            self.web = None

    def kill_worker(self, queue: str, sig: int = signal.SIGKILL) -> None:
        proc = self.workers.pop(queue)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    async def start_collector(
        self, database_url: str, live_url: str = "", spool_max_mb: float | None = None
    ) -> None:
        engine = make_engine(database_url)
        self.collector = Collector(
            engine,
            self.line,
            spool_path=self.workdir / "collector-spool.sqlite",
            spool_max_mb=spool_max_mb or get_settings().collector_spool_max_mb,
            live_url=live_url,
        )
        self._stop = asyncio.Event()
        self._collector_task = asyncio.create_task(self.collector.run(self._stop))

    async def stop(self) -> None:
        self.stop_web()
        for queue in list(self.workers):
            proc = self.workers.pop(queue)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        if self._stop is not None and self._collector_task is not None:
            self._stop.set()
            await self._collector_task
        for sim in self.sims.values():
            await sim.stop()
        self.sims.clear()

    def wait_workers(self, timeout_s: float = 30.0) -> None:
        for proc in list(self.workers.values()):
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
