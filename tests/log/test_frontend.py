"""The collector's front end under slow and abusive clients: real sockets on loopback, a real collector process."""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from pathlib import Path
from typing import Any

from tests.log.test_collector import collector, http, serve

__all__ = ["collector"]


def _closed_by_server(socks: list[socket.socket], within_s: float) -> int:
    """How many of ``socks`` the server closed (EOF or reset) before ``within_s`` ran out."""
    pending, closed = set(socks), 0
    deadline = time.monotonic() + within_s
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending)[:500], [], [], 0.5)
        for s in ready:
            try:
                data = s.recv(4096)
            except ConnectionError:
                data = b""
            if not data or b"408" in data:  # EOF, or the 408 written before closing
                if data:
                    continue  # the close follows
                pending.discard(s)
                closed += 1
    return closed


def test_400_slow_connections_are_closed_while_healthz_answers(collector: Any, tmp_path: Path) -> None:
    """200 never finish their headers, 200 send headers and then a trickle of body: all are closed; /healthz answers."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--header-timeout", "2", "--body-timeout", "2")
    host, port = base.removeprefix("http://").split(":")
    socks: list[socket.socket] = []
    try:
        for i in range(400):
            s = socket.create_connection((host, int(port)), timeout=10)
            if i % 2:
                s.sendall(b"POST /v1/manifests HTTP/1.1\r\nHost: x\r\n")  # headers never end
            else:
                s.sendall(b"POST /v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")  # body never ends
            socks.append(s)
        status, body = http("GET", f"{base}/healthz")
        assert status == 200 and json.loads(body)["ok"] is True
        assert _closed_by_server(socks, within_s=60) == 400
        assert http("GET", f"{base}/healthz")[0] == 200
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and len(err) < 5000


def test_client_resets_leave_no_tracebacks(collector: Any, tmp_path: Path) -> None:
    """Clients that reset mid-body: no traceback, no line per reset."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key")
    host, port = base.removeprefix("http://").split(":")
    try:
        for _ in range(50):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"POST /v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"pay")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            s.close()
        assert http("GET", f"{base}/healthz")[0] == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and err.count("\n") < 5, err


def test_at_the_cap_idle_connections_make_room_for_new_ones(collector: Any, tmp_path: Path) -> None:
    """20 idle connections fill a cap of 20; /healthz still answers, each new connection closing the oldest idle one."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--max-connections", "20", "--header-timeout", "60")
    host, port = base.removeprefix("http://").split(":")
    socks: list[socket.socket] = []
    try:
        socks = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
        for _ in range(3):
            assert http("GET", f"{base}/healthz")[0] == 200
        assert _closed_by_server(socks[:1], within_s=10) == 1  # the oldest idle one went first
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_under_256_descriptors_300_idle_connections_leave_healthz_answering(collector: Any, tmp_path: Path) -> None:
    """The cap stays under the descriptor limit (with the accept backlog in reserve): no EMFILE loop, no stderr flood."""
    import resource
    import subprocess
    import sys

    _, db, _, trust_path = collector

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "collector", "serve", "--log", str(db), "--trust", str(trust_path),
         "--key", str(tmp_path / "log.key"), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit,
    )
    assert proc.stdout is not None
    banner = json.loads(proc.stdout.readline())
    assert banner["max_connections"] < 256
    host, port = banner["listening"].split(":")
    socks: list[socket.socket] = []
    try:
        socks = [socket.create_connection((host, int(port)), timeout=10) for _ in range(300)]
        assert all(http("GET", f"http://{banner['listening']}/healthz")[0] == 200 for _ in range(10))
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Too many open files" not in err and len(err) < 2000, err[:2000]


def _healthz_until(base: str, within_s: float) -> int:
    """GET /healthz until it answers (a refused connection is retried) or ``within_s`` runs out."""
    import urllib.error

    deadline = time.monotonic() + within_s
    while True:
        try:
            return http("GET", f"{base}/healthz")[0]
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                return 0
            time.sleep(0.2)


def test_trickled_bodies_at_the_cap_make_room_for_new_connections(collector: Any, tmp_path: Path) -> None:
    """20 POSTs trickle their bodies into a cap of 20 (a body timeout of 120 s would keep them all):
    each is inside a request, but below the minimum body rate, so /healthz still gets in."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--max-connections", "20", "--body-timeout", "120",
                       "--max-per-network", "0")
    host, port = base.removeprefix("http://").split(":")
    socks: list[socket.socket] = []
    try:
        for _ in range(20):
            s = socket.create_connection((host, int(port)), timeout=10)
            s.sendall(b"POST /v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            socks.append(s)
        time.sleep(2)  # until every one is inside its request (an idle one would simply be evicted)
        assert _healthz_until(base, within_s=30) == 200
        assert _closed_by_server(socks, within_s=30) >= 1
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_one_network_cannot_take_every_connection(collector: Any, tmp_path: Path) -> None:
    """127.0.0.0/24 holds 10 idle connections under --max-per-network 5: its 5 oldest are closed;
    127.0.1.0/24 (another network on loopback) is not affected."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--max-per-network", "5", "--header-timeout", "60",
                       "--listen", "0.0.0.0:0")
    port = int(base.rsplit(":", 1)[1])
    socks: list[socket.socket] = []
    other: list[socket.socket] = []
    try:
        other = [socket.create_connection(("127.0.0.1", port), timeout=10, source_address=("127.0.1.1", 0))
                 for _ in range(3)]
        for _ in range(10):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            time.sleep(0.05)  # accepted in order
        assert _closed_by_server(socks[:5], within_s=10) == 5
        assert _closed_by_server(other, within_s=2) == 0
    finally:
        for s in socks + other:
            s.close()
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err


def test_bodies_too_slow_count_as_refusals(collector: Any, tmp_path: Path) -> None:
    """Two 408s spend a network's refusal budget of 2: its next push is answered 429 unread."""
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--body-timeout", "1", "--refusals", "2")
    host, port = base.removeprefix("http://").split(":")
    try:
        for _ in range(2):
            s = socket.create_connection((host, int(port)), timeout=30)
            s.sendall(b"POST /v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            assert _closed_by_server([s], within_s=20) == 1  # 408, and the connection closed
            s.close()
        status, _ = http("POST", f"{base}/v1/manifests", b"{}")
        assert status == 429
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err
