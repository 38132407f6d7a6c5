"""The node's chain, persisted crash-safely: SQLite in WAL mode with ``synchronous=FULL``.

A manifest is acknowledged to a caller only after the transaction holding it has
committed, so nothing acknowledged is lost on ``kill -9`` or power loss, and the
next sequence number always comes from the database: a number is never reused.
Several manifests signed back to back commit in one transaction (group commit).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from attest.errors import InputError
from attest.storage import DatabaseStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS manifests (
    seq INTEGER PRIMARY KEY,
    digest TEXT NOT NULL,
    phase TEXT NOT NULL,
    job_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    envelope BLOB NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS undelivered ON manifests(seq) WHERE delivered = 0;
CREATE TABLE IF NOT EXISTS log_checkpoint (one INTEGER PRIMARY KEY CHECK (one = 1), note TEXT NOT NULL);
"""


# Issued before the cutoff (to the second), not the newest, and delivered when that is asked for.
_OLD_SEQS = (
    "SELECT seq FROM manifests WHERE substr(issued_at, 1, 19) < ? "
    "AND seq < (SELECT MAX(seq) FROM manifests) AND (delivered = 1 OR ? = 0)"
)
_DELETE_OLD = (
    "DELETE FROM manifests WHERE substr(issued_at, 1, 19) < ? "
    "AND seq < (SELECT MAX(seq) FROM manifests) AND (delivered = 1 OR ? = 0)"
)


@dataclass(frozen=True)
class Row:
    """One signed manifest as stored."""

    seq: int
    digest: str
    phase: str
    job_id: str
    issued_at: str
    envelope: bytes


class ChainDB(DatabaseStore):
    """The node's signed manifests, in sequence order.

    A database that cannot be read or written (full, read-only, damaged) raises
    :class:`~attest.errors.StoreError`.
    """

    store_name = "the chain database"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            columns = {str(r[1]) for r in self.db.execute("PRAGMA table_info(manifests)")}
            if "proof" not in columns:  # databases before proofs were kept
                self.db.execute("ALTER TABLE manifests ADD COLUMN proof TEXT")
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"cannot open the chain database {path}: {exc}") from None
        self.lock = threading.Lock()  # the signer commits from a worker thread; readers use the loop thread

    def _where(self) -> str:
        return str(getattr(self, "path", ""))

    def head(self) -> tuple[int, str] | None:
        """(sequence, digest) of the newest manifest, or None for a new node."""
        with self.lock:
            row = self.db.execute("SELECT seq, digest FROM manifests ORDER BY seq DESC LIMIT 1").fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def append(self, rows: list[Row]) -> None:
        """Commit ``rows`` (consecutive sequence numbers after the head) in one durable transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT INTO manifests(seq, digest, phase, job_id, issued_at, envelope) VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.seq, r.digest, r.phase, r.job_id, r.issued_at, r.envelope) for r in rows],
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # a failed COMMIT (disk full) has rolled back already
                    self.db.execute("ROLLBACK")
                raise

    def last(self, n: int = 1) -> list[Row]:
        """The newest ``n`` manifests, newest first."""
        return self._rows(
            "SELECT seq, digest, phase, job_id, issued_at, envelope FROM manifests ORDER BY seq DESC LIMIT ?",
            (n,),
        )

    def since(self, seq: int) -> list[Row]:
        """Every manifest with a sequence number ≥ ``seq``, oldest first."""
        return self._rows(
            "SELECT seq, digest, phase, job_id, issued_at, envelope FROM manifests WHERE seq >= ? ORDER BY seq",
            (seq,),
        )

    def undelivered(self, limit: int = 100) -> list[Row]:
        """Manifests not yet accepted by the collector, oldest first."""
        return self._rows(
            "SELECT seq, digest, phase, job_id, issued_at, envelope FROM manifests WHERE delivered = 0 "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )

    def _rows(self, sql: str, args: tuple[int, ...]) -> list[Row]:
        with self.lock:
            cur = self.db.execute(sql, args)
            return [Row(int(a), str(b), str(c), str(d), str(e), bytes(f)) for a, b, c, d, e, f in cur]

    def mark_delivered(self, seq: int, proof: str | None = None, checkpoint: str | None = None) -> None:
        """Record that the collector logged manifest ``seq``, with the inclusion proof that showed it.

        ``checkpoint``, the signed checkpoint the proof was checked against (and found consistent
        with the one held before), becomes the held one in the same transaction.
        """
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("UPDATE manifests SET delivered = 1, proof = ? WHERE seq = ?", (proof, seq))
                if checkpoint is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO log_checkpoint(one, note) VALUES (1, ?)", (checkpoint,)
                    )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def held_checkpoint(self) -> str | None:
        """The newest signed checkpoint of the log that a delivery was verified against (the note), if any."""
        with self.lock:
            row = self.db.execute("SELECT note FROM log_checkpoint WHERE one = 1").fetchone()
        return str(row[0]) if row else None

    def proof(self, seq: int) -> str | None:
        """The inclusion proof kept for manifest ``seq`` (JSON), if delivered with one."""
        with self.lock:
            row = self.db.execute("SELECT proof FROM manifests WHERE seq = ?", (seq,)).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    def prune(self, before: str, *, delivered_only: bool) -> list[int]:
        """Delete manifests issued before ``before`` (RFC 3339 UTC); return their sequence numbers.

        The newest manifest is never deleted: the next sequence number and ``previous`` come
        from it. With ``delivered_only``, manifests the collector has not accepted stay.
        Timestamps are compared to the second (``YYYY-MM-DDTHH:MM:SS``), so one issued within
        the cutoff's second is kept.
        """
        args = (before[:19], int(delivered_only))
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                seqs = [int(r[0]) for r in self.db.execute(_OLD_SEQS, args)]
                self.db.execute(_DELETE_OLD, args)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # a failed COMMIT (disk full) has rolled back already
                    self.db.execute("ROLLBACK")
                raise
        return seqs

    def count(self) -> int:
        """How many manifests the node has signed."""
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM manifests").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self.lock:
            self.db.close()
