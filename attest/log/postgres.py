"""The log in PostgreSQL (psycopg 3): the same tables and guarantees as the SQLite store, for fleets.

A batch is one transaction (committed with PostgreSQL's default ``synchronous_commit=on``),
so a crash leaves a prefix of the appended batches; concurrent writers are serialized by a
transaction-level advisory lock, so two collectors can share one log without forking it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from attest.errors import InputError
from attest.log import merkle
from attest.log.store import (
    EVIDENCE_INDEXED_FROM,
    Appended,
    NodeCache,
    evidence_key,
    evidence_rows,
    node_rows,
    plan_append,
    split_view_message,
)
from attest.replay import SqlVerifierState
from attest.storage import DatabaseStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (idx BIGINT PRIMARY KEY, leaf_hash BYTEA NOT NULL UNIQUE, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (level INT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx));
CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (idx BIGINT PRIMARY KEY, status TEXT NOT NULL, result TEXT NOT NULL);
ALTER TABLE entries ADD COLUMN IF NOT EXISTS at DOUBLE PRECISION;
"""
# Which entries carry the GPU evidence of a digest (a log created before it gets it, empty, from its size then).
_EVIDENCE_TABLE = "CREATE TABLE IF NOT EXISTS evidence (digest BYTEA NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (digest, idx))"
_LOCK_ID = 0x617474657374  # "attest": the advisory lock writers take
_STATE_LOCK_ID = 0x61747465737476  # "attestv": the lock of the verifier state's batches


class _Abandoned(Exception):
    """Rolls a batch's transaction back (psycopg's ``Transaction.__exit__`` with an error)."""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise InputError(
            "PostgreSQL logs need psycopg", hint="pip install 'compute-attest[postgres]'"
        ) from None
    return psycopg


class PostgresLog(DatabaseStore):
    """A log in a PostgreSQL database (``postgresql://...``).

    A database error (a dropped connection, a full disk, a refused statement) raises
    :class:`~attest.errors.StoreError`.
    """

    store_name = "the log database"

    def __init__(self, url: str, *, create: bool = False) -> None:
        psycopg = _psycopg()
        self._psycopg = psycopg
        self._db_errors = (psycopg.Error,)
        self.path = url.split("@")[-1]  # for messages, without credentials
        try:
            self.db: Any = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise InputError(f"cannot connect to the log database: {exc}".strip()) from None
        row = self.db.execute("SELECT to_regclass('entries') IS NOT NULL").fetchone()
        exists = bool(row and row[0])
        if not exists and not create:
            raise InputError("the database holds no log", hint="create it: attest log init --log URL ...")
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            self.db.execute(_SCHEMA)
            row = self.db.execute("SELECT to_regclass('evidence') IS NOT NULL").fetchone()
            if not (row and row[0]):
                self.db.execute(_EVIDENCE_TABLE)
                if exists:  # the entries logged before the index are not in it
                    self.db.execute(
                        "INSERT INTO meta(key, value) SELECT %s, CAST(COALESCE(MAX(idx) + 1, 0) AS TEXT) "
                        "FROM entries ON CONFLICT (key) DO NOTHING",
                        (EVIDENCE_INDEXED_FROM,),
                    )
        try:
            # Reads go through a connection of their own, so they see only committed batches,
            # even while another thread of this process is inside an append's transaction.
            self.read: Any = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            self.db.close()
            raise InputError(f"cannot connect to the log database: {exc}".strip()) from None
        self.lock = threading.Lock()
        self.indexed = True
        """The evidence index is made when the log is opened (the schema is applied on every open)."""
        self._nodes = NodeCache(
            lambda key: self.read.execute(
                "SELECT hash FROM nodes WHERE level = %s AND idx = %s", key
            ).fetchone()
        )

    def _where(self) -> str:
        return str(getattr(self, "path", ""))

    def meta(self, key: str) -> str | None:
        """A value stored with the log."""
        row = self.read.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value with the log."""
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    def size(self) -> int:
        """Number of entries (committed)."""
        return self._size(self.read)

    @staticmethod
    def _size(conn: Any) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries").fetchone()[0])

    def append(self, entries: list[bytes], evidence: Sequence[Sequence[str]] | None = None) -> list[Appended]:
        """Append a batch in one transaction, serialized against other writers.

        ``evidence``: each entry's GPU evidence digests, indexed in the same transaction.
        """
        hashes = [merkle.leaf_hash(d) for d in entries]
        with self.lock, self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            size = self._size(self.db)
            known = {
                bytes(h): int(i)
                for h, i in self.db.execute(
                    "SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY(%s)",
                    (list(dict.fromkeys(hashes)),),
                )
            }
            plan = plan_append(size, entries, hashes, known, self.node)
            if plan.leaves:
                with self.db.cursor() as cur:
                    at = time.time()  # the log's integration time, committed with the entries
                    cur.executemany(
                        "INSERT INTO entries(idx, leaf_hash, data, at) VALUES (%s, %s, %s, %s)",
                        [(i, h, d, at) for i, h, d, _ in plan.leaves],
                    )
                    cur.executemany(
                        "INSERT INTO nodes(level, idx, hash) VALUES (%s, %s, %s)", node_rows(plan.leaves)
                    )
                    carried = evidence_rows(plan.placed, evidence)
                    if carried:
                        cur.executemany(
                            "INSERT INTO evidence(digest, idx) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                            carried,
                        )
            return plan.placed

    def node(self, level: int, index: int) -> bytes:
        """Hash of a complete subtree."""
        return self._nodes.get(level, index)

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``."""
        row = self.read.execute("SELECT data FROM entries WHERE idx = %s", (index,)).fetchone()
        if row is None:
            raise InputError(f"the log has no entry {index}")
        return bytes(row[0])

    def integrated_at(self, index: int) -> float | None:
        """When the log integrated entry ``index`` (UTC seconds), if it kept the time."""
        row = self.read.execute("SELECT at FROM entries WHERE idx = %s", (index,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def integration_times(self) -> dict[int, float]:
        """Every entry's integration time that the log kept, by index (one query)."""
        rows = self.read.execute("SELECT idx, at FROM entries WHERE at IS NOT NULL").fetchall()
        return {int(i): float(a) for i, a in rows}

    def find(self, leaf_hash: bytes) -> int | None:
        """The index of a logged entry by its leaf hash."""
        row = self.read.execute("SELECT idx FROM entries WHERE leaf_hash = %s", (leaf_hash,)).fetchone()
        return int(row[0]) if row else None

    def evidence_entries(self, digest: str, limit: int = 8) -> list[int]:
        """The newest (at most ``limit``) entries indexed as carrying the GPU evidence of ``digest``."""
        query = "SELECT idx FROM evidence WHERE digest = %s ORDER BY idx DESC LIMIT %s"
        return [int(r[0]) for r in self.read.execute(query, (evidence_key(digest), limit)).fetchall()]

    def add_evidence_rows(self, rows: Sequence[tuple[str, int]]) -> None:
        """Index (digest, entry) pairs (those already indexed are kept as they are)."""
        keyed = [(evidence_key(d), i) for d, i in rows]
        with self.lock, self.db.transaction(), self.db.cursor() as cur:
            cur.executemany("INSERT INTO evidence(digest, idx) VALUES (%s, %s) ON CONFLICT DO NOTHING", keyed)

    def add_checkpoint(self, size: int, root: bytes, note: str) -> None:
        """Remember a checkpoint the log signed; one of the same size and root is replaced (cosignatures)."""
        with self.lock, self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            row = self.db.execute("SELECT root FROM checkpoints WHERE size = %s", (size,)).fetchone()
            if row is not None and bytes(row[0]) != root:
                raise InputError(split_view_message(size, bytes(row[0]), root))
            self.db.execute(
                "INSERT INTO checkpoints(size, root, note) VALUES (%s, %s, %s) "
                "ON CONFLICT (size) DO UPDATE SET note = EXCLUDED.note",
                (size, root, note),
            )

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        """Every checkpoint issued, oldest first."""
        rows = self.read.execute("SELECT size, root, note FROM checkpoints ORDER BY size").fetchall()
        return [(int(a), bytes(b), str(c)) for a, b, c in rows]

    def checkpoint_at(self, size: int) -> tuple[bytes, str] | None:
        """The root and note of the checkpoint issued at ``size``, if any."""
        row = self.read.execute("SELECT root, note FROM checkpoints WHERE size = %s", (size,)).fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    def newest_checkpoint(self) -> str | None:
        """The note of the checkpoint of the largest size, if any."""
        row = self.read.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def put_result(self, index: int, status: str, result: str) -> None:
        """Keep what a collector's verifier said of entry ``index``."""
        self.db.execute(
            "INSERT INTO results(idx, status, result) VALUES (%s, %s, %s) "
            "ON CONFLICT (idx) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result",
            (index, status, result),
        )

    def put_results(self, rows: list[tuple[int, str, str]]) -> None:
        """Keep the verdicts of several entries in one transaction (one durable commit: a collector's group)."""
        with self.lock, self.db.transaction(), self.db.cursor() as cur:
            cur.executemany(
                "INSERT INTO results(idx, status, result) VALUES (%s, %s, %s) "
                "ON CONFLICT (idx) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result",
                rows,
            )

    def result(self, index: int) -> str | None:
        """The result JSON kept for entry ``index``, if any."""
        row = self.read.execute("SELECT result FROM results WHERE idx = %s", (index,)).fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        """Close the connections."""
        self.read.close()
        self.db.close()


_STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS verifier_nonce (key_id TEXT NOT NULL, nonce TEXT NOT NULL,
                                           expires_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (key_id, nonce));
CREATE TABLE IF NOT EXISTS verifier_chain_head (key_id TEXT PRIMARY KEY, sequence BIGINT NOT NULL,
                                                digest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verifier_device_claim (device_id TEXT NOT NULL, key_id TEXT NOT NULL, host TEXT NOT NULL,
                                                  since TIMESTAMPTZ NOT NULL, until TIMESTAMPTZ NOT NULL,
                                                  PRIMARY KEY (device_id, key_id));
CREATE TABLE IF NOT EXISTS verifier_key_binding (key_id TEXT PRIMARY KEY, since TIMESTAMPTZ NOT NULL,
                                                 devices TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verifier_submission (identity BYTEA PRIMARY KEY, log_index BIGINT NOT NULL);
ALTER TABLE verifier_nonce ADD COLUMN IF NOT EXISTS payload TEXT;
ALTER TABLE verifier_nonce ADD COLUMN IF NOT EXISTS first_seen TIMESTAMPTZ;
ALTER TABLE verifier_nonce ADD COLUMN IF NOT EXISTS chain_rule TEXT;
"""


class PostgresVerifierState(SqlVerifierState):
    """Seen nonces and chain heads in the log's PostgreSQL database, shared by every collector on it.

    Collectors on several hosts behind one load balancer then see one node's manifests as one
    chain (each advancing the same head) and a nonce replayed to another collector as a replay.
    A :class:`~attest.replay.NonceStore` and a :class:`~attest.replay.ChainStore`; each call
    is one statement, so two collectors racing with the same nonce cannot both record it.
    A database error (a dropped connection, a full disk) raises :class:`~attest.errors.StoreError`.

    Each write is its own transaction, unless made within :meth:`batch`: then the writes of
    many verifications share a few, each holding an advisory lock of the verifier state (not
    the log's), so two processes' batches do not interleave, and cannot deadlock, over
    overlapping nonces and chain heads.
    """

    _dialect: ClassVar[dict[str, str]] = {
        "nonce": "verifier_nonce",
        "head": "verifier_chain_head",
        "claim": "verifier_device_claim",
        "binding": "verifier_key_binding",
        "submission": "verifier_submission",
        "least": "LEAST",
        "greatest": "GREATEST",
        "lock_row": " FOR UPDATE",  # the key's binding row, until the transaction ends
        "param": "%s",
    }

    def __init__(self, url: str) -> None:
        psycopg = _psycopg()
        self._db_errors = (psycopg.Error,)
        self._url = url.split("@")[-1]  # for messages, without credentials
        try:
            self._db: Any = psycopg.connect(url, autocommit=True)
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                self._db.execute(_STATE_SCHEMA)
        except psycopg.Error as exc:
            raise InputError(f"cannot open the verifier state in the log database: {exc}".strip()) from None
        self._lock = threading.Lock()
        self._tx: Any = None

    def _where(self) -> str:
        return str(getattr(self, "_url", ""))

    def _tx_open(self) -> bool:
        return self._tx is not None

    def _tx_begin(self) -> None:
        self._tx = self._db.transaction()
        self._tx.__enter__()  # the writes' own transactions within it become savepoints
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_STATE_LOCK_ID,))

    def _tx_commit(self) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(None, None, None)

    def _tx_rollback(self) -> None:
        tx, self._tx = self._tx, None
        tx.__exit__(_Abandoned, _Abandoned(), None)

    def _atomic(self) -> AbstractContextManager[Any]:
        atomic: AbstractContextManager[Any] = self._db.transaction()  # within a batch's: a savepoint
        return atomic

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
