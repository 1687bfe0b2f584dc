"""A bounded on-disk spool for scan rows the database could not take (yet)."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path
from typing import Any


class Spool:
    """FIFO of row batches in a SQLite file; ``full`` tells the collector to stop pulling.

    The bound is on the bytes of the stored batches (``max_bytes``): the file
    itself keeps its largest size, as SQLite reuses freed pages rather than
    returning them. While it is full the collector leaves scans in the units'
    ring buffers rather than dropping them, so it can overshoot by the batches
    read in the poll that filled it.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS batch (id INTEGER PRIMARY KEY, rows INTEGER, body BLOB)")
        self.max_bytes = max_bytes
        # Kept in step with push/pop instead of summed per question: the collector asks every poll.
        rows, size = self.db.execute(
            "SELECT COALESCE(SUM(rows), 0), COALESCE(SUM(LENGTH(body)), 0) FROM batch"
        ).fetchone()
        self.rows, self.bytes = int(rows), int(size)

    @property
    def full(self) -> bool:
        return self.bytes >= self.max_bytes

    def push(self, key: Any, rows: list[dict[str, Any]]) -> None:
        body = pickle.dumps((key, rows))
        self.db.execute("INSERT INTO batch (rows, body) VALUES (?, ?)", (len(rows), body))
        self.rows, self.bytes = self.rows + len(rows), self.bytes + len(body)

    def peek(self) -> tuple[int, Any, list[dict[str, Any]]] | None:
        row = self.db.execute("SELECT id, body FROM batch ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        key, rows = pickle.loads(row[1])  # noqa: S301 - our own file, written by push()
        return int(row[0]), key, rows

    def pop(self, batch_id: int) -> None:
        for rows, size in self.db.execute(
            "DELETE FROM batch WHERE id = ? RETURNING rows, LENGTH(body)", (batch_id,)
        ).fetchall():
            self.rows, self.bytes = self.rows - int(rows), self.bytes - int(size)

    def close(self) -> None:
        self.db.close()
