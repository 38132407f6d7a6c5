"""Log stores: entries and every complete subtree hash, so proofs are lookups, not rebuilds.

Appending leaf ``i`` computes its leaf hash and then, while the new node completes a
pair, the parent: every complete subtree is stored once, kept with the leaf that
completes it (SQLite) or as a row of its own (PostgreSQL). A batch is atomic: after
``kill -9`` the log is exactly a prefix of what was appended, with every acknowledged
batch in it. An entry already in the log is not added again.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from attest.errors import InputError
from attest.log import merkle
from attest.storage import DatabaseStore


@dataclass(frozen=True)
class Appended:
    """Where an entry is in the log."""

    index: int
    leaf_hash: bytes
    new: bool
    """False when the same bytes were already logged (the existing index is returned)."""


class LogStore(Protocol):
    """What the log needs from storage."""

    indexed: bool
    """Whether the store keeps an evidence index (see :meth:`evidence_entries`)."""

    def size(self) -> int:
        """Number of entries."""
        ...

    def append(self, entries: list[bytes], evidence: Sequence[Sequence[str]] | None = None) -> list[Appended]:
        """Append entries (durably, in order); return where each one is.

        ``evidence``: for each entry, the digests of the GPU evidence it carries, indexed with
        it in the same transaction (see :meth:`evidence_entries`).
        """
        ...

    def evidence_entries(self, digest: str, limit: int = 8) -> list[int]:
        """The newest (at most ``limit``) entries indexed as carrying the GPU evidence of ``digest``."""
        ...

    def add_evidence_rows(self, rows: Sequence[tuple[str, int]]) -> None:
        """Index (digest, entry) pairs (those already indexed are kept as they are)."""
        ...

    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree ``(level, index)``."""
        ...

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``."""
        ...

    def find(self, leaf_hash: bytes) -> int | None:
        """The index of the entry with this leaf hash, if logged."""
        ...

    def integrated_at(self, index: int) -> float | None:
        """When the log integrated entry ``index`` (UTC seconds), if it kept the time."""
        ...

    def integration_times(self) -> dict[int, float]:
        """Every entry's integration time that the log kept, by index (one query)."""
        ...

    def meta(self, key: str) -> str | None:
        """A value stored with the log (origin, verifier key)."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Store a value with the log."""
        ...

    def add_checkpoint(self, size: int, root: bytes, note: str) -> None:
        """Remember a checkpoint the log signed (refused if this size was signed with another root)."""
        ...

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        """Every checkpoint issued, oldest first."""
        ...

    def checkpoint_at(self, size: int) -> tuple[bytes, str] | None:
        """The root and note of the checkpoint issued at ``size``, if any."""
        ...

    def newest_checkpoint(self) -> str | None:
        """The note of the checkpoint of the largest size, if any."""
        ...

    def put_result(self, index: int, status: str, result: str) -> None:
        """Keep what a collector's verifier said of entry ``index`` (its status and result JSON)."""
        ...

    def put_results(self, rows: list[tuple[int, str, str]]) -> None:
        """Keep the verdicts ``(index, status, result JSON)`` of several entries in one durable transaction."""
        ...

    def result(self, index: int) -> str | None:
        """The result JSON kept for entry ``index``, if any."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


class NodeCache:
    """Subtree hashes read from a store, the upper levels (which every proof touches) kept in memory."""

    def __init__(self, fetch: Callable[[tuple[int, int]], Any]) -> None:
        self.fetch = fetch
        self.cache: dict[tuple[int, int], bytes] = {}

    def get(self, level: int, index: int) -> bytes:
        """The hash of subtree ``(level, index)``; a missing row means a damaged database."""
        key = (level, index)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        row = self.fetch(key)
        if row is None:
            raise InputError(f"the log has no subtree ({level}, {index}): the database is damaged")
        value = bytes(row[0])
        if level >= 8 and len(self.cache) < 1_000_000:
            self.cache[key] = value
        return value


class Planned(NamedTuple):
    """What a batch adds: where each entry went, the new leaves, the new size."""

    placed: list[Appended]
    leaves: list[tuple[int, bytes, bytes, bytes]]
    """``(index, leaf hash, bytes, up)`` per new entry, where ``up`` joins the hashes of the
    subtrees this leaf completes, level 1 first (``(1, i >> 1)``, ``(2, i >> 2)``, ... while the
    index's low bits are ones): every complete subtree of level ≥ 1 is completed by exactly one
    leaf, its last."""
    size: int


def plan_append(
    size: int,
    entries: list[bytes],
    hashes: list[bytes],
    known: dict[bytes, int],
    stored_node: merkle.NodeHash,
    on_fresh: Callable[[list[bytes]], None] | None = None,
) -> Planned:
    """Where each entry goes and the subtree hashes each new leaf completes.

    ``known`` maps leaf hashes already in the log to their index; ``stored_node`` reads
    subtree hashes committed before this batch (left siblings at the batch boundary).
    ``on_fresh`` is given the bytes of the new entries, in order, as soon as they are known
    and before the tree is computed (a store starts writing them).
    """
    out: list[Appended] = []
    fresh: list[tuple[int, bytes, bytes]] = []
    seen: dict[bytes, int] = {}
    for data, h in zip(entries, hashes, strict=True):
        existing = seen.get(h, known.get(h))
        if existing is not None:
            out.append(Appended(existing, h, False))
            continue
        seen[h] = size
        fresh.append((size, h, data))
        out.append(Appended(size, h, True))
        size += 1
    if on_fresh is not None and fresh:
        on_fresh([data for _, _, data in fresh])
    # The right edge of the tree: at each level, the last complete subtree that is a left
    # child, i.e. the left sibling the next node at that level pairs with.
    edge: dict[int, bytes] = {}
    node_hash = merkle.node_hash
    leaves: list[tuple[int, bytes, bytes, bytes]] = []
    for index, h, data in fresh:
        up: list[bytes] = []
        level, i, cur = 0, index, h
        while i & 1:
            cur = node_hash(edge.get(level) or stored_node(level, i - 1), cur)
            level, i = level + 1, i >> 1
            up.append(cur)
        edge[level] = cur
        leaves.append((index, h, data, b"".join(up)))
    return Planned(out, leaves, size)


def node_rows(leaves: list[tuple[int, bytes, bytes, bytes]]) -> list[tuple[int, int, bytes]]:
    """``(level, index, hash)`` of every subtree the planned leaves complete, leaves included."""
    rows: list[tuple[int, int, bytes]] = []
    for index, h, _, up in leaves:
        rows.append((0, index, h))
        for k in range(len(up) // 32):
            rows.append((k + 1, index >> (k + 1), up[32 * k : 32 * k + 32]))
    return rows


def split_view_message(size: int, kept: bytes, new: bytes) -> str:
    """Why a checkpoint is refused: the log signed another root at this size before (it was rewritten)."""
    import base64

    return (
        f"a checkpoint of size {size} with root {base64.b64encode(kept).decode()} was signed before; the "
        f"log now has root {base64.b64encode(new).decode()} at that size: it was rewritten (both are kept "
        "as evidence; nothing is overwritten)"
    )


WAL_CHECKPOINT_PAGES = 16384
"""Pages of WAL (4 KiB each) after which SQLite copies them into the database file."""

ENTRIES_SUFFIX = "-entries"
"""A SQLite log keeps its entries' bytes in ``PATH-entries``, beside the database ``PATH``."""

TIMES_KEPT_FROM = "times_kept_from"
"""Meta key: the first entry the log keeps an integration time for (0 from ``attest log init``)."""

EVIDENCE_INDEXED_FROM = "evidence_indexed_from"
"""Meta key: the first entry the evidence index covers (absent: 0). A log created before the index
gets it (empty) when first opened for writing, from its size then; ``attest log index-evidence``
indexes the entries before that and sets it to 0."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def evidence_key(digest: str) -> bytes:
    """The 32 bytes the evidence index keeps for ``sha256:<hex>``.

    Raises:
        InputError: ``digest`` is not ``sha256:`` and 64 lowercase hex digits.
    """
    if not _DIGEST.fullmatch(digest):
        raise InputError(f"{digest[:80]!r} is not an evidence digest (sha256: and 64 hex digits)")
    return bytes.fromhex(digest[7:])


def evidence_rows(
    placed: Sequence[Appended], evidence: Sequence[Sequence[str]] | None
) -> list[tuple[bytes, int]]:
    """The index rows of a batch: each new entry's evidence digests (a digest of the wrong shape is left out)."""
    if evidence is None:
        return []
    if len(evidence) != len(placed):
        raise InputError(f"{len(evidence)} evidence lists for {len(placed)} entries")
    rows: dict[tuple[bytes, int], None] = {}
    for where, digests in zip(placed, evidence, strict=True):
        if where.new:
            for d in digests:
                if _DIGEST.fullmatch(d):
                    rows[(evidence_key(d), where.index)] = None
    return list(rows)


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE,
                      off INTEGER NOT NULL, len INTEGER NOT NULL, up BLOB NOT NULL, at REAL);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL);
CREATE TABLE results (idx INTEGER PRIMARY KEY, status TEXT NOT NULL, result TEXT NOT NULL);
"""
# The evidence index (which entries carry the GPU evidence of a digest); also made for logs created before it.
_EVIDENCE_TABLE = (
    "CREATE TABLE IF NOT EXISTS evidence (digest BLOB NOT NULL, idx INTEGER NOT NULL, "
    "PRIMARY KEY (digest, idx)) WITHOUT ROWID"
)
_SCHEMA += _EVIDENCE_TABLE + ";\n"
# Logs created before 2026-11-29 hold each entry's bytes in its row (``data``) and the subtree
# hashes in a ``nodes`` table; they are still read and appended to in that layout.
_INLINE_COLUMNS = {"idx", "leaf_hash", "data"}
_SEGMENT_COLUMNS = {"idx", "leaf_hash", "off", "len", "up"}


_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_SEEK_LOCK = threading.Lock()


# Positioned reads and writes, and a data sync, where the platform has them (Linux); elsewhere
# (Windows has no pread/pwrite, macOS no fdatasync) the nearest equivalent, so that logs can be
# read and written by auditors on any system.
def _pwrite(fd: int, data: memoryview, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.write(fd, data)


def _pread(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, size)


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", None) or os.fsync
    sync(fd)


def _sync_directory(path: Path) -> None:
    """Make a new file's name durable (POSIX); a system that cannot open a directory has none to sync."""
    try:
        dirfd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except OSError:
        return
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def entries_path(path: Path) -> Path:
    """Where the log at ``path`` keeps its entries' bytes."""
    return path.with_name(path.name + ENTRIES_SUFFIX)


class EntryWriter:
    """Writes a batch's bytes at the end of the entries file and syncs them.

    A large batch is written by a helper thread while the caller computes the tree and
    inserts the rows (``pwrite`` and ``fdatasync`` release the GIL), and joined before the
    commit; a small one is written when it is finished.
    """

    THREADED = 256 * 1024
    """Batches of at least this many bytes are written by a helper thread."""

    def __init__(self, fd: int, end: int) -> None:
        self.fd, self.end = fd, end
        self.blob = b""
        self.thread: threading.Thread | None = None
        self.error: OSError | None = None

    def start(self, fresh: list[bytes]) -> None:
        """Begin writing ``fresh`` after the committed bytes."""
        self.blob = b"".join(fresh)
        if len(self.blob) >= self.THREADED:
            self.thread = threading.Thread(target=self._write, name="attest-log-entries", daemon=True)
            self.thread.start()

    def _write(self) -> None:
        try:
            view, at = memoryview(self.blob), self.end
            while view:
                written = _pwrite(self.fd, view, at)
                view, at = view[written:], at + written
            os.ftruncate(self.fd, at)  # bytes of a batch that never committed, if longer
            _datasync(self.fd)
        except OSError as exc:
            self.error = exc

    def finish(self, where: Path) -> None:
        """Wait until the bytes are written and synced; a failed write is an error."""
        if self.thread is None:
            self._write()
        else:
            self.thread.join()
        if self.error is not None:
            raise InputError(f"cannot write {where}: {self.error.strerror or self.error}")

    def abandon(self) -> None:
        """Wait for a write under way (the batch is being rolled back)."""
        if self.thread is not None:
            self.thread.join()


class SqliteLog(DatabaseStore):
    """A log in SQLite: the tree and index in ``PATH``, the entries' bytes in ``PATH-entries``.

    Each batch is written to the end of the entries file and synced, then its rows (leaf hash,
    offset, length and the subtree hashes its leaves complete) are committed in one transaction
    (WAL, ``synchronous=FULL``). The database says which bytes are the log: after ``kill -9``
    between the two steps the file holds bytes past the last committed entry, which nothing
    reads and the next batch overwrites. Every byte is written once, in one sequential write,
    rather than twice into SQLite pages (the WAL, then the database).

    Writers in several processes are serialized by SQLite's write lock; the entries file is
    written only under it, at the end the database names. A database or file that cannot be
    read or written raises :class:`~attest.errors.StoreError` (or the clearer error said here).
    """

    store_name = "the log"

    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.exists():
            raise InputError(
                f"no log at {path}", hint=f"create it: attest log init --log {path} --origin NAME --key KEY"
            )
        self.path = path
        self.lock = threading.Lock()
        self.fd: int | None = None
        """The entries file; None for a log in the layout before it (bytes in their rows)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            # Checkpoint the WAL into the database every 64 MiB rather than every 4 MiB: each
            # checkpoint costs a write-back and an fsync of the database file (measured when the
            # entries' bytes were still in the database: +5-20% for 5 KB entries). Durability is
            # the WAL's, unchanged.
            self.db.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            if create:
                self.db.executescript(_SCHEMA)
            columns = {str(row[1]) for row in self.db.execute("PRAGMA table_info(entries)")}
            # Reads go through a connection of their own, so they see only committed batches,
            # even while another thread of this process is inside an append's transaction.
            self.read = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.read.execute("PRAGMA query_only=1")
        except sqlite3.Error as exc:
            self._close_db()
            raise InputError(f"{path} is not a usable log database: {exc}") from None
        self.timed = "at" in columns
        """Whether entries keep their integration time (logs before it gain the column when written)."""
        if not self.timed and columns:
            with contextlib.suppress(sqlite3.Error):  # a log opened read-only stays untimed
                self.db.execute("ALTER TABLE entries ADD COLUMN at REAL")
                self.timed = True
                # The entries logged before this keep no time; every later one must have one.
                self.db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) SELECT ?, CAST(coalesce(max(idx) + 1, 0) AS TEXT) FROM entries",
                    (TIMES_KEPT_FROM,),
                )
        self.indexed = self._index_evidence_table(bool(columns))
        """Whether the log has an evidence index (a log before it, opened read-only, has none)."""
        if columns >= _SEGMENT_COLUMNS:
            self.fd = self._open_entries(create)
        elif not columns >= _INLINE_COLUMNS:
            self._close_db()
            raise InputError(f"{path} is not a log database (it has no log entries table)")
        end = self._tail(self.read)[1]
        if self.fd is not None and os.fstat(self.fd).st_size < end:
            self.close()
            raise InputError(
                f"{entries_path(path)} is shorter than the log it belongs to: the entries file was "
                "truncated or replaced",
                hint="restore it from a backup taken with the database",
            )
        self._nodes = NodeCache(self._fetch_node)

    def _where(self) -> str:
        return str(getattr(self, "path", ""))

    def _index_evidence_table(self, is_log: bool) -> bool:
        """Give a log created before the evidence index an empty one, covering the entries from now on."""
        has = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'evidence'"
        if self.read.execute(has).fetchone() is not None:
            return True
        if not is_log:
            return False
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if self.db.execute(has).fetchone() is None:  # (another process may have made it meanwhile)
                    self.db.execute(_EVIDENCE_TABLE)
                    self.db.execute(
                        "INSERT OR IGNORE INTO meta(key, value) "
                        "SELECT ?, CAST(coalesce(max(idx) + 1, 0) AS TEXT) FROM entries",
                        (EVIDENCE_INDEXED_FROM,),
                    )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error:  # a log opened read-only is read without an index
            return False
        return True

    def _close_db(self) -> None:
        for conn in (getattr(self, "read", None), getattr(self, "db", None)):
            if conn is not None:
                conn.close()

    def _open_entries(self, create: bool) -> int:
        """Open (or create, synced with its directory) the entries file."""
        where = entries_path(self.path)
        try:
            if create:
                fd = os.open(where, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o666)
                os.fsync(fd)
                _sync_directory(where.parent)
                return fd
            try:
                return os.open(where, os.O_RDWR | _OPEN_FLAGS)
            except PermissionError:
                return os.open(where, os.O_RDONLY | _OPEN_FLAGS)  # reading a log needs no more
        except FileNotFoundError:
            self._close_db()
            raise InputError(
                f"{where} is missing: a log keeps its entries' bytes there, beside {self.path.name}",
                hint="copy or restore the two files together",
            ) from None
        except FileExistsError:
            self._close_db()
            raise InputError(f"{where} already exists") from None
        except OSError as exc:
            self._close_db()
            raise InputError(f"cannot open {where}: {exc.strerror}") from None

    def _tail(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """The size and, for an entries file, where its committed bytes end, as ``conn`` sees them."""
        if self.fd is None:
            row = conn.execute("SELECT MAX(idx) FROM entries").fetchone()
            return (0 if row[0] is None else int(row[0]) + 1), 0
        row = conn.execute("SELECT idx, off + len FROM entries ORDER BY idx DESC LIMIT 1").fetchone()
        return (0, 0) if row is None else (int(row[0]) + 1, int(row[1]))

    def _fetch_node(self, key: tuple[int, int]) -> Any:
        level, index = key
        if level == 0:
            return self.read.execute("SELECT leaf_hash FROM entries WHERE idx = ?", (index,)).fetchone()
        if self.fd is None:
            return self.read.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", key).fetchone()
        # The subtree is completed by its last leaf, which keeps its hash in ``up``.
        row = self.read.execute(
            "SELECT substr(up, ?, 32) FROM entries WHERE idx = ?",
            (32 * (level - 1) + 1, ((index + 1) << level) - 1),
        ).fetchone()
        return row if row is None or len(row[0]) == 32 else None

    def meta(self, key: str) -> str | None:
        """A value stored with the log (origin, public key)."""
        row = self.read.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a value with the log."""
        with self._writing():
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this process's write lock; a database that refuses the write is a clear error."""
        with self.lock:
            try:
                yield
            except sqlite3.Error as exc:  # read-only, locked past the timeout, disk full, damaged
                raise InputError(f"cannot write to the log {self.path}: {exc}") from None

    def size(self) -> int:
        """Number of entries (as committed now, by this process or another)."""
        return self._tail(self.read)[0]

    def append(self, entries: list[bytes], evidence: Sequence[Sequence[str]] | None = None) -> list[Appended]:
        """Append a batch: its bytes written and synced, then its rows in one durable transaction.

        Each new entry gets the log's integration time (the batch's, UTC seconds), committed with it,
        and its ``evidence`` digests (one list per entry) in the evidence index.
        """
        hashes = [merkle.leaf_hash(data) for data in entries]
        at = time.time()
        with self._writing():
            self.db.execute("BEGIN IMMEDIATE")  # the write lock, across processes
            writer: EntryWriter | None = None
            try:
                size, end = self._tail(self.db)
                if self.fd is not None:
                    writer = EntryWriter(self.fd, end)
                plan = plan_append(
                    size,
                    entries,
                    hashes,
                    self._find_many(hashes),
                    self.node,
                    None if writer is None else writer.start,
                )
                if writer is None:
                    if plan.leaves:
                        self._insert_inline(plan.leaves, at)
                elif plan.leaves:
                    rows: list[tuple[int, bytes, int, int, bytes, float | None]] = []
                    off = end
                    stamp = at if self.timed else None
                    for index, h, data, up in plan.leaves:
                        rows.append((index, h, off, len(data), up, stamp))
                        off += len(data)
                    if self.timed:
                        self.db.executemany(
                            "INSERT INTO entries(idx, leaf_hash, off, len, up, at) VALUES (?, ?, ?, ?, ?, ?)",
                            rows,
                        )
                    else:
                        self.db.executemany(
                            "INSERT INTO entries(idx, leaf_hash, off, len, up) VALUES (?, ?, ?, ?, ?)",
                            [r[:5] for r in rows],
                        )
                    writer.finish(entries_path(self.path))  # the bytes are on disk before the rows commit
                carried = evidence_rows(plan.placed, evidence) if self.indexed else []
                if carried:
                    self.db.executemany("INSERT OR IGNORE INTO evidence(digest, idx) VALUES (?, ?)", carried)
                self.db.execute("COMMIT")
            except BaseException:
                if writer is not None:
                    writer.abandon()  # no write may go on once the lock is released
                if self.db.in_transaction:  # (a failed COMMIT may have rolled back already)
                    self.db.execute("ROLLBACK")
                raise
            return plan.placed

    def _insert_inline(self, leaves: list[tuple[int, bytes, bytes, bytes]], at: float) -> None:
        """A batch in the layout of logs created before the entries file."""
        if self.timed:
            self.db.executemany(
                "INSERT INTO entries(idx, leaf_hash, data, at) VALUES (?, ?, ?, ?)",
                [(i, h, d, at) for i, h, d, _ in leaves],
            )
        else:
            self.db.executemany(
                "INSERT INTO entries(idx, leaf_hash, data) VALUES (?, ?, ?)",
                [(i, h, d) for i, h, d, _ in leaves],
            )
        self.db.executemany(
            "INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)", [r for r in node_rows(leaves) if r[0]]
        )

    def node(self, level: int, index: int) -> bytes:
        """Hash of a complete subtree (cached for the upper levels, which every proof touches)."""
        return self._nodes.get(level, index)

    def entry(self, index: int) -> bytes:
        """The bytes of entry ``index``."""
        query = "SELECT data FROM entries" if self.fd is None else "SELECT off, len FROM entries"
        row = self.read.execute(query + " WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise InputError(f"the log has no entry {index} (size {self.size()})")
        if self.fd is None:
            return bytes(row[0])
        off, length = int(row[0]), int(row[1])
        data = _pread(self.fd, length, off)
        if len(data) != length:
            raise InputError(
                f"{entries_path(self.path)} ends inside entry {index}: the entries file was truncated"
            )
        return data

    def _find_many(self, hashes: list[bytes]) -> dict[bytes, int]:
        """Which of ``hashes`` are logged already (one query per 500)."""
        unique = list(dict.fromkeys(hashes))
        found: dict[bytes, int] = {}
        for k in range(0, len(unique), 500):
            chunk = unique[k : k + 500]
            query = f"SELECT leaf_hash, idx FROM entries WHERE leaf_hash IN ({','.join('?' * len(chunk))})"  # noqa: S608 - placeholders only
            for h, idx in self.db.execute(query, chunk):
                found[bytes(h)] = int(idx)
        return found

    def integrated_at(self, index: int) -> float | None:
        """When the log integrated entry ``index`` (UTC seconds), if it kept the time."""
        if not self.timed:
            return None
        row = self.read.execute("SELECT at FROM entries WHERE idx = ?", (index,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def integration_times(self) -> dict[int, float]:
        """Every entry's integration time that the log kept, by index (one query)."""
        if not self.timed:
            return {}
        return {
            int(i): float(a) for i, a in self.read.execute("SELECT idx, at FROM entries WHERE at IS NOT NULL")
        }

    def find(self, leaf_hash: bytes) -> int | None:
        """The index of a logged entry by its leaf hash."""
        row = self.read.execute("SELECT idx FROM entries WHERE leaf_hash = ?", (leaf_hash,)).fetchone()
        return int(row[0]) if row else None

    def evidence_entries(self, digest: str, limit: int = 8) -> list[int]:
        """The newest (at most ``limit``) entries indexed as carrying the GPU evidence of ``digest``."""
        if not self.indexed:
            return []
        query = "SELECT idx FROM evidence WHERE digest = ? ORDER BY idx DESC LIMIT ?"
        return [int(r[0]) for r in self.read.execute(query, (evidence_key(digest), limit))]

    def add_evidence_rows(self, rows: Sequence[tuple[str, int]]) -> None:
        """Index (digest, entry) pairs (those already indexed are kept as they are)."""
        if not self.indexed:
            raise InputError(f"the log {self.path} has no evidence index (it could not be written)")
        keyed = [(evidence_key(d), i) for d, i in rows]
        with self._writing():
            self.db.execute("BEGIN IMMEDIATE")  # one durable commit for the rows, all or none
            try:
                self.db.executemany("INSERT OR IGNORE INTO evidence(digest, idx) VALUES (?, ?)", keyed)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def add_checkpoint(self, size: int, root: bytes, note: str) -> None:
        """Remember a checkpoint the log signed; one of the same size and root is replaced (cosignatures)."""
        with self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute("SELECT root FROM checkpoints WHERE size = ?", (size,)).fetchone()
                if row is not None and bytes(row[0]) != root:
                    raise InputError(split_view_message(size, bytes(row[0]), root))
                self.db.execute(
                    "INSERT OR REPLACE INTO checkpoints(size, root, note) VALUES (?, ?, ?)",
                    (size, root, note),
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        """Every checkpoint issued, oldest first."""
        return [
            (int(a), bytes(b), str(c))
            for a, b, c in self.read.execute("SELECT size, root, note FROM checkpoints ORDER BY size")
        ]

    def checkpoint_at(self, size: int) -> tuple[bytes, str] | None:
        """The root and note of the checkpoint issued at ``size``, if any."""
        row = self.read.execute("SELECT root, note FROM checkpoints WHERE size = ?", (size,)).fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

    def newest_checkpoint(self) -> str | None:
        """The note of the checkpoint of the largest size, if any."""
        row = self.read.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        return str(row[0]) if row else None

    def put_result(self, index: int, status: str, result: str) -> None:
        """Keep what a collector's verifier said of entry ``index``."""
        with self._writing():
            self.db.execute(
                "INSERT OR REPLACE INTO results(idx, status, result) VALUES (?, ?, ?)",
                (index, status, result),
            )

    def put_results(self, rows: list[tuple[int, str, str]]) -> None:
        """Keep the verdicts of several entries in one transaction (one durable commit: a collector's group)."""
        with self._writing():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO results(idx, status, result) VALUES (?, ?, ?)", rows
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def result(self, index: int) -> str | None:
        """The result JSON kept for entry ``index``, if any."""
        row = self.read.execute("SELECT result FROM results WHERE idx = ?", (index,)).fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        """Close the database and the entries file."""
        self._close_db()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
