"""A database that fails (locked, read-only, damaged, disconnected) is the project's error, said once.

Every store derives from :class:`attest.storage.DatabaseStore`, which turns its driver's errors
into :class:`attest.errors.StoreError`: ``verify_envelope`` raises that (no verdict without its
state) instead of a raw ``sqlite3.Error``, and ``attest verify`` prints one clear line and exits 2
instead of "internal error ... this is a bug". Real SQLite files and a real PostgreSQL server.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from attest.daemon.state import ChainDB
from attest.errors import AttestError, StoreError
from attest.log.postgres import PostgresLog, PostgresVerifierState
from attest.log.store import SqliteLog
from attest.replay import SqliteVerifierState
from attest.storage import DatabaseStore
from attest.verify import verify_envelope
from tests.conftest import NOW, CliRunner, make_envelope, trusted_node

LATER = NOW + timedelta(minutes=1)


def _one_clear_line(stderr: str) -> None:
    assert stderr.startswith("error: the verifier state"), stderr
    assert "internal error" not in stderr and "Traceback" not in stderr and "this is a bug" not in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("error:")]) == 1


def test_every_store_is_a_database_store() -> None:
    for store in (SqliteVerifierState, PostgresVerifierState, SqliteLog, PostgresLog, ChainDB):
        assert issubclass(store, DatabaseStore), store


def test_a_driver_error_in_any_method_becomes_a_store_error(tmp_path: Path) -> None:
    class Broken(DatabaseStore):
        store_name = "the test store"

        def read(self) -> None:
            raise sqlite3.OperationalError("database disk image is malformed")

        def other(self) -> None:
            raise ValueError("not a database error")

    with pytest.raises(StoreError, match="the test store is damaged: database disk image is malformed") as err:
        Broken().read()
    assert err.value.hint and isinstance(err.value, AttestError)
    with pytest.raises(ValueError, match="not a database error"):  # only the driver's errors are translated
        Broken().other()


def test_a_damaged_state_file(workspace: Path, cli: CliRunner) -> None:
    (workspace / "v.db").write_bytes(b"this is not a SQLite database, whatever its name says\n" * 200)
    with pytest.raises(StoreError, match="is not a database file"):
        SqliteVerifierState(workspace / "v.db")
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--state", "v.db", check_code=2)
    _one_clear_line(out.stderr)
    assert "is not a database file" in out.stderr and out.stdout == ""


def test_a_locked_state_raises_rather_than_judges(tmp_path: Path) -> None:
    node = trusted_node()
    path = tmp_path / "v.db"
    SqliteVerifierState(path).close()
    state = SqliteVerifierState(path, timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, past the timeout
    try:
        with pytest.raises(StoreError, match="is locked by another process"):
            verify_envelope(node.envelope(), node.trust, now=LATER, nonces=state, chains=state)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Once the lock is gone the same envelope is judged, and nothing was recorded by the failed try.
    r = verify_envelope(node.envelope(), node.trust, now=LATER, nonces=state, chains=state)
    assert r.status.value == "affirming"
    state.close()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory that cannot be written: by its mode for a user, a read-only tmpfs for root."""
    where = tmp_path / "ro"
    where.mkdir()
    if os.geteuid() != 0:
        yield where
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True).returncode:
        pytest.skip("root without mount: a read-only directory cannot be made here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _make_read_only(where: Path) -> None:
    if os.geteuid() != 0:
        for p in where.iterdir():
            p.chmod(0o444)
        where.chmod(0o555)
        return
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def test_a_read_only_state(read_only_dir: Path, workspace: Path, cli: CliRunner) -> None:
    node = trusted_node()
    state = SqliteVerifierState(read_only_dir / "v.db")
    verify_envelope(node.envelope(), node.trust, now=LATER, nonces=state, chains=state)
    state.close()
    _make_read_only(read_only_dir)
    with pytest.raises(StoreError, match=r"the verifier state \(.*v\.db\) (is read-only|cannot be opened)"):
        SqliteVerifierState(read_only_dir / "v.db")
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--state", str(read_only_dir / "v.db"), check_code=2)
    _one_clear_line(out.stderr)


def _drop_connections(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_a_dropped_postgres_connection(postgres_url: str) -> None:
    node = trusted_node()
    state = PostgresVerifierState(postgres_url)
    assert verify_envelope(node.envelope(), node.trust, now=LATER, nonces=state, chains=state).status.value == "affirming"
    log = PostgresLog(postgres_url, create=True)
    log.append([b"entry"])
    _drop_connections(postgres_url)
    with pytest.raises(StoreError, match="the verifier state") as err:
        verify_envelope(node.envelope(), node.trust, now=LATER, nonces=state, chains=state)
    assert "@" not in err.value.message.split("(")[0]  # no credentials, no raw driver type name
    with pytest.raises(StoreError, match="the log database"):
        log.size()
    with pytest.raises(StoreError):
        log.append([b"another"])
