"""Run the Vendor C sputter coater (node-opcua, ``tests/peers/vendor_c``) for a test.

The machine is another vendor's: another OPC UA stack, PackTags v3 state
numbers, commands by ``CntrlCmd`` + ``CmdChangeRequest`` and a live-variable
gauge with no ring buffer. Tests know it only through its address space
(``vendor_c/EXPECTED_PROFILE.md``); this module only starts and stops it.

    with vendor_c_machine(time_scale=600, faults="refuse_start") as endpoint:
        ...  # opc.tcp://127.0.0.1:PORT

The server process is terminated when the block ends, also when the test fails;
node_modules must have been installed by ``make test`` (``npm ci``), nothing is
downloaded here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PEER_DIR = Path(__file__).resolve().parent / "vendor_c"
NAMESPACE_URI = "urn:vendor-c:sputter"
READY_PREFIX = "ready "


class VendorCUnavailable(RuntimeError):
    """Node.js or the peer's node_modules are missing, or the server did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise VendorCUnavailable("Node.js (node) is not installed: run .ci/run, or apt-get install nodejs")
    if not (PEER_DIR / "node_modules" / "node-opcua").is_dir():
        raise VendorCUnavailable(
            f"node-opcua is not installed in {PEER_DIR.name}/node_modules: run `make test` "
            "(it runs npm ci there) or `make vendor-c`"
        )
    return node


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise VendorCUnavailable(f"vendor-c server exited with {proc.returncode}: {' | '.join(tail)}")
        time.sleep(0.05)
    raise VendorCUnavailable(f"vendor-c server not ready within {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def vendor_c_machine(
    port: int | None = None,
    time_scale: float = 1.0,
    faults: str = "",
    *,
    acting_s: float = 0.3,
    pitch_m: float = 0.02,
    rate_um: float = 0.036,
    seed: int = 1,
    initial_state: str = "Idle",
    ready_timeout_s: float = 30.0,
) -> Iterator[str]:
    """Start the Vendor C coater and yield its endpoint URL.

    ``time_scale`` is simulated seconds per wall second for the web transport
    (acting states last ``acting_s`` wall seconds whatever the scale);
    ``faults`` is a fault specification as written to ``Diagnostics/SimFault``;
    ``pitch_m`` the band metres between gauge scans; ``rate_um`` the deposition
    constant in µm per (kW × passes / (m/min)), 0.036 for capped-si-anode's
    si-active step. Raises ``VendorCUnavailable`` (naming ``make test``) when
    Node.js or node_modules is missing or the server does not start.
    """
    node = _node()
    port = free_port() if port is None else port
    workdir = Path(tempfile.mkdtemp(prefix="vendor-c-"))
    log = workdir / "server.log"
    args = [
        node,
        str(PEER_DIR / "server.js"),
        "--port",
        str(port),
        "--time-scale",
        repr(float(time_scale)),
        "--acting-s",
        repr(float(acting_s)),
        "--pitch-m",
        repr(float(pitch_m)),
        "--rate",
        repr(float(rate_um)),
        "--seed",
        str(seed),
        "--initial-state",
        initial_state,
        "--pki-dir",
        str(workdir / "pki"),
        "--faults",
        faults,
        "--exit-with-stdin",
        "1",
    ]
    with log.open("wb") as out:
        # stdin stays open while we live: the server exits when it closes, so a
        # test process killed outright leaves no server behind.
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=PEER_DIR,
            env=os.environ.copy(),
        )
    try:
        yield _wait_ready(proc, log, ready_timeout_s)
    finally:
        _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)
