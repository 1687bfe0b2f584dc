"""The simulated machine's memory: a SQLite file written every tick.

It holds what a real machine keeps across a restart of its OPC UA server: the
state, the job, the position along the band, the accepted Starts, and the gauge
history (the ring buffer clients backfill from).
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mes.equipment.profile import PackMLState

if TYPE_CHECKING:
    from mes.sim.publish import Scan
    from mes.sim.unit import SimUnit


def _pack(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def _unpack(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


class StateStore:
    def __init__(self, path: Path, ring_size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ring_size = ring_size
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS machine (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS scan (gauge TEXT, seq INTEGER, position_m REAL, t REAL, lanes BLOB,"
            " PRIMARY KEY (gauge, seq))"
        )
        self._saved = 0

    def restore(self, unit: SimUnit) -> None:
        rows = dict(self.db.execute("SELECT key, value FROM machine").fetchall())
        if not rows:
            return
        state = json.loads(rows["state"])
        unit.machine.state = PackMLState(state["machine"])
        unit.start_counts = state["start_counts"]
        unit.job = state["job"]
        unit.position_m = state["position_m"]
        unit.processed_m = state["processed_m"]
        unit.next_seq = state["next_seq"]
        unit.next_scan_m = state["next_scan_m"]
        for gauge in unit.rings:
            rows_ = self.db.execute(
                "SELECT seq, position_m, t, lanes FROM scan WHERE gauge = ? ORDER BY seq DESC LIMIT ?",
                (gauge, self.ring_size),
            ).fetchall()
            unit.rings[gauge].extend((s, p, t, _unpack(b)) for s, p, t, b in reversed(rows_))
        if unit.job:
            unit.process = unit._process()

    def save(self, unit: SimUnit, new_scans: dict[str, list[Scan]]) -> None:
        state = {
            "machine": unit.machine.state.value,
            "start_counts": unit.start_counts,
            "job": unit.job,
            "position_m": unit.position_m,
            "processed_m": unit.processed_m,
            "next_seq": unit.next_seq,
            "next_scan_m": unit.next_scan_m,
        }
        # One transaction per tick: a kill loses at most the tick in flight, which the
        # machine then simply runs again with the same sequence numbers.
        self.db.execute("BEGIN")
        self.db.execute("INSERT OR REPLACE INTO machine VALUES ('state', ?)", (json.dumps(state),))
        for gauge, scans in new_scans.items():
            self.db.executemany(
                "INSERT OR REPLACE INTO scan VALUES (?, ?, ?, ?, ?)",
                [(gauge, s, p, t, _pack(v)) for s, p, t, v in scans],
            )
        self.db.execute("COMMIT")
        self._saved += 1
        if self._saved % 500 == 0:
            for gauge, seq in unit.next_seq.items():
                self.db.execute("DELETE FROM scan WHERE gauge = ? AND seq < ?", (gauge, seq - self.ring_size))

    def close(self) -> None:
        self.db.close()
