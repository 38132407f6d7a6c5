"""The C2SP tlog-witness as a real service on loopback, the collector gathering cosignatures, verifiers requiring them."""

from __future__ import annotations

import http.server as http_server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.log import Log
from attest.log.monitor import LogKey
from attest.log.witness import Witness, WitnessKey, add_checkpoint_request, count_cosignatures
from tests.log.test_collector import http, serve


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "attest.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(proc.stderr.read() if proc.stderr else "did not start")
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    return proc.communicate(timeout=10)[1]


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[tuple[str, WitnessKey, SigningKey, Path]]:
    """A log (tmp/audit.db, key log.key, log.pub) and a witness following it (its vkey in w.vkey)."""
    key, wkey = SigningKey.generate(), SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    write_private_key(tmp_path / "w.key", wkey)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    (tmp_path / "log.pub").write_text(log.store.meta("verifier_key") or "")
    log.store.close()
    proc, banner = _start("log", "witness", "serve", "--name", "witness.example/w1", "--key", str(tmp_path / "w.key"),
                          "--log-key", str(tmp_path / "log.pub"), "--state", str(tmp_path / "w.db"),
                          "--listen", "127.0.0.1:0")
    (tmp_path / "w.vkey").write_text(banner["witness"])
    try:
        yield "http://" + banner["listening"], WitnessKey.parse(banner["witness"]), key, tmp_path
    finally:
        assert "Traceback" not in _stop(proc)


def _add(url: str, old: int, proof: list[bytes], note: str) -> tuple[int, bytes]:
    return http("POST", f"{url}/add-checkpoint", add_checkpoint_request(old, proof, note))


def _grow(log: Log, key: SigningKey, n: int) -> str:
    log.append([b"entry %d\n" % i for i in range(log.size, n)])
    return log.checkpoint(key)


def test_a_witness_cosigns_consistent_checkpoints_and_refuses_others(witness: Any) -> None:
    url, wkey, key, tmp = witness
    log = Log.open(tmp / "audit.db")
    note5 = _grow(log, key, 5)
    status, body = _add(url, 0, [], note5)
    assert status == 200 and count_cosignatures(note5 + body.decode(), [wkey]) == 1
    note9 = _grow(log, key, 9)
    proof = [bytes.fromhex(h) for h in log.consistency(5, 9)["path"]]
    status, body = _add(url, 5, proof, note9)
    assert status == 200 and count_cosignatures(note9 + body.decode(), [wkey]) == 1
    assert count_cosignatures(note5 + body.decode(), [wkey]) == 0  # a cosignature is of one checkpoint
    # a stale old size: 409 with the size last cosigned
    status, body = _add(url, 5, proof, note9)
    assert (status, body) == (409, b"9\n")
    # the same size with another root: 409
    other = Log.init(tmp / "other.db", "example.com/log", key)
    other.append([b"forked %d\n" % i for i in range(9)])
    forked9 = other.checkpoint(key)
    assert _add(url, 9, [], forked9)[0] == 409
    # an inconsistent checkpoint, with a proof that is valid in the fork: 422
    other.append([b"forked %d\n" % i for i in range(9, 12)])
    forked12 = other.checkpoint(key)
    bad_proof = [bytes.fromhex(h) for h in other.consistency(9, 12)["path"]]
    assert _add(url, 9, bad_proof, forked12)[0] == 422
    # the honest log goes on being cosigned
    note12 = _grow(log, key, 12)
    assert _add(url, 9, [bytes.fromhex(h) for h in log.consistency(9, 12)["path"]], note12)[0] == 200
    # unknown origin 404, not the log's signature 403, malformed 400, old above size 400
    stranger = Log.init(tmp / "stranger.db", "example.com/other", key)
    assert _add(url, 0, [], stranger.checkpoint(key))[0] == 404
    impostor = Log.init(tmp / "impostor.db", "example.com/log", SigningKey.generate())
    impostor.append([b"x\n"])
    assert _add(url, 0, [], _impostor_note(impostor))[0] == 403
    assert http("POST", f"{url}/add-checkpoint", b"hello")[0] == 400
    assert _add(url, 13, [], note12)[0] == 400


def _impostor_note(log: Log) -> str:
    from attest.log.checkpoint import Checkpoint

    return Checkpoint(log.origin, log.size, log.root()).sign(log.origin, SigningKey.generate())


def test_the_collector_gathers_cosignatures_and_verifiers_require_them(witness: Any, cli: Any) -> None:
    """A verifier requiring one cosignature accepts the witnessed checkpoint and refuses an uncosigned one."""
    from tests.conftest import trusted_node

    url, wkey, _, tmp = witness
    node = trusted_node()
    node.trust.save(tmp / "trust.json")
    proc, base = serve(tmp / "audit.db", tmp / "trust.json", tmp / "log.key", "--witness", f"{url}={tmp / 'w.vkey'}")
    try:
        assert http("POST", f"{base}/v1/manifests", node.envelope())[0] == 200
        deadline = time.monotonic() + 30
        note = ""
        while time.monotonic() < deadline:
            note = http("GET", f"{base}/v1/checkpoint")[1].decode()
            if note.startswith("example.com/log\n1\n") and count_cosignatures(note, [wkey]):
                break
            time.sleep(0.2)
        assert count_cosignatures(note, [wkey]) == 1
        out = cli("log", "checkpoint", "--log", base, "--key", str(tmp / "log.pub"), "--witness", str(tmp / "w.vkey"),
                  "--cosignatures", "1", check_code=0)
        assert out.stdout == note
        cli("log", "monitor", "--log", base, "--key", str(tmp / "log.pub"), "--state", str(tmp / "m.json"),
            "--witness", str(tmp / "w.vkey"), "--cosignatures", "1", check_code=0)
        cli("log", "proof", "--log", base, "--key", str(tmp / "log.pub"), "--inclusion", "0",
            "--witness", str(tmp / "w.vkey"), "--cosignatures", "1", check_code=0)
    finally:
        _stop(proc)
    # the cosigned checkpoint is kept with the log
    assert count_cosignatures(Log.open(tmp / "audit.db").store.checkpoints()[-1][2], [wkey]) == 1
    # a collector without the witness: its checkpoints carry no cosignature, and are refused
    key2 = SigningKey.generate()
    write_private_key(tmp / "log2.key", key2)
    Log.init(tmp / "audit2.db", "example.com/log", key2).store.close()
    TrustStore().save(tmp / "trust2.json")
    proc, base = serve(tmp / "audit2.db", tmp / "trust2.json", tmp / "log2.key")
    try:
        (tmp / "log2.pub").write_text(Log.open(tmp / "audit2.db").store.meta("verifier_key") or "")
        out = cli("log", "checkpoint", "--log", base, "--key", str(tmp / "log2.pub"), "--witness",
                  str(tmp / "w.vkey"), "--cosignatures", "1", check_code=3)
        assert "0 valid witness cosignature" in out.stderr and out.stdout == ""
        cli("log", "monitor", "--log", base, "--key", str(tmp / "log2.pub"), "--state", str(tmp / "m2.json"),
            "--witness", str(tmp / "w.vkey"), "--cosignatures", "1", check_code=3)
        assert "needs at least as many" in cli("log", "checkpoint", "--log", base, "--key", str(tmp / "log2.pub"),
                                               "--cosignatures", "1", check_code=2).stderr
    finally:
        _stop(proc)


class _SkewedWitness(http_server.BaseHTTPRequestHandler):
    """A real Witness whose clock is ``skew`` seconds off this machine's."""

    witness: Witness
    skew = 0.0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.witness.add_checkpoint(body, now=time.time() + type(self).skew)
        data = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` of its answers, by its clock too."""
        return super().date_time_string(time.time() + type(self).skew)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_collector_whose_clock_disagrees_with_its_witness_judges_nothing(tmp_path: Path) -> None:
    """The witness's signed time says this collector's clock is 2 h off: 503 until the clocks agree again."""
    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    _SkewedWitness.witness = Witness("witness.example/w9", SigningKey.generate(),
                                     [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    _SkewedWitness.skew = -7200.0
    (tmp_path / "w.vkey").write_text(_SkewedWitness.witness.vkey)
    log.store.close()
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _SkewedWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    envs = [node.envelope(node.manifest(now=now, chain=True)) for _ in range(3)]
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key",
                       "--witness", f"http://127.0.0.1:{server.server_address[1]}={tmp_path / 'w.vkey'}")
    try:
        # It asked the witness's time (its answers' Date) before serving: nothing is judged.
        status, body = http("POST", f"{base}/v1/manifests", envs[1])
        assert status == 503 and "off every witness" in json.loads(body)["error"]
        _SkewedWitness.skew = 0.0  # the clocks agree again
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = http("POST", f"{base}/v1/manifests", envs[1])
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200 and json.loads(body)["leaf_index"] == 0
        wkey = WitnessKey.parse(_SkewedWitness.witness.vkey)
        while time.monotonic() < deadline:  # until the checkpoint of size 1 was cosigned
            if count_cosignatures(http("GET", f"{base}/v1/checkpoint")[1].decode(), [wkey]):
                break
            time.sleep(0.2)
        # Its clock drifts 2 h ahead of the witness's: the witness refuses its next checkpoint, and
        # the refusal's Date says why.
        _SkewedWitness.skew = -7200.0
        status, body = http("POST", f"{base}/v1/manifests", envs[2])
        deadline = time.monotonic() + 60
        while status == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body = http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(now=now, chain=True)))
        assert status == 503 and "off every witness" in json.loads(body)["error"]
    finally:
        server.shutdown()
        assert "Traceback" not in _stop(proc)


def test_one_key_under_two_names_counts_as_one_witness() -> None:
    """cosignature/v1 does not commit to the name: a signature copied under a second name is not a second witness."""
    import base64

    from attest.log.checkpoint import DASH, Checkpoint
    from attest.log.witness import cosign, cosigner_key_id

    log_key, wkey = SigningKey.generate(), SigningKey.generate()
    note = Checkpoint("example.com/log", 3, b"\x01" * 32, 1_800_000_000).sign("example.com/log", log_key)
    body = note.partition("\n\n")[0] + "\n"
    line = cosign(body, "w1.example/a", wkey, 1_800_000_100)
    raw = base64.b64decode(line.split(" ")[2])
    copied = f"{DASH} w2.example/b {base64.b64encode(cosigner_key_id('w2.example/b', wkey.public) + raw[4:]).decode()}\n"
    both = [WitnessKey("w1.example/a", wkey.public), WitnessKey("w2.example/b", wkey.public)]
    assert count_cosignatures(note + line + copied, both) == 1
    other = SigningKey.generate()
    assert count_cosignatures(note + line + cosign(body, "w3.example/c", other, 1_800_000_100),
                              [*both, WitnessKey("w3.example/c", other.public)]) == 2


def _skewed_witness(tmp_path: Path, log: Log, skew: float) -> http_server.ThreadingHTTPServer:
    _SkewedWitness.witness = Witness("witness.example/w5", SigningKey.generate(),
                                     [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    _SkewedWitness.skew = skew
    (tmp_path / "w.vkey").write_text(_SkewedWitness.witness.vkey)
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _SkewedWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_collector_whose_clock_runs_ahead_signs_and_logs_nothing(tmp_path: Path) -> None:
    """F8: this collector's clock is 2 h ahead of its witness's. It asks the witness's time before
    serving, so not even its first entry or checkpoint (which would freeze the log's other writers
    for 2 h) gets in: 503, the log stays empty."""
    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    log.store.close()
    server = _skewed_witness(tmp_path, log, -7200.0)
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key",
                       "--witness", f"http://127.0.0.1:{server.server_address[1]}={tmp_path / 'w.vkey'}")
    try:
        status, body = http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(now=datetime.now(UTC))))
        assert status == 503 and "off every witness" in json.loads(body)["error"]
        assert http("GET", f"{base}/v1/checkpoint")[0] == 503
    finally:
        server.shutdown()
        assert "Traceback" not in _stop(proc)
    log = Log.open(tmp_path / "audit.db")
    assert log.size == 0 and log.store.checkpoints() == []


def test_an_entry_from_a_clock_ahead_does_not_freeze_a_collector_its_witness_vouches_for(tmp_path: Path) -> None:
    """F8: another collector of this log, its clock 2 h ahead, logged an entry and signed a checkpoint
    timed 2 h ahead. This collector's witness cosigns again (a signed time, not an HTTP Date) the
    checkpoint it cosigned before, and that agrees with this clock: it keeps logging (without a
    witness it could not tell which clock is wrong, and answers 503), and it does not carry the
    future time into its own checkpoints."""
    import sqlite3

    from attest.log.checkpoint import Checkpoint
    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    log.store.close()
    server = _skewed_witness(tmp_path, log, 0.0)
    wkey = WitnessKey.parse(_SkewedWitness.witness.vkey)
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    now = datetime.now(UTC)
    first, env = (node.envelope(node.manifest(now=now, chain=True)) for _ in range(2))
    witnessed = ("--witness", f"http://127.0.0.1:{server.server_address[1]}={tmp_path / 'w.vkey'}")
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key", *witnessed)
    try:
        assert http("POST", f"{base}/v1/manifests", first)[0] == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the checkpoint of size 1 was cosigned
            if count_cosignatures(http("GET", f"{base}/v1/checkpoint")[1].decode(), [wkey]):
                break
            time.sleep(0.2)
    finally:
        assert "Traceback" not in _stop(proc)
    # The other collector, 2 h ahead: an entry and a checkpoint from the future.
    log = Log.open(tmp_path / "audit.db")
    log.append([b"from the collector whose clock runs ahead"])
    future = int(time.time()) + 7200
    log.store.add_checkpoint(2, log.root(2), Checkpoint(log.origin, 2, log.root(2), future).sign(log.key_name, key))
    log.store.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("UPDATE entries SET at = ? WHERE idx = 1", (future,))
    # Without a witness nothing says which clock is wrong: it judges nothing.
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key")
    try:
        status, body = http("POST", f"{base}/v1/manifests", env)
        assert status == 503 and "clock is behind" in json.loads(body)["error"]
    finally:
        assert "Traceback" not in _stop(proc)
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key", *witnessed)
    try:
        status, body = http("POST", f"{base}/v1/manifests", env)
        assert status == 200 and json.loads(body)["leaf_index"] == 2, body
        assert http("GET", f"{base}/v1/checkpoint")[0] == 503  # the future time is not carried forward
    finally:
        server.shutdown()
        err = _stop(proc)
        assert "Traceback" not in err
    assert "ahead of this clock" in err
    assert [size for size, _, _ in Log.open(tmp_path / "audit.db").store.checkpoints()] == [1, 2]


class _EvilWitness(http_server.BaseHTTPRequestHandler):
    """A real Witness whose reply carries, after its valid cosignature, lines it has no business adding."""

    witness: Witness
    extra = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = self.witness.add_checkpoint(body)
        data = (answer.body + type(self).extra if answer.status == 200 else answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_witness_cannot_add_lines_to_the_logs_checkpoint(tmp_path: Path) -> None:
    """A witness answers its cosignature plus a bogus signature line in the log's own name, a line
    in another name and junk: the stored and served checkpoint keeps the log's signature and that
    witness's one verified cosignature, nothing else."""
    import base64

    from attest.log.checkpoint import DASH, key_id
    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    _EvilWitness.witness = Witness("witness.example/w8", SigningKey.generate(),
                                   [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    bogus = base64.b64encode(key_id(log.key_name, log.public) + bytes(64)).decode()
    _EvilWitness.extra = (f"{DASH} {log.key_name} {bogus}\n{DASH} other.example/w {bogus}\nnot a signature\n")
    (tmp_path / "w.vkey").write_text(_EvilWitness.witness.vkey)
    log.store.close()
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _EvilWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key",
                       "--witness", f"http://127.0.0.1:{server.server_address[1]}={tmp_path / 'w.vkey'}")
    wkey = WitnessKey.parse(_EvilWitness.witness.vkey)
    try:
        assert http("POST", f"{base}/v1/manifests", node.envelope(node.manifest(now=datetime.now(UTC))))[0] == 200
        deadline = time.monotonic() + 30
        note = ""
        while time.monotonic() < deadline:  # until the checkpoint of size 1 was cosigned
            note = http("GET", f"{base}/v1/checkpoint")[1].decode()
            if count_cosignatures(note, [wkey]):
                break
            time.sleep(0.2)
    finally:
        server.shutdown()
        assert "Traceback" not in _stop(proc)
    assert count_cosignatures(note, [wkey]) == 1
    stored = Log.open(tmp_path / "audit.db").store.checkpoints()[-1][2]
    for served in (note, stored):
        signatures = served.partition("\n\n")[2].splitlines()
        assert len(signatures) == 2, served
        assert signatures[0].startswith(f"{DASH} {log.key_name} ") and bogus not in served
        assert signatures[1].startswith(f"{DASH} witness.example/w8 ")


def test_checkpoint_time_lines_never_go_backwards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's clock is set back an hour: its next checkpoint keeps the newest one's time; a
    witness refuses a checkpoint of the same log whose time goes back (a log signing one anyway)."""
    import attest.log as log_mod
    from attest.log.checkpoint import Checkpoint, open_checkpoint

    key = SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    witness = Witness("witness.example/w7", SigningKey.generate(), [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    log.append([b"one"])
    first = log.checkpoint(key)
    t1 = open_checkpoint(first, log.key_name, log.public).timestamp
    assert t1 is not None
    assert witness.add_checkpoint(add_checkpoint_request(0, [], first)).status == 200
    monkeypatch.setattr(log_mod.time, "time", lambda: float(t1 - 50))  # the clock set back a little
    log.append([b"two"])
    second = log.checkpoint(key)
    assert open_checkpoint(second, log.key_name, log.public).timestamp == t1
    proof = [bytes.fromhex(h) for h in log.consistency(1, 2)["path"]]
    assert witness.add_checkpoint(add_checkpoint_request(1, proof, second)).status == 200
    log.append([b"three"])
    backdated = Checkpoint(log.origin, 3, log.root(3), t1 - 60).sign(log.key_name, key)
    proof = [bytes.fromhex(h) for h in log.consistency(2, 3)["path"]]
    answer = witness.add_checkpoint(add_checkpoint_request(2, proof, backdated))
    assert answer.status == 400 and "goes back" in answer.body
    later = Checkpoint(log.origin, 3, log.root(3), t1 + 1).sign(log.key_name, key)
    assert witness.add_checkpoint(add_checkpoint_request(2, proof, later)).status == 200
    # Set back an hour (or another collector's clock an hour ahead): that time is not carried
    # forward (it would freeze every writer's time line for an hour); nothing is signed.
    monkeypatch.setattr(log_mod.time, "time", lambda: float(t1 - 3600))
    with pytest.raises(InputError, match="ahead of this clock"):
        log.checkpoint(key)
    assert [size for size, _, _ in log.store.checkpoints()] == [1, 2]


def test_a_time_line_far_in_the_future_is_refused_by_witnesses_and_monitors(tmp_path: Path, cli: Any) -> None:
    """A log whose clock runs 2 h ahead signs a checkpoint: the witness does not cosign it (400), the
    monitor exits 3; within the tolerance both take it."""
    from attest.log.checkpoint import Checkpoint

    key = SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    (tmp_path / "log.pub").write_text(log.store.meta("verifier_key") or "")
    witness = Witness("witness.example/w6", SigningKey.generate(), [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    log.append([b"one"])
    now = int(time.time())
    ahead = Checkpoint(log.origin, 1, log.root(1), now + 7200).sign(log.key_name, key)
    answer = witness.add_checkpoint(add_checkpoint_request(0, [], ahead), now=now)
    assert answer.status == 400 and "ahead of this witness's clock" in answer.body
    log.store.add_checkpoint(1, log.root(1), ahead)
    out = cli("log", "monitor", "--log", "audit.db", "--key", "log.pub", "--state", "m.json", check_code=3)
    assert "ahead of this clock" in out.stderr and not (tmp_path / "m.json").exists()
    fine = Checkpoint(log.origin, 1, log.root(1), now + 30).sign(log.key_name, key)
    assert witness.add_checkpoint(add_checkpoint_request(0, [], fine), now=now).status == 200


def test_a_collector_whose_witnesses_are_unreachable_judges_and_signs_nothing(tmp_path: Path) -> None:
    """Review F3: a collector configured with a witness serves nothing until a witness has confirmed its
    clock with a signed time (its clock may be 2 h ahead: a checkpoint it signed then would freeze the
    log's honest collectors). The witness comes up: the collector's next round confirms, it serves."""
    import socket

    from tests.conftest import trusted_node

    key = SigningKey.generate()
    write_private_key(tmp_path / "log.key", key)
    log = Log.init(tmp_path / "audit.db", "example.com/log", key)
    log.store.close()
    with socket.socket() as s:  # a port nothing listens on, yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _SkewedWitness.witness = Witness("witness.example/w7", SigningKey.generate(),
                                     [LogKey(log.key_name, log.public)], tmp_path / "w.db")
    _SkewedWitness.skew = 0.0
    (tmp_path / "w.vkey").write_text(_SkewedWitness.witness.vkey)
    node = trusted_node()
    node.trust.save(tmp_path / "trust.json")
    raw = node.envelope(node.manifest(now=datetime.now(UTC)))
    proc, base = serve(tmp_path / "audit.db", tmp_path / "trust.json", tmp_path / "log.key",
                       "--witness", f"http://127.0.0.1:{port}={tmp_path / 'w.vkey'}")
    server = None
    try:
        status, body = http("POST", f"{base}/v1/manifests", raw)
        assert status == 503 and "no witness has confirmed this collector's clock" in json.loads(body)["error"]
        assert http("GET", f"{base}/v1/checkpoint")[0] == 503
        assert Log.open(tmp_path / "audit.db").size == 0
        server = http_server.ThreadingHTTPServer(("127.0.0.1", port), _SkewedWitness)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        deadline = time.monotonic() + 60
        while status != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
            status, body = http("POST", f"{base}/v1/manifests", raw)
        assert status == 200 and json.loads(body)["leaf_index"] == 0, body
    finally:
        if server is not None:
            server.shutdown()
        assert "Traceback" not in _stop(proc)
