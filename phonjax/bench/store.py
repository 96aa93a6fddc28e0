"""The result store: one SQLite row per dataset × material × model × protocol.

Every row is committed in its own transaction (WAL journal, synchronous=FULL),
so a run killed at any instant leaves only whole rows; the primary key and
``INSERT OR IGNORE`` make a repeated write a no-op, so nothing is ever
duplicated and a restarted run skips what is there. Only the process that
owns the store (the client) writes. Results live in a JSON column, so new
fields need no migration; ``frame`` flattens them for scoring.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    dataset TEXT NOT NULL, material_id TEXT NOT NULL, model TEXT NOT NULL,
    protocol TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL, meta TEXT NOT NULL,
    created_unix REAL NOT NULL,
    PRIMARY KEY (dataset, material_id, model, protocol)
);
"""


def _clean(value):
    """JSON-safe value: numpy scalars to Python, NaN/inf to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def done(self, dataset: str, model: str, protocol: str) -> set[str]:
        cur = self.conn.execute(
            "SELECT material_id FROM results WHERE dataset=? AND model=? AND protocol=?",
            (dataset, model, protocol))
        return {r[0] for r in cur}

    def put(self, row: dict, meta: dict) -> bool:
        """Write one row atomically; False when it was already there."""
        keys = ("dataset", "material_id", "model", "protocol")
        data = {k: _clean(v) for k, v in row.items() if k not in keys + ("status",)}
        with self.conn:  # one transaction per material
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?)",
                (*(row[k] for k in keys), row["status"], json.dumps(data),
                 json.dumps(meta, default=str), time.time()))
        return cur.rowcount == 1

    def delete_failed(self, dataset: str, model: str, protocol: str) -> int:
        with self.conn:
            cur = self.conn.execute(
                "DELETE FROM results WHERE dataset=? AND model=? AND protocol=? AND status='failed'",
                (dataset, model, protocol))
        return cur.rowcount

    def rows(self, dataset: str | None = None, protocol: str | None = None) -> list[dict]:
        sql, args = "SELECT dataset, material_id, model, protocol, status, data, meta FROM results", []
        where = []
        if dataset:
            where.append("dataset=?")
            args.append(dataset)
        if protocol:
            where.append("protocol=?")
            args.append(protocol)
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = []
        for d, mid, model, proto, status, data, meta in self.conn.execute(sql + " ORDER BY rowid",
                                                                          args):
            out.append({"dataset": d, "material_id": mid, "model": model, "protocol": proto,
                        "status": status, **json.loads(data), "meta": meta})
        return out

    def frame(self, dataset: str | None = None, protocol: str | None = None):
        import pandas as pd

        return pd.DataFrame(self.rows(dataset, protocol))
