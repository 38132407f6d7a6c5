"""A PostgreSQL verifier state takes a batch's writes in shared transactions, as SQLite does.

``attest verify --state postgresql://...`` of many files commits its state writes (nonces, chain
heads, sightings, device claims) in a few transactions, all before any verdict is printed: a
batch that fails records nothing of its open transaction and prints nothing, and two processes
batching over the same files still catch a replay between them. A real PostgreSQL server
(tests/log/conftest.py); a refusal is a real trigger in that server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from attest.errors import StoreError
from attest.log.postgres import PostgresVerifierState
from attest.replay import ChainHead
from attest.storage import BatchedStore
from attest.verify import verify_envelope
from tests.conftest import NOW, REPO, Node, trusted_node

LATER = NOW + timedelta(minutes=1)


def _sql(url: str, *statements: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cur = conn.execute(statement)
            rows = cur.fetchall() if cur.description else []
        return rows


def _nonces(url: str) -> set[str]:
    return {str(r[0]) for r in _sql(url, "SELECT nonce FROM verifier_nonce")}


def _refuse(url: str, trigger: str, when: str = "TRUE", why: str = "could not extend file: No space left on device") -> None:
    """Make the server refuse a write (a real PostgreSQL error): ``trigger`` says on which table and when it fires."""
    PostgresVerifierState(url).close()  # the tables, as the CLI creates them
    _sql(
        url,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN IF {when} THEN RAISE EXCEPTION '{why}'; END IF; RETURN NEW; END $$",
        trigger,
    )


def test_the_postgres_state_batches() -> None:
    assert issubclass(PostgresVerifierState, BatchedStore)


def test_a_batch_is_seen_by_others_only_when_it_ends(postgres_url: str, node: Node) -> None:
    s = PostgresVerifierState(postgres_url)
    with s.batch(hold=3600):  # one transaction for the whole block
        for _ in range(4):
            r = verify_envelope(node.envelope(node.manifest(chain=True)), node.trust, now=LATER, nonces=s, chains=s)
            assert r.status.value == "affirming", r.findings
        assert _nonces(postgres_url) == set()  # not yet committed: another process sees none of it
    assert _nonces(postgres_url) == {m.freshness.nonce for m in node.history}
    other = PostgresVerifierState(postgres_url)
    head = other.head(node.key.key_id)
    assert head is not None and head.sequence == node.history[-1].freshness.sequence
    other.close()
    s.close()


def test_a_batch_that_fails_midway_records_nothing(postgres_url: str, node: Node) -> None:
    s = PostgresVerifierState(postgres_url)
    with pytest.raises(RuntimeError, match="stop"), s.batch(hold=3600):
        for _ in range(3):
            r = verify_envelope(node.envelope(node.manifest(chain=True)), node.trust, now=LATER, nonces=s, chains=s)
            assert r.status.value == "affirming"
        raise RuntimeError("stop")
    assert _nonces(postgres_url) == set()
    assert _sql(postgres_url, "SELECT count(*) FROM verifier_chain_head") == [(0,)]
    # The same envelopes again are first uses (nothing was kept), in a batch and out of one.
    for m in node.history:
        with s.batch():
            r = verify_envelope(node.envelope(m), node.trust, now=LATER, nonces=s, chains=s)
        assert r.status.value == "affirming" and "freshness.seen_before" not in [f.rule for f in r.findings]
    s.close()


def test_a_batch_held_past_its_time_commits_where_the_next_verification_begins(postgres_url: str) -> None:
    s, other = PostgresVerifierState(postgres_url), PostgresVerifierState(postgres_url)
    with s.batch(hold=0):
        assert s.check_and_record("k", "n1", NOW)
        s.advance("k", ChainHead(1, "sha256:" + "a" * 64))  # the same verification: the same transaction
        assert _nonces(postgres_url) == set()
        assert s.check_and_record("k", "n2", NOW)  # the next one: the first is committed
        assert _nonces(postgres_url) == {"n1"} and other.head("k") == ChainHead(1, "sha256:" + "a" * 64)
        assert other.check_and_record("k", "n3", NOW)  # a write outside a batch is not held up
        assert not other.check_and_record("k", "n1", NOW)
    assert _nonces(postgres_url) == {"n1", "n2", "n3"}
    s.close()
    other.close()


def test_a_failure_in_committing_is_a_store_error_and_keeps_nothing(postgres_url: str) -> None:
    _refuse(
        postgres_url,
        "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON verifier_nonce DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
    )
    s = PostgresVerifierState(postgres_url)
    with pytest.raises(StoreError, match=r"the verifier state .*No space left on device"), s.batch(hold=3600):
        assert s.check_and_record("k", "n1", NOW)
        assert s.check_and_record("k", "n2", NOW)
    assert _nonces(postgres_url) == set()
    _sql(postgres_url, "DROP TRIGGER refuse ON verifier_nonce")
    with s.batch(hold=3600):  # the same connection works on, in a batch and out of one
        assert s.check_and_record("k", "n1", NOW)
    assert s.check_and_record("k", "n2", NOW) and _nonces(postgres_url) == {"n1", "n2"}
    s.close()


def test_a_connection_dropped_within_a_batch_is_a_store_error(postgres_url: str, node: Node) -> None:
    s = PostgresVerifierState(postgres_url)
    with pytest.raises(StoreError, match="the verifier state"), s.batch(hold=3600):
        assert verify_envelope(node.envelope(), node.trust, now=LATER, nonces=s, chains=s).status.value == "affirming"
        _sql(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        verify_envelope(node.envelope(), node.trust, now=LATER, nonces=s, chains=s)
    assert _nonces(postgres_url) == set()  # the open transaction died with its connection
    s.close()


def _write(where: Path, node: Node, envelopes: dict[str, bytes]) -> None:
    node.trust.save(where / "trust.json")
    for name, raw in envelopes.items():
        (where / name).write_bytes(raw)


def _verify(where: Path, url: str, files: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "attest.cli.main", "verify", *files, "--trust", "trust.json",
        "--now", LATER.isoformat(), "--state", url, "--format", "json",
    ]  # fmt: skip


def _run(where: Path, url: str, files: list[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_verify(where, url, files), cwd=where, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr and "this is a bug" not in proc.stderr, proc.stderr
    return proc


def test_cli_a_batch_that_fails_midway_records_nothing_and_prints_nothing(postgres_url: str, tmp_path: Path) -> None:
    node = trusted_node()
    envelopes = {f"m{i}.json": node.envelope(node.manifest(chain=True)) for i in range(3)}
    _write(tmp_path, node, envelopes)
    # The first envelope's nonce is written, then its chain head is refused by the server.
    _refuse(postgres_url, "CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON verifier_chain_head "
                          "FOR EACH ROW EXECUTE FUNCTION refuse()")  # fmt: skip
    proc = _run(tmp_path, postgres_url, list(envelopes))
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""  # no verdict
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: the verifier state"), proc.stderr
    assert "No space left on device" in proc.stderr and "@" not in errors[0]
    assert _nonces(postgres_url) == set()  # the nonce written before the refusal was rolled back


def test_cli_a_failure_in_committing_prints_no_verdict(postgres_url: str, tmp_path: Path) -> None:
    node = trusted_node()
    manifests = [node.manifest(chain=True) for _ in range(3)]
    envelopes = {f"m{i}.json": node.envelope(m) for i, m in enumerate(manifests)}
    _write(tmp_path, node, envelopes)
    # The last envelope's nonce is refused when its transaction commits, after every verdict was reached.
    _refuse(
        postgres_url,
        "CREATE CONSTRAINT TRIGGER refuse AFTER INSERT ON verifier_nonce DEFERRABLE INITIALLY DEFERRED "
        "FOR EACH ROW EXECUTE FUNCTION refuse()",
        when=f"NEW.nonce = '{manifests[-1].freshness.nonce}'",
        why="could not fsync file: Input/output error",
    )
    proc = _run(tmp_path, postgres_url, list(envelopes))
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "" and "Input/output error" in proc.stderr
    assert manifests[-1].freshness.nonce not in _nonces(postgres_url)


def test_cli_two_processes_never_both_affirm_a_nonce(postgres_url: str, tmp_path: Path) -> None:
    """Two ``attest verify --state postgresql://`` at once over overlapping files: a replay between them is caught."""
    node = trusted_node()
    originals = [node.manifest(chain=True) for _ in range(40)]
    replays = [
        node.manifest(job={"id": f"slurm-other-{i}", "scheduler": "slurm", "phase": "start"},
                      freshness=m.freshness.to_obj())
        for i, m in enumerate(originals[:20])
    ]  # fmt: skip
    envelopes = {f"o{i:02d}.json": node.envelope(m) for i, m in enumerate(originals)}
    envelopes |= {f"r{i:02d}.json": node.envelope(m) for i, m in enumerate(replays)}
    _write(tmp_path, node, envelopes)
    nonce_of = {f"o{i:02d}.json": m.freshness.nonce for i, m in enumerate(originals)}
    nonce_of |= {f"r{i:02d}.json": m.freshness.nonce for i, m in enumerate(replays)}
    PostgresVerifierState(postgres_url).close()  # the tables exist before the race
    first = [f"o{i:02d}.json" for i in range(40)]
    second = [f"r{i:02d}.json" for i in range(20)] + [f"o{i:02d}.json" for i in range(20, 40)]
    procs = [
        subprocess.Popen(_verify(tmp_path, postgres_url, files), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for files in (first, second)
    ]  # fmt: skip
    affirmed: dict[str, set[str]] = {}  # nonce -> the files affirmed with it
    reused: dict[str, set[str]] = {}  # nonce -> the files refused as its replay
    for proc, files in zip(procs, (first, second), strict=True):
        out, err = proc.communicate(timeout=300)
        assert "error:" not in err and "Traceback" not in err, err
        results = [json.loads(line) for line in out.splitlines()]
        assert len(results) == len(files)
        for name, result in zip(files, results, strict=True):
            nonce = nonce_of[name]
            if result["status"] == "affirming":
                affirmed.setdefault(nonce, set()).add(name[0])
            if "freshness.nonce_reused" in [f["rule"] for f in result["findings"]]:
                reused.setdefault(nonce, set()).add(name[0])
    for i, m in enumerate(originals):
        nonce = m.freshness.nonce
        assert len(affirmed.get(nonce, set())) <= 1, (i, affirmed.get(nonce))  # one payload per nonce
        if i < 20:  # the original and its replay, one in each process: exactly one is the replay
            assert len(reused.get(nonce, set())) == 1, (i, reused.get(nonce))
            assert reused[nonce] != affirmed.get(nonce)
        else:  # the same file in both: itself seen again, never a replay
            assert nonce not in reused
    assert _nonces(postgres_url) == {m.freshness.nonce for m in originals}


def test_the_state_machinery_is_one_base_class() -> None:
    """Both verifier states take their batches from BatchedStore and every store method from SqlVerifierState."""
    from attest.replay import SqliteVerifierState, SqlVerifierState

    for store in (SqliteVerifierState, PostgresVerifierState):
        assert issubclass(store, SqlVerifierState) and issubclass(store, BatchedStore)
        own = {name for name in vars(store) if not name.startswith("__")}
        assert own <= {"_dialect", "_sql", "_where", "_time", "_read_time", "_atomic", "close",
                       "_tx_open", "_tx_begin", "_tx_commit", "_tx_rollback"}, own  # fmt: skip
    assert (REPO / "attest" / "storage.py").read_text().count("def batch(") == 1


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_both_states_keep_device_claims_and_bindings_as_memory_does(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """One implementation, two SQL spellings: claims merge and overlap, bindings swap, as in memory."""
    from attest.replay import DeviceClaim, MemoryDeviceStore, SqliteVerifierState

    url = request.getfixturevalue("postgres_url") if kind == "postgres" else ""
    state = PostgresVerifierState(url) if kind == "postgres" else SqliteVerifierState(tmp_path / "v.db")
    memory = MemoryDeviceStore()
    hour = timedelta(hours=1)
    claims = [
        DeviceClaim("gpu-1", "k1", "h1", NOW, NOW + hour),
        DeviceClaim("gpu-1", "k1", "h1", NOW - hour, NOW),  # merged: the earliest since, the newest until
        DeviceClaim("gpu-1", "k2", "h2", NOW + 2 * hour, NOW + 3 * hour),  # no overlap
        DeviceClaim("gpu-1", "k3", "h3", NOW + hour / 2, NOW + 2 * hour),  # overlaps k1 and k2
    ]
    for c in claims:
        assert sorted(state.claim(c), key=str) == sorted(memory.claim(c), key=str)
    assert sorted(state.claims("gpu-1"), key=str) == sorted(memory.claims("gpu-1"), key=str)
    for since, devices in ((NOW, {"a", "b"}), (NOW, {"a", "b"}), (NOW + hour, {"a", "c"}), (NOW, {"z"})):
        got = state.rebind("k1", since, frozenset(devices))
        assert got == memory.rebind("k1", since, frozenset(devices))
    assert state.rebind("k1", NOW + 2 * hour, frozenset({"d"})) == (NOW + hour, frozenset({"a", "c"}))
    state.close()
