"""Landmark server and prover over real UDP on loopback."""

from __future__ import annotations

import base64
import json
import socket

import pytest

from attest.crypto.keys import SigningKey
from attest.errors import EnvelopeError, InputError
from attest.location.landmark import LandmarkServer
from attest.location.prover import measure
from attest.location.receipts import binding_for, check_receipt


@pytest.fixture
def landmark():  # type: ignore[no-untyped-def]
    server = LandmarkServer("sin-lm-1", SigningKey.generate())
    address, stop = server.serve_in_thread()
    yield server, address
    stop.set()


def test_receipt_binds_node_manifest_and_landmark(landmark) -> None:  # type: ignore[no-untyped-def]
    server, address = landmark
    node = SigningKey.generate()
    receipt = measure(address, node, "ab" * 16, rounds=5)
    check_receipt(receipt, server.key.public)
    assert receipt.node_key_id == node.key_id and receipt.landmark_id == "sin-lm-1"
    assert receipt.binding == binding_for(node.key_id, "ab" * 16) != binding_for(node.key_id, "cd" * 16)
    assert 0 < receipt.rtt_ns < 1_000_000_000  # loopback: well under a second
    assert server.counters.receipts == 5  # five rounds, the fastest kept


def test_tampered_receipt_and_wrong_key_fail(landmark) -> None:  # type: ignore[no-untyped-def]
    server, address = landmark
    receipt = measure(address, SigningKey.generate(), "ab" * 16, rounds=1)
    faster = receipt.model_copy(update={"rtt_ns": 1})  # a node would like to look closer
    with pytest.raises(EnvelopeError, match="does not verify"):
        check_receipt(faster, server.key.public)
    with pytest.raises(EnvelopeError, match="not the landmark's"):
        check_receipt(receipt, SigningKey.generate().public)


def send(address: tuple[str, int], data: bytes, *, expect_reply: bool) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(data, address)
        try:
            return s.recv(8192)
        except TimeoutError:
            assert not expect_reply
            return None


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"t": "hello"}',
        b'{"t": "nope"}',
        b'{"t": "hello", "node_pub": "AAAA", "binding": "x"}',
        b'{"t": "response", "sid": "x", "sig": "@@"}',
        b"{" * 5000,
        b'{"t": "hello", "t": "response"}',
    ],
)
def test_malformed_datagrams_are_dropped_and_counted(landmark, datagram: bytes) -> None:  # type: ignore[no-untyped-def]
    server, address = landmark
    assert send(address, datagram, expect_reply=False) is None
    assert server.counters.malformed + server.counters.expired >= 1
    # And the landmark still serves.
    check_receipt(measure(address, SigningKey.generate(), "ab" * 16, rounds=1), server.key.public)


def test_forged_response_gets_no_receipt(landmark) -> None:  # type: ignore[no-untyped-def]
    server, address = landmark
    node, impostor = SigningKey.generate(), SigningKey.generate()
    binding = binding_for(node.key_id, "ab" * 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.connect(address)
        s.send(json.dumps({"t": "hello", "node_pub": node.public.spki_b64(), "binding": binding}).encode())
        challenge = json.loads(s.recv(4096))
        sig = base64.b64encode(impostor.sign(b"anything")).decode()
        s.send(json.dumps({"t": "response", "sid": challenge["sid"], "sig": sig}).encode())
        assert json.loads(s.recv(4096))["t"] == "error"
    assert server.counters.bad_signature == 1 and server.counters.receipts == 0


def test_rate_limit_bounds_a_flood() -> None:
    server = LandmarkServer("x", SigningKey.generate(), rate_per_s=5, burst=10)
    hello = json.dumps(
        {"t": "hello", "node_pub": SigningKey.generate().public.spki_b64(), "binding": "sha256:" + "0" * 64}
    ).encode()
    answers = [server.handle(hello, ("127.0.0.1", 9)) for _ in range(200)]
    assert sum(a is not None for a in answers) <= 11 and server.counters.rate_limited >= 189
    assert len(server._sessions) <= 11


def test_sessions_are_bounded() -> None:
    server = LandmarkServer("x", SigningKey.generate(), max_sessions=50, rate_per_s=1e9, burst=1e9)
    pub = SigningKey.generate().public.spki_b64()
    for i in range(500):
        server.handle(
            json.dumps({"t": "hello", "node_pub": pub, "binding": "sha256:" + "0" * 64}).encode(),
            (f"10.0.{i // 250}.{i % 250}", 9),
        )
    assert len(server._sessions) == 50


def test_unreachable_landmark_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        silent = s.getsockname()  # bound, never answers
        with pytest.raises(InputError, match="no receipt from landmark"):
            measure(silent, SigningKey.generate(), "ab" * 16, rounds=2, timeout_s=0.1)


def _challenge(address: tuple[str, int], node: SigningKey, binding: str) -> tuple[socket.socket, dict]:  # type: ignore[type-arg]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect(address)
    s.send(json.dumps({"t": "hello", "node_pub": node.public.spki_b64(), "binding": binding}).encode())
    return s, json.loads(s.recv(4096))


def test_gpu_timed_receipt_records_the_digests_the_node_signed(landmark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The real prover with simulated GPUs: the digests in the receipt are the reports' SHA-256 over the derived nonce."""
    from attest.hardware import SimulatedGpuSource
    from attest.hardware.binding import SimulatedCcSource
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from attest.location.prover import measure_timed
    from attest.location.receipts import gpu_nonce, report_digest

    server, address = landmark
    node = SigningKey.generate()
    gpus = SimulatedGpuSource("h100", seed="n1", hostname="n1").read().gpus[:2]
    vendor = SimulatedCcBackend(tmp_path / "vendor", report_ms=5)
    timed = measure_timed(address, node, "ab" * 16, gpus, SimulatedCcSource(vendor), rounds=2)
    r = timed.receipt
    check_receipt(r, server.key.public)
    assert r.gpu_reports == [report_digest(timed.reports[g.index]) for g in gpus]
    asked = gpu_nonce(bytes.fromhex(r.nonce), node.key_id, r.binding)
    assert all(rep[4:36] == asked for rep in timed.reports.values())
    assert r.rtt_ns >= 5_000_000  # the clock ran while the GPUs made their reports (in parallel: not 2 x 5 ms)
    assert [t.receipt_nonce for t in timed.timed_reports()] == [r.nonce, r.nonce]


@pytest.mark.parametrize(
    "digests",
    [["sha256:" + "ab" * 32, "SHA256:" + "ab" * 32], [], ["sha256:" + "ab" * 32] * 49, "sha256:" + "ab" * 32, [7]],
    ids=["bad-digest", "empty", "too-many", "not-a-list", "not-text"],
)
def test_malformed_gpu_digests_get_no_receipt(landmark, digests) -> None:  # type: ignore[no-untyped-def]
    from attest.location.receipts import challenge_message

    server, address = landmark
    node = SigningKey.generate()
    binding = binding_for(node.key_id, "ab" * 16)
    s, ch = _challenge(address, node, binding)
    with s:
        sig = base64.b64encode(node.sign(b"anything")).decode()
        s.send(json.dumps({"t": "response", "sid": ch["sid"], "sig": sig, "gpu_reports": digests}).encode())
        with pytest.raises(TimeoutError):
            s.recv(4096)
    assert server.counters.malformed == 1 and server.counters.receipts == 0
    assert challenge_message(b"n", binding, ["sha256:" + "ab" * 32]) != challenge_message(b"n", binding)


def test_digests_changed_after_signing_are_refused(landmark) -> None:  # type: ignore[no-untyped-def]
    """The node's signature covers the digests: a relay cannot swap in other reports' digests."""
    from attest.location.receipts import challenge_message

    server, address = landmark
    node = SigningKey.generate()
    binding = binding_for(node.key_id, "ab" * 16)
    s, ch = _challenge(address, node, binding)
    with s:
        signed = ["sha256:" + "ab" * 32]
        sig = base64.b64encode(node.sign(challenge_message(bytes.fromhex(ch["nonce"]), binding, signed))).decode()
        s.send(json.dumps({"t": "response", "sid": ch["sid"], "sig": sig, "gpu_reports": ["sha256:" + "cd" * 32]}).encode())
        assert json.loads(s.recv(4096))["t"] == "error"
    assert server.counters.bad_signature == 1 and server.counters.receipts == 0
