"""Monitors catch a log operator's rewrite and forged checkpoints: the real CLI, logs on disk, HTTP on loopback."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.errors import InputError
from attest.log import Log
from attest.log.checkpoint import Checkpoint


def _entries(n: int, skip: int | None = None) -> list[bytes]:
    return [b'{"entry": %d}\n' % i for i in range(n) if i != skip]


def _fresh(tmp_path: Path, key: SigningKey, entries: list[bytes]) -> Log:
    """A log at tmp_path/audit.db (replacing any), holding ``entries``, with a checkpoint of them."""
    for name in ("audit.db", "audit.db-entries", "audit.db-wal", "audit.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    log.append(entries)
    log.checkpoint(key)
    return log


@pytest.fixture
def setup(tmp_path: Path) -> tuple[SigningKey, Path]:
    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = _fresh(tmp_path, key, _entries(10))
    (tmp_path / "log.pub").write_text(log.store.meta("verifier_key") or "")
    (tmp_path / "cp10.txt").write_text(log.checkpoint(key))
    log.store.close()
    return key, tmp_path


def _b64root(log: Log, size: int) -> str:
    return base64.b64encode(log.root(size)).decode()


def test_the_monitor_follows_an_honest_log(setup: Any, cli: Any) -> None:
    key, tmp = setup
    first = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    assert "first checkpoint" in first.stdout
    log = Log.open(tmp / "audit.db")
    log.append(_entries(15)[10:])
    log.checkpoint(key)
    out = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", "--format", "json",
              check_code=0)
    assert json.loads(out.stdout) == {"ok": True, "size": 15, "root": _b64root(log, 15), "first": False}
    assert json.loads((tmp / "m.json").read_text())["size"] == 15


def test_the_monitor_catches_a_log_rebuilt_without_one_entry(setup: Any, cli: Any) -> None:
    """Entry 5 dropped, the log rebuilt and re-signed with the same key: attest log verify passes, the monitor does not."""
    key, tmp = setup
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    old = Log.open(tmp / "audit.db")
    old_root = _b64root(old, 10)
    old.store.close()
    rebuilt = _fresh(tmp, key, _entries(16, skip=5))
    new_root = _b64root(rebuilt, 15)
    rebuilt.store.close()
    assert cli("log", "verify", "--log", "audit.db").returncode == 0  # self-consistent: only history shows it
    out = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=3)
    assert "history rewritten" in out.stderr and old_root in out.stderr and new_root in out.stderr
    # the state still holds the old checkpoint: the next run fails again
    assert json.loads((tmp / "m.json").read_text())["size"] == 10
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=3)
    # a client holding the size-10 checkpoint is told too
    out = cli("log", "proof", "--log", "audit.db", "--key", "log.pub", "--consistency", "10", "15",
              "--since", "cp10.txt", check_code=3)
    assert old_root in out.stderr and new_root in out.stderr and out.stdout == ""


def test_the_monitor_catches_two_roots_for_one_size(setup: Any, cli: Any) -> None:
    key, tmp = setup
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    _fresh(tmp, key, _entries(11, skip=3)).store.close()  # ten entries again, another root
    out = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=3)
    assert "split view" in out.stderr


def test_the_monitor_refuses_a_checkpoint_signed_by_another_key(setup: Any, cli: Any) -> None:
    _key, tmp = setup
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    _fresh(tmp, SigningKey.generate(), _entries(12)).store.close()  # same origin, an impostor's key
    out = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=3)
    assert "not signed by the log's key" in out.stderr


class _FakeLog(http.server.BaseHTTPRequestHandler):
    """A server that pretends to be the collector and serves whatever checkpoint it is given."""

    note = ""

    def do_GET(self) -> None:
        body = self.note.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_log() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeLog)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_a_forged_checkpoint_from_a_fake_server_is_refused(setup: Any, cli: Any, fake_log: str) -> None:
    _key, tmp = setup
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    unsigned = Checkpoint("example.com/log", 20, b"\x07" * 32).body() + "\n"
    impostor = Checkpoint("example.com/log", 20, b"\x07" * 32).sign("example.com/log", SigningKey.generate())
    for forged in (unsigned, impostor):
        _FakeLog.note = forged
        out = cli("log", "checkpoint", "--log", fake_log, "--key", "log.pub", check_code=3)
        assert out.stdout == "" and "not signed by the log's key" in out.stderr
        cli("log", "monitor", "--log", fake_log, "--key", "log.pub", "--state", "m.json", check_code=3)
        cli("log", "proof", "--log", fake_log, "--key", "log.pub", "--inclusion", "0", check_code=3)
    _FakeLog.note = "garbage"
    cli("log", "monitor", "--log", fake_log, "--key", "log.pub", "--state", "m.json", check_code=3)
    (tmp / "bad.pub").write_text("not a key")
    assert "verifier key" in cli("log", "monitor", "--log", fake_log, "--key", "bad.pub", "--state", "m.json",
                                 check_code=2).stderr


def test_same_size_checkpoints_are_never_overwritten(setup: Any) -> None:
    key, tmp = setup
    log = Log.open(tmp / "audit.db")
    (size, root, note) = log.store.checkpoints()[-1]
    with pytest.raises(InputError, match="rewritten"):
        log.store.add_checkpoint(size, b"\x01" * 32, note)
    assert log.store.checkpoints()[-1] == (size, root, note)
    assert log.checkpoint(key) == note  # the same size and root: the note kept, not a new one


class _GarbageLog(_FakeLog):
    """Serves a real signed checkpoint, but garbage for proofs."""

    proof = b"not json"

    def do_GET(self) -> None:
        if self.path.startswith("/v1/checkpoint"):
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.proof)))
        self.end_headers()
        self.wfile.write(self.proof)


def test_garbage_proofs_from_a_server_are_clear_errors_never_tracebacks(setup: Any, cli: Any) -> None:
    key, tmp = setup
    cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=0)
    log = Log.open(tmp / "audit.db")
    log.append(_entries(12)[10:])
    _GarbageLog.note = log.checkpoint(key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _GarbageLog)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for garbage in (b"not json", b"[1, 2]", b'{"path": ["zz"], "old_size": "x"}', b'{"path": []}'):
            _GarbageLog.proof = garbage
            out = cli("log", "monitor", "--log", url, "--key", "log.pub", "--state", "m.json")
            assert out.returncode == 3 and "internal error" not in out.stderr, out.stderr
            out = cli("log", "proof", "--log", url, "--key", "log.pub", "--inclusion", "0")
            assert out.returncode in {2, 3} and "internal error" not in out.stderr, out.stderr
    finally:
        server.shutdown()


def test_the_monitor_catches_a_collector_serving_a_rebuilt_log(setup: Any, cli: Any) -> None:
    """Over HTTP: the collector restarted on a log rebuilt without entry 5 (same key): exit 3, both roots named."""
    from attest.crypto.trust import TrustStore
    from tests.log.test_collector import serve

    key, tmp = setup
    TrustStore().save(tmp / "trust.json")
    proc, base = serve(tmp / "audit.db", tmp / "trust.json", tmp / "log.key")
    try:
        cli("log", "monitor", "--log", base, "--key", "log.pub", "--state", "m.json", check_code=0)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    old_root = json.loads((tmp / "m.json").read_text())["root"]
    rebuilt = _fresh(tmp, key, _entries(13, skip=5))
    new_root = _b64root(rebuilt, 12)
    rebuilt.store.close()
    proc, base = serve(tmp / "audit.db", tmp / "trust.json", tmp / "log.key")
    try:
        out = cli("log", "monitor", "--log", base, "--key", "log.pub", "--state", "m.json", check_code=3)
        assert old_root in out.stderr and new_root in out.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


class _CutOffCollector(http.server.BaseHTTPRequestHandler):
    """Serves a log's newest checkpoint; the consistency proof's connection drops (a network error)."""

    note = ""

    def do_GET(self) -> None:
        if self.path.startswith("/v1/proof/consistency"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        data = type(self).note.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_network_error_on_the_consistency_proof_is_unreachable_not_a_fork(setup: Any, cli: Any) -> None:
    key, tmp = setup
    _CutOffCollector.note = (tmp / "cp10.txt").read_text()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutOffCollector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        cli("log", "monitor", "--log", url, "--key", "log.pub", "--state", "m.json", check_code=0)
        _CutOffCollector.note = _fresh(tmp, key, _entries(12)).checkpoint(key)  # honest growth
        out = cli("log", "monitor", "--log", url, "--key", "log.pub", "--state", "m.json", check_code=2)
        assert "cannot reach" in out.stderr
    finally:
        server.shutdown()
