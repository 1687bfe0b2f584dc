"""A bounded on-disk spool for scan rows the database could not take (yet)."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path
from typing import Any


class Spool:
    """FIFO of row batches in a SQLite file; ``full`` tells the collector to stop pulling.

    While it is full the collector leaves scans in the units' ring buffers rather
    than dropping them.
    """

    def __init__(self, path: Path, max_rows: int = 500_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY, rows INTEGER, body BLOB)")
        self.max_rows = max_rows

    @property
    def rows(self) -> int:
        return int(self.db.execute("SELECT COALESCE(SUM(rows), 0) FROM batch").fetchone()[0])

    @property
    def full(self) -> bool:
        return self.rows >= self.max_rows

    def push(self, key: Any, rows: list[dict[str, Any]]) -> None:
        self.db.execute(
            "INSERT INTO batch (rows, body) VALUES (?, ?)", (len(rows), pickle.dumps((key, rows)))
        )

    def peek(self) -> tuple[int, Any, list[dict[str, Any]]] | None:
        row = self.db.execute("SELECT id, body FROM batch ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        key, rows = pickle.loads(row[1])  # noqa: S301 - our own file, written by push()
        return int(row[0]), key, rows

    def pop(self, batch_id: int) -> None:
        self.db.execute("DELETE FROM batch WHERE id = ?", (batch_id,))

    def close(self) -> None:
        self.db.close()
