"""``mes demo`` on the embedded default, as a new user runs it, then the lot commands on what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    result = subprocess.run([str(Path(sys.executable).with_name("mes")), "demo", "--timeout", "240", "--line",
                             str(line)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "What the line made" in output
    assert (tmp_path / "mes.db").exists()
    left = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")} - {"mes.db-wal", "mes.db-shm"}
    assert left == {"line.yaml", "mes.db"}  # the broker's files stay in .mes-demo
    for log in (tmp_path / ".mes-demo").glob("worker-*.log"):
        text = log.read_text()
        assert "database is locked" not in text, log
        assert "Traceback" not in text, log

    listing = run_mes("lot", "list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    numbers = [line.split()[1] for line in listing.stdout.splitlines() if "WO-" in line]
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
    missing = run_mes("lot", "show", "NOPE", cwd=tmp_path)
    assert missing.returncode == 1
    assert "no lot NOPE" in missing.stderr
