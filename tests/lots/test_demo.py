"""``mes demo`` on the embedded default, as a new user runs it, then the lot commands on what it left."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from mes.demo import DEMO_QUALITY_PASSWORD
from mes.equipment.errors import PortUnavailable
from mes.equipment.profile import load_line
from mes.runner import LineRunner
from tests.lots.harness import write_line
from tests.services import free_port
from tests.test_cli import run_mes


def test_demo_runs_the_line_and_leaves_a_readable_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    # Nothing may reach for a server: point every server setting at a closed port.
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env.update({"MES_BROKER_URL": closed, "MES_RESULT_BACKEND": closed, "MES_LIVE_URL": closed})
    line = write_line(
        tmp_path / "line.yaml", ["sputter-1", "sputter-2", "coater-1", "winder-1"]
    )  # free ports
    port = free_port()
    # --serve: after its summary the demo keeps the line and the operator pages up until Ctrl-C.
    demo = subprocess.Popen([str(Path(sys.executable).with_name("mes")), "demo", "--timeout", "240", "--line",
                             str(line), "--port", str(port), "--serve"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path, env=env)  # fmt: skip
    try:
        output = _read_until(demo, "stay up for orders made in the browser", timeout_s=300)
        assert "Traceback" not in output
        # Expected: the operator pages' address comes first, with the demo logins, and they answer.
        first = output.splitlines()[:3]
        assert any(f"Operator pages: http://127.0.0.1:{port}/" in x and "demo-operator / demo-operator-pw" in x
                   for x in first), output  # fmt: skip
        login = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=10)
        assert login.status_code == 200 and 'data-testid="login-form"' in login.text
        _check_what_the_demo_made(tmp_path, env, output)
    finally:
        demo.send_signal(signal.SIGTERM)  # as a service manager stops it; Ctrl-C (SIGINT) is the same
        rest, _ = demo.communicate(timeout=90)
    assert demo.returncode == 0, rest
    assert "demo stopped" in rest and "Traceback" not in rest
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
    # Expected: nothing of the demo left running (its workers run in process groups of their own: they
    # stayed up after a SIGTERM to the demo).
    assert _processes_of(tmp_path / ".mes-demo") == []


def _processes_of(workdir: Path) -> list[str]:
    """Command lines of the processes started with ``workdir`` in their environment (the demo's)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if str(workdir).encode() in (proc / "environ").read_bytes():
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def _read_until(proc: subprocess.Popen[str], marker: str, *, timeout_s: float) -> str:
    """What ``proc`` printed up to the line holding ``marker`` (fails with the output on a timeout or
    an exit)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for text in proc.stdout:
            lines.append(text)
            if marker in text:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not found.is_set():
        proc.kill()
        pytest.fail(f"no {marker!r} within {timeout_s} s (exit {proc.poll()}):\n{''.join(lines)}")
    return "".join(lines)


def _check_what_the_demo_made(tmp_path: Path, env: dict[str, str], output: str) -> None:
    # Expected: no raw log line (it printed "WARNING kombu.connection: No hostname was supplied. …").
    assert not re.search(r"\b(WARNING|ERROR) [\w.]+: ", output), output
    assert "What the line made" in output
    assert (tmp_path / "mes.db").exists()
    left = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} - {"mes.db-wal", "mes.db-shm"}
    assert left == {"line.yaml", "mes.db"}  # the broker's files stay in .mes-demo
    for log in (tmp_path / ".mes-demo").glob("*.log"):
        text = log.read_text()
        assert "database is locked" not in text, log
        assert "Traceback" not in text, log

    listing = run_mes("lot", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    lots = json.loads(run_mes("lot", "list", "--json", cwd=tmp_path).stdout)
    numbers = [r["lot"] for r in lots if r["lot"].startswith("WO-")]
    assert all(n in listing.stdout for n in numbers)
    assert len(numbers) == 11  # 2 lots each of 5 electrode recipes + 1 cell lot
    details = [json.loads(run_mes("lot", "show", n, "--json", cwd=tmp_path).stdout) for n in numbers]
    by_recipe: dict[str, list[dict[str, Any]]] = {}
    for d in details:
        by_recipe.setdefault(str(d["recipe"]).split("@")[0], []).append(d)
    # Every step ran and every layer was measured.
    assert all(s["state"] == "completed" for d in details for s in d["steps"])
    assert all(c["scans"] > 0 for d in details for layer in d["layers"] for c in layer["characteristics"])
    # The injected faults show up as held intervals, the cell lot as held, and the rest in spec.
    assert sum(d["intervals_held"] for d in by_recipe["capped-si-anode"]) >= 1
    assert sum(d["intervals_held"] for d in by_recipe["thin-composite-anode-oxide"]) >= 1
    assert sum(d["intervals_held"] for d in by_recipe["thin-composite-anode-carbon"]) >= 1
    [cell] = by_recipe["jelly-roll-alloy-film"]
    assert cell["status"] == "on_hold"
    assert {i["role"] for i in cell["inputs"]} == {"anode", "cathode", "separator"}
    assert all(d["intervals"] == [] for d in by_recipe["alloy-film-anode"] + by_recipe["cathode-lco"])
    # Each injected fault also raised an out-of-spec alarm; the layers are closed, so they wait for an ack.
    alarms = json.loads(run_mes("alarm", "list", "--json", cwd=tmp_path).stdout)
    oos = [a for a in alarms if a["condition"].endswith(":oos")]
    assert len({a["message"].split()[0] for a in oos}) == 4, alarms
    assert all(a["state"] == "cleared_unack" for a in oos)
    report = json.loads(run_mes("lot", "report", cell["lot"], cwd=tmp_path).stdout)
    assert report["alarms"]
    assert [(d["action"], d["actor"]) for d in report["dispositions"]] == [("lot.hold", "system")]
    parents = {n["lot"]["kind"] for n in report["genealogy"]["backward"]["parents"]}
    assert parents == {"anode", "cathode", "separator"}
    anode = json.loads(run_mes("lot", "report", by_recipe["capped-si-anode"][0]["lot"], cwd=tmp_path).stdout)
    thickness = anode["layers"][0]["characteristics"][0]
    assert thickness["capability"]["n"] == thickness["values"] and thickness["capability"]["cpk"] > 0
    assert len(thickness["web_profile"]["lane_means"]) == 8 and thickness["control_limits"] is None
    csv_text = run_mes(
        "lot", "report", by_recipe["capped-si-anode"][0]["lot"], "--format", "csv", cwd=tmp_path
    ).stdout
    assert csv_text.startswith("# lot\n") and "\n# characteristics\n" in csv_text and ",cpk," in csv_text
    missing = run_mes("lot", "show", "NOPE", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no lot NOPE" in missing.stderr

    # Expected: the summary says which injected fault hit which lot (by recipe and lot index, see
    # mes.demo.FAULTS) …
    hits = dict(re.findall(r"^  (\w+) \(.*\) on \S+ hit lot (WO-\S+), step", output, re.MULTILINE))
    assert set(hits) == {"drift", "step", "arc", "tension_spike"}, output
    made = {d["lot"]: str(d["recipe"]).split("@")[0] for d in details}
    assert made[hits["drift"]] == "capped-si-anode" and hits["drift"].endswith("-L02")
    assert made[hits["step"]] == "thin-composite-anode-oxide" and hits["step"].endswith("-L02")
    assert made[hits["arc"]] == "thin-composite-anode-carbon" and hits["arc"].endswith("-L01")
    assert made[hits["tension_spike"]] == "jelly-roll-alloy-film"
    # … names the demo quality user and its password, and prints a signed release that works as printed.
    assert (
        f"Quality user: demo-quality, password {DEMO_QUALITY_PASSWORD} (the demo's database only)" in output
    )
    [release] = re.findall(r"^  (echo .* \| mes lot release .*)$", output, re.MULTILINE)
    env_path = {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}
    signed = subprocess.run(["bash", "-c", release], capture_output=True, text=True, cwd=tmp_path, env=env_path,
                            timeout=60, check=False)  # fmt: skip
    assert signed.returncode == 0, signed
    assert "released" in signed.stdout


def test_the_demo_refuses_a_production_environment(tmp_path: Path) -> None:
    # Expected: no demo users with a published password on a production database; one line, exit 1.
    env = {"MES_ENVIRONMENT": "production", "MES_SECRET_KEY": secrets.token_urlsafe(32),
           "MES_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/never_created",
           "MES_BROKER_URL": "redis://127.0.0.1:6379/14", "MES_RESULT_BACKEND": "redis://127.0.0.1:6379/14"}  # fmt: skip
    result = run_mes("demo", env=env, cwd=tmp_path)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "MES_ENVIRONMENT is production" in line and "development only" in line


def test_demo_refuses_a_taken_port_before_writing_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    closed = f"redis://127.0.0.1:{free_port()}/0"
    env.update({"MES_BROKER_URL": closed, "MES_RESULT_BACKEND": closed, "MES_LIVE_URL": closed})
    assert run_mes("db", "upgrade", cwd=tmp_path).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = write_line(
            tmp_path / "line.yaml",
            ["sputter-1", "coater-1"],
            external={"coater-1": (f"opc.tcp://127.0.0.1:{port}", "packml-coater")},
        )
        result = subprocess.run([str(Path(sys.executable).with_name("mes")), "demo", "--line", str(line)],
                                capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)  # fmt: skip
    # Expected: exit 1 with one line naming the unit, the port and the way out; no asyncua
    # traceback; and the database as it was — no separator lot, no recipes, no users.
    assert result.returncode == 1, result
    assert "Traceback" not in result.stdout + result.stderr
    [message] = result.stderr.strip().splitlines()
    assert f"coater-1: port {port} on 127.0.0.1 is already in use" in message
    assert "--line" in message
    with sqlite3.connect(tmp_path / "mes.db") as db:
        assert db.execute("SELECT count(*) FROM lot").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM recipe").fetchone() == (0,)


async def test_runner_starts_no_simulator_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = load_line(
            write_line(
                tmp_path / "line.yaml",
                ["sputter-1", "sputter-2", "coater-1"],
                external={"coater-1": (f"opc.tcp://127.0.0.1:{port}", "packml-coater")},
            )
        )
        runner = LineRunner(line, {}, tmp_path)
        # Expected: PortUnavailable naming coater-1 and the port, and no simulator left running
        # (sputter-1 and sputter-2 used to be up, listening, when coater-1 failed).
        with pytest.raises(PortUnavailable, match=f"coater-1: port {port} on 127.0.0.1 is already in use"):
            await runner.start_sims()
    assert runner.sims == {}
