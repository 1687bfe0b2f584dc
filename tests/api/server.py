"""The API under a real uvicorn server on a free loopback port (streams need a real server: FastAPI's
TestClient buffers them), two ways:

- :func:`serve`: an app of the test's, in a thread of the test process;
- :func:`start_web` / :func:`running_web`: ``mes web`` as a real process (the installed console
  script), with only the ``MES_*`` settings a test gives it, for end-to-end tests::

      with running_web(env, tmp_path) as web:
          httpx.get(web.url("/api/v1/health"))

  Its output goes to a file in the test's folder; it is printed when the test fails (pytest shows
  what a test printed only then), and a start that never answers raises with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from tests.services import free_port

MES = str(Path(sys.executable).with_name("mes"))
HEALTH = "/api/v1/health"


@contextmanager
def serve(app: FastAPI, *, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL (``http://127.0.0.1:PORT``)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", access_log=False,
                            timeout_graceful_shutdown=2)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


def web_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its ``MES_*`` settings, plus ``env``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MES_")}, **env}


@dataclass
class WebServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def output(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM (uvicorn ends its open streams and exits), SIGKILL after ``timeout_s``; the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout_s)
        return self.process.returncode


def start_web(env: dict[str, str], workdir: Path, *, timeout_s: float = 30.0, attempts: int = 3,
              port: int | None = None) -> WebServer:  # fmt: skip
    """Start ``mes web`` (on ``port``, default a free one) and return once ``/api/v1/health`` answers
    200. A free port taken between choosing it and binding it (another test) is retried on a new one."""
    attempt = 0
    chosen = port
    while True:
        attempt += 1
        port = chosen or free_port()
        log = workdir / f"web-{port}.log"
        with log.open("ab") as out:  # the child writes it
            process = subprocess.Popen(  # noqa: S603 - our console script, our arguments
                [MES, "web", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=web_environment(env),
                cwd=workdir,
                start_new_session=True,
            )
        server = WebServer(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(server.url(HEALTH), timeout=2).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        server.stop()
        if "cannot listen on" not in server.output() or attempt == attempts or chosen:
            raise AssertionError(
                f"mes web did not answer {HEALTH} within {timeout_s:g} s (exit {process.returncode}):\n"
                + server.output()
            )


@contextmanager
def running_web(env: dict[str, str], workdir: Path, *, timeout_s: float = 30.0) -> Iterator[WebServer]:
    """``mes web`` for the duration of the block; stopped (terminate, then kill) at its end."""
    server = start_web(env, workdir, timeout_s=timeout_s)
    try:
        yield server
    finally:
        code = server.stop()
        print(f"--- mes web (exit {code}) output ---\n{server.output()}")  # noqa: T201 - shown on failure
