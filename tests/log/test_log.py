"""The SQLite log: proofs from stored subtrees, checkpoints, idempotent appends, kill -9, the CLI."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import Algorithm, SigningKey, write_private_key
from attest.errors import InputError
from attest.log import Log, merkle
from attest.log.checkpoint import Checkpoint, open_checkpoint, parse_verifier_key, verifier_key
from attest.log.merkle import MemoryTree, root, verify_consistency, verify_inclusion
from attest.log.store import EntryWriter
from tests.conftest import CliRunner


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs on both stores: a SQLite file and a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "log.db")
    return str(request.getfixturevalue("postgres_url"))


def test_store_proofs_equal_the_in_memory_tree(where: str) -> None:
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    ref = MemoryTree()
    data = [f"entry-{i}".encode() for i in range(300)]
    for chunk in range(0, 300, 37):  # several batches
        placed = log.append(data[chunk : chunk + 37])
        assert [a.index for a in placed] == list(range(chunk, min(300, chunk + 37)))
    for d in data:
        ref.append(d)
    for n in (1, 2, 3, 64, 100, 255, 256, 257, 300):
        assert log.root(n) == root(ref.node, n)
        for m in (0, n // 2, n - 1):
            p = log.inclusion(m, n)
            assert verify_inclusion(bytes.fromhex(p["leaf_hash"]), m, n, [bytes.fromhex(h) for h in p["path"]], bytes.fromhex(p["root_hash"]))
        c = log.consistency(n // 3 or 1, n)
        assert verify_consistency(c["old_size"], n, bytes.fromhex(c["old_root"]), bytes.fromhex(c["new_root"]), [bytes.fromhex(h) for h in c["path"]])
    # Re-appending logged bytes returns the existing index; duplicates within a batch too.
    again = log.append([data[5], b"fresh", b"fresh"])
    assert (again[0].index, again[0].new) == (5, False)
    assert (again[1].index, again[1].new) == (300, True) and (again[2].index, again[2].new) == (300, False)
    assert log.size == 301 and log.verify() == []


def test_checkpoints_are_signed_notes(where: str, tmp_path: Path) -> None:
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    log.append([b"a", b"b", b"c"])
    note = log.checkpoint(key)
    text, _, sig = note.partition("\n\n")
    lines = text.split("\n")
    assert lines[:3] == ["example.com/log", "3", Checkpoint("x", 3, log.root()).body().split("\n")[2]]
    assert len(lines) == 4 and lines[3].startswith("time ")  # the time extension line
    assert sig.startswith("\u2014 example.com/log ")
    name, public = parse_verifier_key(log.store.meta("verifier_key") or "")
    cp = open_checkpoint(note, name, public, origin="example.com/log")
    assert (cp.size, cp.root) == (3, log.root())
    # Tampering, another key, another origin: refused.
    with pytest.raises(InputError, match="does not verify"):
        open_checkpoint(note.replace("\n3\n", "\n4\n"), name, public)
    other = SigningKey.generate()
    with pytest.raises(InputError, match="no signature by"):
        open_checkpoint(Checkpoint("example.com/log", 3, log.root()).sign("example.com/log", other), name, public)
    with pytest.raises(InputError, match="not 'other'"):
        open_checkpoint(note, name, public, origin="other")
    with pytest.raises(InputError, match="not the key the log was created with"):
        log.checkpoint(other)
    with pytest.raises(InputError, match="Ed25519"):
        Log.init(str(tmp_path / "p.db"), "x", SigningKey.generate(Algorithm.ECDSA_P256))


def test_verify_finds_damage(where: str) -> None:
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    log.append([f"e{i}".encode() for i in range(10)])
    log.checkpoint(key)
    if where.startswith("postgresql"):
        log.store.db.execute("UPDATE entries SET data = %s WHERE idx = 3", (b"forged",))  # type: ignore[attr-defined]
    else:  # the bytes live in the entries file: change them there, same length
        with Path(where + "-entries").open("r+b") as f:
            f.seek(log.store.db.execute("SELECT off FROM entries WHERE idx = 3").fetchone()[0])  # type: ignore[attr-defined]
            f.write(b"E")
    problems = log.verify()
    assert any("entry 3" in p for p in problems) and any("checkpoint at size 10" in p for p in problems)


def test_verify_finds_a_damaged_subtree_hash(tmp_path: Path) -> None:
    log = Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate())
    log.append([f"e{i}".encode() for i in range(8)])
    # Leaf 7 completes (1, 3), (2, 1) and (3, 0); change the hash of (2, 1) it keeps.
    up = bytearray(log.store.db.execute("SELECT up FROM entries WHERE idx = 7").fetchone()[0])  # type: ignore[attr-defined]
    assert len(up) == 96
    up[40] ^= 1
    log.store.db.execute("UPDATE entries SET up = ? WHERE idx = 7", (bytes(up),))  # type: ignore[attr-defined]
    reopened = Log.open(tmp_path / "log.db")
    assert "subtree (2, 1) does not match its children" in reopened.verify()


CRASH = """
import sys, json
from pathlib import Path
from attest.crypto.keys import load_signing_key
from attest.log import Log, merkle
log = Log.open(sys.argv[1]); key = load_signing_key(Path(sys.argv[2])); repeat = int(sys.argv[3])
i = log.size
while True:
    log.append([f"envelope-{i + j}".encode() * repeat for j in range(50)])
    i += 50
    if i % 500 == 0:
        print(json.dumps({"note": log.checkpoint(key)}), flush=True)
"""


@pytest.mark.parametrize("repeat", [20, 500], ids=["small-batches", "large-batches"])
def test_kill_9_during_appends(where: str, tmp_path: Path, repeat: int) -> None:
    """Batches of 50 entries of ~0.3 KB, or of ~7 KB (which the SQLite store writes to its entries file from a helper thread)."""
    assert (repeat * 50 * len("envelope-0000") >= EntryWriter.THREADED) == (repeat == 500)
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    Log.init(where, "example.com/log", key).store.close()
    proc = subprocess.Popen([sys.executable, "-c", CRASH, where, str(tmp_path / "log.key"), str(repeat)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    notes = []
    while len(notes) < 6:
        notes.append(json.loads(proc.stdout.readline())["note"])
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    notes += [json.loads(line)["note"] for line in proc.stdout.read().splitlines() if line.strip()]
    log = Log.open(where)
    assert log.verify() == []
    assert log.size % 50 == 0  # batches are atomic
    for note in notes:  # every checkpoint issued before the crash is consistent with the log now
        cp = open_checkpoint(note, log.key_name, log.public)
        assert cp.size <= log.size and log.root(cp.size) == cp.root
        proof = log.consistency(cp.size)
        assert verify_consistency(cp.size, log.size, cp.root, log.root(), [bytes.fromhex(h) for h in proof["path"]])
    log.append([b"after the crash"])
    assert log.verify() == []


def test_two_writers_share_one_log(tmp_path: Path) -> None:
    """Two handles (a collector and `attest log append`, say) append in turn: no index is reused."""
    path = tmp_path / "log.db"
    a = Log.init(path, "example.com/log", SigningKey.generate())
    b = Log.open(path)
    assert [x.index for x in a.append([b"one", b"two"])] == [0, 1]
    assert [x.index for x in b.append([b"three"])] == [2]
    assert a.size == 3 and [x.index for x in a.append([b"four", b"three"])] == [3, 2]
    assert b.size == 4 and b.inclusion(3)["root_hash"] == a.root().hex()
    assert a.verify() == [] and [a.store.entry(i) for i in range(4)] == [b"one", b"two", b"three", b"four"]


def test_reads_during_an_append_see_only_committed_entries(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A collector answers proofs on its event loop while a worker thread appends: those answers
    must not name entries whose batch has not committed (and might roll back)."""
    import threading

    from attest.log import postgres, store

    log = Log.init(where, "example.com/log", SigningKey.generate())
    log.append([b"a", b"b", b"c"])
    committed_root = log.root().hex()
    seen: dict[str, object] = {}

    def look() -> None:  # what another thread of this process sees, mid-append
        seen["size"] = log.size
        seen["root"] = log.inclusion(2)["root_hash"]
        seen["find"] = log.store.find(merkle.leaf_hash(b"d"))
        with pytest.raises(InputError):
            log.store.entry(3)
        seen["entry refused"] = True

    def observed(inner: Any) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            t = threading.Thread(target=look)
            t.start()
            t.join(10)
            return inner(*args, **kw)
        return wrapper

    if where.startswith("postgresql"):  # called once the batch's entry rows are inserted
        monkeypatch.setattr(postgres, "node_rows", observed(postgres.node_rows))
    else:  # called once the rows are inserted, before the commit
        monkeypatch.setattr(store.EntryWriter, "finish", observed(store.EntryWriter.finish))
    log.append([b"d", b"e"])
    assert seen == {"size": 3, "root": committed_root, "find": None, "entry refused": True}
    assert log.size == 5 and log.store.find(merkle.leaf_hash(b"d")) == 3


def test_a_database_that_refuses_the_write_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = Log.init(path, "example.com/log", SigningKey.generate())
    log.append([b"a"])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock, past this one's patience
    log.store.db.execute("PRAGMA busy_timeout=200")  # type: ignore[attr-defined]
    with pytest.raises(InputError, match=r"cannot write to the log .*database is locked"):
        log.append([b"b"])
    other.execute("ROLLBACK")
    assert [a.index for a in log.append([b"b"])] == [1] and log.verify() == []


WRITER = """
import sys
from attest.log import Log, merkle
log = Log.open(sys.argv[1])
for k in range(40):
    log.append([f"{sys.argv[2]}-{k}-{j}".encode() * (1 + j % 7) for j in range(25)])
"""


def test_writers_in_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    Log.init(path, "example.com/log", SigningKey.generate()).store.close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("a", "b", "c")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    log = Log.open(path)
    assert log.size == 3 * 40 * 25 and log.verify() == []
    logged = {log.store.entry(i) for i in range(log.size)}
    assert logged == {f"{n}-{k}-{j}".encode() * (1 + j % 7) for n in "abc" for k in range(40) for j in range(25)}


def test_the_entries_file(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    log = Log.init(path, "example.com/log", SigningKey.generate())
    log.append([b"alpha", b"beta"])
    seg = tmp_path / "log.db-entries"
    assert seg.read_bytes() == b"alphabeta"
    # Bytes a crashed batch left past the committed ones are overwritten by the next batch.
    with seg.open("ab") as f:
        f.write(b"bytes of a batch that never committed")
    log = Log.open(path)
    assert log.append([b"gamma"])[0].index == 2
    assert seg.read_bytes() == b"alphabetagamma" and log.verify() == []
    log.store.close()
    # A log whose entries file is shorter than its rows say, or missing, is refused on opening.
    seg.write_bytes(b"alphabeta")
    with pytest.raises(InputError, match="shorter than the log"):
        Log.open(path)
    seg.unlink()
    with pytest.raises(InputError, match=r"log\.db-entries is missing"):
        Log.open(path)
    # A new log never takes over an entries file already there.
    (tmp_path / "new.db-entries").write_bytes(b"x")
    with pytest.raises(InputError, match=r"new\.db-entries already exists"):
        Log.init(tmp_path / "new.db", "example.com/log", SigningKey.generate())
    assert not (tmp_path / "new.db").exists()
    # A SQLite file that is not a log is refused, and left as it was.
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(InputError, match="not a log database"):
        Log.open(other)
    assert [r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")] == ["t"]


def test_a_backup_taken_as_the_readme_says(tmp_path: Path) -> None:
    """The database first, the entries file after (while the log goes on growing): the copy opens as the log was."""
    import shutil

    log = Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate())
    log.append([f"e{i}".encode() for i in range(10)])
    root10 = log.root()
    src, dst = sqlite3.connect(tmp_path / "log.db"), sqlite3.connect(tmp_path / "copy.db")
    src.backup(dst)
    src.close()
    dst.close()
    log.append([b"later", b"still later"])
    shutil.copyfile(tmp_path / "log.db-entries", tmp_path / "copy.db-entries")
    copy = Log.open(tmp_path / "copy.db")
    assert copy.size == 10 and copy.root() == root10 and copy.verify() == []
    assert copy.append([b"in the copy"])[0].index == 10 and copy.verify() == []


def test_a_log_whose_entries_file_may_only_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor with read access: proofs and entries work; an append is a clear error, nothing half-written."""
    import os

    log = Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate())
    log.append([b"a", b"b"])
    log.store.close()
    real_open = os.open

    def no_write(path: Any, flags: int, *args: Any) -> int:  # what a 0444 file gives a non-root user
        if str(path).endswith("-entries") and flags & (os.O_RDWR | os.O_WRONLY):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_write)
    reader = Log.open(tmp_path / "log.db")
    assert reader.store.entry(1) == b"b" and reader.verify() == []
    with pytest.raises(InputError, match=r"cannot write .*log\.db-entries"):
        reader.append([b"c"])
    assert reader.size == 2 and reader.verify() == []


def test_the_entries_file_without_pread_pwrite_or_fdatasync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Windows (no pread/pwrite) and macOS (no fdatasync) offer: the log works the same."""
    import os

    for name in ("pread", "pwrite", "fdatasync"):
        monkeypatch.delattr(os, name)
    log = Log.init(tmp_path / "log.db", "example.com/log", SigningKey.generate())
    big = [f"{i:04d}".encode() * 1750 for i in range(60)]  # 420 KB > 256 KiB: the helper thread writes it
    log.append([b"first", b"second"])
    log.append(big)
    with (tmp_path / "log.db-entries").open("ab") as f:
        f.write(b"tail of a batch that never committed")
    log.append([b"last"])
    assert log.size == 63 and log.verify() == []
    assert [log.store.entry(i) for i in (0, 1, 2, 61, 62)] == [b"first", b"second", big[0], big[59], b"last"]


LEGACY_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL);
CREATE TABLE results (idx INTEGER PRIMARY KEY, status TEXT NOT NULL, result TEXT NOT NULL);
"""


def test_a_log_in_the_layout_before_the_entries_file(tmp_path: Path) -> None:
    """Logs written before 2026-11-29 (bytes in the rows, a nodes table) are read and appended to as they are."""
    key = SigningKey.generate()
    path = tmp_path / "old.db"
    ref = MemoryTree()
    data = [f"old-{i}".encode() for i in range(13)]
    for d in data:
        ref.append(d)
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY_SCHEMA)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("origin", "example.com/old"), ("verifier_key", verifier_key("example.com/old", key.public))])
    conn.executemany("INSERT INTO entries VALUES (?, ?, ?)", [(i, ref.node(0, i), d) for i, d in enumerate(data)])
    conn.executemany("INSERT INTO nodes VALUES (?, ?, ?)", [(lv, i, h) for lv, hs in enumerate(ref.levels) if lv for i, h in enumerate(hs)])
    conn.commit()
    conn.close()
    log = Log.open(path)
    assert log.size == 13 and log.root() == root(ref.node, 13) and log.verify() == []
    more = [f"new-{i}".encode() for i in range(20)]
    assert [a.index for a in log.append(more)] == list(range(13, 33))
    for d in more:
        ref.append(d)
    assert log.root() == root(ref.node, 33) and log.store.entry(20) == more[7]
    assert log.verify() == [] and not (tmp_path / "old.db-entries").exists()


def test_cli(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "--out", "logkey", check_code=0)
    for i in range(5):
        (tmp_path / f"e{i}.json").write_text(json.dumps({"payload": f"e{i}"}))
    cli("log", "init", "--log", "audit.db", "--origin", "example.com/log", "--key", "logkey/attest.key", check_code=0)
    assert "already exists" in cli("log", "init", "--log", "audit.db", "--origin", "x", "--key", "logkey/attest.key", check_code=2).stderr
    out = [json.loads(line) for line in cli("log", "append", *(f"e{i}.json" for i in range(5)), "--log", "audit.db", "--format", "json", "--allow-non-envelope", check_code=0).stdout.splitlines()]
    import hashlib

    assert [o["leaf_index"] for o in out] == [0, 1, 2, 3, 4]
    assert out[2]["leaf_hash"] == hashlib.sha256(b"\x00" + (tmp_path / "e2.json").read_bytes()).hexdigest()
    note = cli("log", "checkpoint", "--log", "audit.db", "--key", "logkey/attest.key", check_code=0).stdout
    assert note.startswith("example.com/log\n5\n")
    inc = json.loads(cli("log", "proof", "--log", "audit.db", "--inclusion", "3", "--format", "json", check_code=0).stdout)
    assert set(inc) == {"leaf_index", "tree_size", "leaf_hash", "root_hash", "path"} and inc["tree_size"] == 5
    con = json.loads(cli("log", "proof", "--log", "audit.db", "--consistency", "2", "5", "--format", "json", check_code=0).stdout)
    assert set(con) == {"old_size", "new_size", "old_root", "new_root", "path"}
    assert all(h == h.lower() and len(h) == 64 for h in con["path"])
    assert json.loads(cli("log", "verify", "--log", "audit.db", "--format", "json", check_code=0).stdout)["ok"] is True
    assert "no entry 9" in cli("log", "proof", "--log", "audit.db", "--inclusion", "9", check_code=2).stderr
    assert "no log at" in cli("log", "verify", "--log", "missing.db", check_code=2).stderr
    assert "postgresql:// URL" in cli("log", "verify", "--log", "https://collector.example/log", check_code=2).stderr


def test_cli_with_a_postgresql_log(cli: CliRunner, postgres_url: str, tmp_path: Path) -> None:
    cli("keygen", "--out", "logkey", check_code=0)
    (tmp_path / "e.json").write_text('{"payload": "x"}')
    cli("log", "init", "--log", postgres_url, "--origin", "example.com/pg", "--key", "logkey/attest.key", check_code=0)
    assert "already holds a log" in cli("log", "init", "--log", postgres_url, "--origin", "x", "--key", "logkey/attest.key", check_code=2).stderr
    out = json.loads(cli("log", "append", "e.json", "--log", postgres_url, "--format", "json", "--allow-non-envelope", check_code=0).stdout)
    assert out["leaf_index"] == 0
    assert cli("log", "checkpoint", "--log", postgres_url, "--key", "logkey/attest.key", check_code=0).stdout.startswith("example.com/pg\n1\n")
    assert json.loads(cli("log", "verify", "--log", postgres_url, "--format", "json", check_code=0).stdout)["ok"] is True
    bad = postgres_url.rsplit("/", 1)[0] + "/no_such_db"
    assert "cannot connect" in cli("log", "verify", "--log", bad, check_code=2).stderr


def test_a_checkpoint_size_is_signed_with_one_root_only(where: str) -> None:
    """Same size, another root (a rewritten log): refused, and the first checkpoint stays (both stores)."""
    key = SigningKey.generate()
    log = Log.init(where, "example.com/log", key)
    log.append([b"a", b"b", b"c"])
    note = log.checkpoint(key)
    with pytest.raises(InputError, match="rewritten"):
        log.store.add_checkpoint(3, b"\x05" * 32, note)
    assert log.store.checkpoints() == [(3, log.root(), note)]
    assert log.checkpoint(key) == note and log.store.checkpoint_at(3) == (log.root(), note)
    assert log.store.integrated_at(0) is not None
    assert sorted(log.store.integration_times()) == [0, 1, 2]
