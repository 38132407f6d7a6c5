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


def test_connections_beyond_the_cap_are_closed_on_arrival(collector: Any, tmp_path: Path) -> None:
    _, db, _, trust_path = collector
    proc, base = serve(db, trust_path, tmp_path / "log.key", "--max-connections", "20", "--header-timeout", "30")
    host, port = base.removeprefix("http://").split(":")
    socks = []
    try:
        socks = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
        time.sleep(0.5)  # let the server take them all
        extra = socket.create_connection((host, int(port)), timeout=10)
        assert _closed_by_server([extra], within_s=10) == 1
        extra.close()
        assert _closed_by_server(socks, within_s=0.5) == 0  # the first twenty are still open
        socks.pop().close()
        time.sleep(0.5)
        assert http("GET", f"{base}/healthz")[0] == 200  # a freed slot serves again
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.communicate(timeout=10)
