"""The result store: one SQLite row per dataset × material × model × protocol.

Every row is committed in its own transaction (rollback journal, synchronous=FULL),
so a run killed at any instant leaves only whole rows, and ``bench.sqlite`` alone
holds every committed row (a copy of that one file is a complete store once no
run is writing). A row records what it was computed from: the SHA-256 of its
input and the model's identity (package version and weights' hash); a row whose
input or model changed since is recomputed and replaced, an equal one is never
written twice. Runs sharing a store claim the materials they compute, so that a
second run skips what the first is computing instead of doing it again. Results
live in a JSON column, so new fields need no migration; ``frame`` flattens them
for scoring. Stores written before these columns existed are read as they are
(their rows have no identity: ``None``).

The schema version is SQLite's ``PRAGMA user_version`` (``SCHEMA_VERSION``; stores
written before it was recorded read 0). A store that lacks a column this version
needs, or was written by a newer version, is refused when opened, in one line. A
row whose ``data`` is not a JSON object (edited or damaged by hand) is left out of
``rows`` and listed by ``unreadable``; a run deletes such rows of its materials
(``drop_unreadable``) and computes them again. A claim records when its process
started (``process_start``), so that a pid reused by another process since does not
hold the claim; ``break_claims=True`` takes over every other run's claims.
"""

from __future__ import annotations

import json
import math
import os
import socket
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
CREATE TABLE IF NOT EXISTS claims (
    dataset TEXT NOT NULL, material_id TEXT NOT NULL, model TEXT NOT NULL,
    protocol TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    heartbeat_unix REAL NOT NULL,
    PRIMARY KEY (dataset, material_id, model, protocol)
);
"""
IDENTITY_COLUMNS = ("input_sha256", "model_identity")  # added after the first stores
# Schema versions: 1 the first stores (results and claims as in _SCHEMA); 2 with
# IDENTITY_COLUMNS; 3 claims.started, and the version recorded in PRAGMA user_version
# (stores of versions 1 and 2 read 0 there and are upgraded when opened to write).
SCHEMA_VERSION = 3
# columns a store must have to be read; writing also needs created_unix and the claims table
READ_COLUMNS = {"results": ("dataset", "material_id", "model", "protocol", "status", "data",
                            "meta")}
WRITE_COLUMNS = {"results": READ_COLUMNS["results"] + ("created_unix",),
                 "claims": ("dataset", "material_id", "model", "protocol", "owner", "host",
                            "pid", "heartbeat_unix")}
CLAIM_TIMEOUT_S = 3 * 3600  # a claim from another host with no heartbeat for this long is dead


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says what to do."""


def _clean(value):
    """JSON-safe value: numpy scalars to Python, NaN/inf to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _explain(path: Path, exc: Exception) -> StoreError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text
                                                   or "malformed" in text):
        return StoreError(f"{path} is not a readable SQLite store ({text}): move it aside and "
                          f"re-run, or try `sqlite3 {path} .recover`")
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return StoreError(f"cannot write the store {path} ({text}): give --out a writable folder")
    return StoreError(f"store {path}: {text}")


def process_owner() -> tuple[str, str, int]:
    """(owner id, host, pid) of this process, for claims."""
    host, pid = socket.gethostname(), os.getpid()
    return f"{host}:{pid}:{time.time():.6f}", host, pid


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as "BOOT_ID:TICKS" (the kernel's boot id and the
    process's start time in clock ticks since boot, field 22 of /proc/PID/stat): equal
    for the same process, different for a later process that reuses the pid. None where
    /proc does not tell (not Linux, or no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # fields 3… (the name may hold spaces)
    return f"{boot_id}:{fields[19]}" if len(fields) > 19 else None


def _alive(host: str, pid: int, heartbeat_unix: float, started: str | None = None) -> bool:
    """Whether a claim's run still runs: its process exists (this host) and is the one
    that claimed (same start time, where the claim recorded it), and it wrote a row or
    claimed a chunk within CLAIM_TIMEOUT_S (any host)."""
    if time.time() - heartbeat_unix > CLAIM_TIMEOUT_S:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    if started is not None:
        now = process_start(pid)
        if now is not None and now != started:
            return False  # the pid belongs to a process started since: the claimer is gone
    return True


def decode_data(text) -> dict:
    """A row's ``data`` column as a dict; ValueError saying why when it is not a JSON
    object (a row damaged or edited by hand)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"its data is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"its data is a JSON {type(value).__name__}, not an object")
    return value


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def check_schema(conn: sqlite3.Connection, path: Path, writing: bool) -> None:
    """StoreError unless the store's tables have the columns this version reads (and, with
    ``writing``, writes) and its schema version is not newer than SCHEMA_VERSION. Tables
    that do not exist yet are not checked (a new store creates them)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer phonjax (schema {version}, expected "
                         f"{SCHEMA_VERSION}): use that version, or give --out a new folder")
    for table, needed in (WRITE_COLUMNS if writing else READ_COLUMNS).items():
        have = _columns(conn, table)
        missing = [c for c in needed if have and c not in have]
        if missing:
            origin = ("was changed by hand" if version == SCHEMA_VERSION else
                      f"was written by another phonjax version or changed by hand (schema "
                      f"{version or 'not recorded'}, expected {SCHEMA_VERSION})")
            raise StoreError(f"{path} {origin}: its {table} table has no column "
                             f"{', '.join(missing)}; give --out a new folder, or move "
                             f"{path.name} aside")


class Store:
    """``Store(path)`` opens (or creates) a store to write; ``readonly=True`` only reads,
    also in a folder one cannot write to; ``break_claims=True`` claims materials even
    where another run holds them (for claims no live run holds: left by a run on
    another host, or by a process whose pid could not be checked). Errors are
    ``StoreError`` with one line."""

    def __init__(self, path: str | Path, readonly: bool = False, break_claims: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.break_claims = break_claims
        self.owner, self.host, self.pid = process_owner()
        try:
            self.conn = self._open_readonly() if readonly else self._open()
            self.columns = _columns(self.conn, "results")
            if not self.columns:
                raise StoreError(f"{self.path} holds no bench results (no `results` table)")
        except OSError as exc:
            raise StoreError(f"cannot create the results folder {self.path.parent}: "
                             f"{exc.strerror or exc}; give --out a folder") from None
        except sqlite3.Error as exc:
            raise _explain(self.path, exc) from None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a store; give --out another folder")
        conn = sqlite3.connect(str(self.path), timeout=60)
        # a rollback journal: committed rows are in bench.sqlite itself (a WAL store kept
        # them in bench.sqlite-wal until a checkpoint); older WAL stores are converted here
        mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        self._checkpoint = mode.lower() == "wal"  # another process holds it open in WAL mode
        conn.execute("PRAGMA synchronous=FULL")
        try:
            check_schema(conn, self.path, writing=True)
        except StoreError:
            conn.close()
            raise
        conn.executescript(_SCHEMA)
        have, claims = _columns(conn, "results"), _columns(conn, "claims")
        with conn:
            for column in IDENTITY_COLUMNS:
                if column not in have:
                    conn.execute(f"ALTER TABLE results ADD COLUMN {column} TEXT")
            if "started" not in claims:
                conn.execute("ALTER TABLE claims ADD COLUMN started TEXT")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("SELECT count(*) FROM results").fetchone()  # fails here when corrupt
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no store at {self.path}; run `phonjax bench` first")
        uri = self.path.resolve().as_uri()
        try:
            conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # an old WAL store in a folder we cannot write: SQLite cannot make its -shm
            # file; read the main file as it is (rows still only in -wal stay unseen)
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self._checkpoint = False
        try:
            check_schema(conn, self.path, writing=False)
        except StoreError:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        if not self.readonly:
            try:
                self.release()
            except sqlite3.Error:
                pass
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------

    def done(self, dataset: str, model: str, protocol: str) -> set[str]:
        return set(self.identities(dataset, model, protocol))

    def identities(self, dataset: str, model: str, protocol: str) -> dict[str, tuple]:
        """{material_id: (input_sha256, model_identity)} of the stored rows (None where a
        row predates these columns)."""
        cols = ", ".join(c if c in self.columns else "NULL" for c in IDENTITY_COLUMNS)
        cur = self.conn.execute(
            f"SELECT material_id, {cols} FROM results WHERE dataset=? AND model=? AND protocol=?",
            (dataset, model, protocol))
        return {r[0]: tuple(r[1:]) for r in cur}

    def _select(self, dataset: str | None, protocol: str | None, model: str | None = None):
        """Cursor over (dataset, material_id, model, protocol, status, data, meta,
        *IDENTITY_COLUMNS) of the rows that match, in the order they were written."""
        cols = ", ".join(c if c in self.columns else "NULL" for c in IDENTITY_COLUMNS)
        sql = f"SELECT dataset, material_id, model, protocol, status, data, meta, {cols} FROM results"
        where, args = [], []
        for column, value in (("dataset", dataset), ("protocol", protocol), ("model", model)):
            if value:
                where.append(f"{column}=?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.conn.execute(sql + " ORDER BY rowid", args)

    def rows(self, dataset: str | None = None, protocol: str | None = None) -> list[dict]:
        """The readable rows (those ``unreadable`` lists are left out)."""
        out = []
        for d, mid, model, proto, status, data, meta, *ident in self._select(dataset, protocol):
            try:
                values = decode_data(data)
            except ValueError:
                continue
            out.append({"dataset": d, "material_id": mid, "model": model, "protocol": proto,
                        "status": status, **values, "meta": meta,
                        **dict(zip(IDENTITY_COLUMNS, ident))})
        return out

    def unreadable(self, dataset: str | None = None, protocol: str | None = None,
                   model: str | None = None) -> list[tuple[dict, str]]:
        """[(key {dataset, material_id, model, protocol}, why)] of the rows whose data
        cannot be read (left out of ``rows``)."""
        out = []
        for d, mid, m, proto, _, data, *_ in self._select(dataset, protocol, model):
            try:
                decode_data(data)
            except ValueError as exc:
                out.append(({"dataset": d, "material_id": mid, "model": m, "protocol": proto},
                            str(exc)))
        return out

    def frame(self, dataset: str | None = None, protocol: str | None = None):
        import pandas as pd

        return pd.DataFrame(self.rows(dataset, protocol))

    # --- writing -------------------------------------------------------------------------

    def put(self, row: dict, meta: dict, model_identity: str | None = None) -> bool:
        """Write one row atomically (and drop its claim); False when an equal row (same
        input and model identity) was already there. A row of another input or model
        identity is replaced."""
        keys = ("dataset", "material_id", "model", "protocol")
        skip = keys + ("status",) + IDENTITY_COLUMNS
        data = {k: _clean(v) for k, v in row.items() if k not in skip}
        values = (*(row[k] for k in keys), row["status"], json.dumps(data),
                  json.dumps(meta, default=str), time.time(), row.get("input_sha256"),
                  model_identity)
        with self.conn:  # one transaction per material
            cur = self.conn.execute(
                "INSERT INTO results (dataset, material_id, model, protocol, status, data, meta, "
                "created_unix, input_sha256, model_identity) VALUES (?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (dataset, material_id, model, protocol) DO UPDATE SET "
                "status=excluded.status, data=excluded.data, meta=excluded.meta, "
                "created_unix=excluded.created_unix, input_sha256=excluded.input_sha256, "
                "model_identity=excluded.model_identity "
                "WHERE results.input_sha256 IS NOT excluded.input_sha256 "
                "OR results.model_identity IS NOT excluded.model_identity", values)
            written = cur.rowcount == 1
            self.conn.execute("DELETE FROM claims WHERE dataset=? AND material_id=? AND model=? "
                              "AND protocol=? AND owner=?", (*(row[k] for k in keys), self.owner))
            self.conn.execute("UPDATE claims SET heartbeat_unix=? WHERE owner=?",
                              (time.time(), self.owner))
        if self._checkpoint:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return written

    def drop_unreadable(self, dataset: str, model: str, protocol: str,
                        material_ids) -> list[str]:
        """Delete the unreadable rows (``unreadable``) of these materials, so that a run
        computes them again; returns their material ids."""
        wanted = set(material_ids)
        bad = [key["material_id"] for key, _ in self.unreadable(dataset, protocol, model)
               if key["material_id"] in wanted]
        with self.conn:
            for mid in bad:
                self.conn.execute("DELETE FROM results WHERE dataset=? AND material_id=? AND "
                                  "model=? AND protocol=?", (dataset, mid, model, protocol))
        return bad

    def delete_failed(self, dataset: str, model: str, protocol: str) -> int:
        with self.conn:
            cur = self.conn.execute(
                "DELETE FROM results WHERE dataset=? AND model=? AND protocol=? AND status='failed'",
                (dataset, model, protocol))
        return cur.rowcount

    # --- claims: runs sharing a store split the work ------------------------------------

    def claim(self, dataset: str, model: str, protocol: str, wanted: dict[str, tuple]
              ) -> tuple[list[str], dict[str, str]]:
        """Claim the materials of ``wanted`` ({material_id: (input_sha256, model_identity)}
        expected) that no live run has claimed (any, with ``break_claims``) and that have
        no row of that identity yet. Returns (claimed ids, {id: "pid P on HOST"} of those
        another run is computing)."""
        claimed, busy = [], {}
        started = process_start(self.pid)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # one claimer at a time
            stored = self.identities(dataset, model, protocol)
            held = {r[0]: r[1:] for r in self.conn.execute(
                "SELECT material_id, owner, host, pid, heartbeat_unix, started FROM claims "
                "WHERE dataset=? AND model=? AND protocol=?", (dataset, model, protocol))}
            now = time.time()
            for mid, identity in wanted.items():
                if stored.get(mid) == tuple(identity):
                    continue  # another run finished it meanwhile
                if mid in held and not self.break_claims:
                    owner, host, pid, beat, their_start = held[mid]
                    if owner != self.owner and _alive(host, pid, beat, their_start):
                        busy[mid] = f"pid {pid} on {host}"
                        continue
                self.conn.execute(
                    "INSERT OR REPLACE INTO claims (dataset, material_id, model, protocol, "
                    "owner, host, pid, heartbeat_unix, started) VALUES (?,?,?,?,?,?,?,?,?)",
                    (dataset, mid, model, protocol, self.owner, self.host, self.pid, now,
                     started))
                claimed.append(mid)
            self.conn.execute("UPDATE claims SET heartbeat_unix=? WHERE owner=?",
                              (now, self.owner))
        return claimed, busy

    def release(self) -> None:
        """Drop this process's claims (what it did not finish is free again)."""
        with self.conn:
            self.conn.execute("DELETE FROM claims WHERE owner=?", (self.owner,))
