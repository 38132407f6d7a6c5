"""The landmark server: times a challenge-response round trip over UDP and signs a receipt.

Exchange (one JSON datagram each, at most 4 KiB):

1. node → landmark ``{"t": "hello", "node_pub": <base64 SPKI>, "binding": "sha256:…"}``
2. landmark → node ``{"t": "challenge", "sid": …, "nonce": …}`` — the landmark's monotonic clock starts;
3. node → landmark ``{"t": "response", "sid": …, "sig": <signature over nonce and binding>}`` — it stops;
4. landmark → node ``{"t": "receipt", "receipt": {…}}`` after checking the signature with ``node_pub``.

GPU-timed (v2): the node's response also carries ``"gpu_reports": ["sha256:…", …]``, the
digests of its GPUs' attestation reports over the challenge-derived nonce
(:func:`attest.location.receipts.gpu_nonce`), and its signature covers them; the
clock stops when that response arrives, and the receipt records the digests.
The reports themselves travel in the manifest (datagrams are at most 4 KiB).

Malformed datagrams are dropped and counted, never answered with a crash; each
source network (IPv4 /24, IPv6 /64) is rate limited; sessions are bounded in number and expire.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from attest.crypto.canonical import strict_loads
from attest.crypto.keys import SigningKey, VerifyingKey
from attest.errors import AttestError
from attest.location.receipts import challenge_message, sign_receipt

MAX_DATAGRAM = 4096


@dataclass
class Counters:
    """What the server saw."""

    received: int = 0
    malformed: int = 0
    rate_limited: int = 0
    expired: int = 0
    bad_signature: int = 0
    receipts: int = 0


MAX_GPU_REPORTS = 48
"""GPU report digests one response may carry (73 bytes each, within one datagram)."""

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _digests(value: object) -> list[str] | None:
    """The response's GPU report digests (None for a key-only answer); ValueError when malformed."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_GPU_REPORTS
        or not all(isinstance(d, str) and _DIGEST.match(d) for d in value)
    ):
        raise ValueError(f"gpu_reports must be 1 to {MAX_GPU_REPORTS} sha256:<64 hex> digests")
    return list(value)


@dataclass
class _Session:
    addr: tuple[str, int]
    node: VerifyingKey
    binding: str
    nonce: bytes
    started_ns: int


def _network(host: str) -> str:
    """The rate-limited unit: an IPv4 /24 or an IPv6 /64 (an IPv4-mapped IPv6 address counts as IPv4)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # not an IP address (a Unix socket path in tests): itself
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class LandmarkServer:
    """A landmark: its id, key and limits."""

    landmark_id: str
    key: SigningKey
    max_sessions: int = 4096
    session_ttl_s: float = 5.0
    rate_per_s: float = 50.0
    burst: float = 100.0
    counters: Counters = field(default_factory=Counters)

    def __post_init__(self) -> None:
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._buckets: dict[str, _Bucket] = {}
        self._overflow = _Bucket(self.burst, time.monotonic())
        self._pruned_at = 0.0

    def handle(self, data: bytes, addr: tuple[str, int]) -> bytes | None:
        """Answer one datagram (or drop it, returning None)."""
        self.counters.received += 1
        if not self._allow(addr[0]):
            self.counters.rate_limited += 1
            return None
        try:
            msg = strict_loads(data, what="datagram", max_bytes=MAX_DATAGRAM)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
            kind = msg.get("t")
            if kind == "hello":
                return self._hello(msg, addr)
            if kind == "response":
                return self._response(msg, addr)
            raise ValueError(f"unknown message type {kind!r}")
        except (AttestError, ValueError, KeyError, TypeError):
            self.counters.malformed += 1
            return None

    def _allow(self, host: str) -> bool:
        """One token from the bucket of ``host``'s network (IPv4 /24, IPv6 /64).

        Buckets are per prefix, so one network cannot bypass the limit by rotating addresses.
        Their number is bounded and a live bucket is never evicted (evicting the oldest would
        hand a flood of spoofed sources fresh buckets and push real nodes out): once the table
        is full, buckets that have refilled (idle) are dropped, at most once a second, and
        networks that still find no room share one overflow bucket.
        """
        now = time.monotonic()
        key = _network(host)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_sessions and now - self._pruned_at >= 1.0:
                self._pruned_at = now
                idle = [
                    k
                    for k, b in self._buckets.items()
                    if b.tokens + (now - b.at) * self.rate_per_s >= self.burst
                ]
                for k in idle:
                    del self._buckets[k]
            if len(self._buckets) >= self.max_sessions:
                bucket = self._overflow
            else:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate_per_s)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _hello(self, msg: dict[str, Any], addr: tuple[str, int]) -> bytes:
        node = VerifyingKey.from_spki_b64(str(msg["node_pub"]))
        binding = str(msg["binding"])
        if not binding.startswith("sha256:") or len(binding) != 71:
            raise ValueError("binding must be sha256:<64 hex>")
        sid, nonce = secrets.token_hex(8), secrets.token_bytes(32)
        self._expire()
        self._sessions[sid] = _Session(addr, node, binding, nonce, 0)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        reply = json.dumps({"t": "challenge", "sid": sid, "nonce": nonce.hex()}).encode()
        self._sessions[sid].started_ns = time.monotonic_ns()  # the clock starts as the challenge leaves
        return reply

    def _response(self, msg: dict[str, Any], addr: tuple[str, int]) -> bytes | None:
        stopped = time.monotonic_ns()
        session = self._sessions.pop(str(msg["sid"]), None)
        if session is None or session.addr != addr:
            self.counters.expired += 1
            return None
        if stopped - session.started_ns > self.session_ttl_s * 1e9:
            self.counters.expired += 1
            return None
        sig = base64.b64decode(str(msg["sig"]), validate=True)
        reports = _digests(msg.get("gpu_reports"))
        if not session.node.verify(sig, challenge_message(session.nonce, session.binding, reports)):
            self.counters.bad_signature += 1
            return json.dumps({"t": "error", "error": "signature does not verify"}).encode()
        receipt = sign_receipt(
            self.key,
            landmark_id=self.landmark_id,
            node_key_id=session.node.key_id,
            nonce=session.nonce,
            rtt_ns=max(1, stopped - session.started_ns),
            measured_at=datetime.now(UTC),
            binding=session.binding,
            gpu_reports=reports,
        )
        self.counters.receipts += 1
        return json.dumps({"t": "receipt", "receipt": receipt.to_obj()}).encode()

    def _expire(self) -> None:
        deadline = time.monotonic_ns() - int(self.session_ttl_s * 1e9)
        while self._sessions:
            sid, oldest = next(iter(self._sessions.items()))
            if oldest.started_ns and oldest.started_ns < deadline:
                self._sessions.pop(sid)
                self.counters.expired += 1
            else:
                break

    def serve_in_thread(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> tuple[tuple[str, int], threading.Event]:
        """Serve on a background thread; return the bound address and an event that stops it."""
        ready: list[tuple[str, int]] = []
        failed: list[OSError] = []
        started, stop = threading.Event(), threading.Event()
        server = self

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                reply = server.handle(data, addr)
                if reply is not None:
                    self.transport.sendto(reply, addr)  # type: ignore[attr-defined]

        async def main() -> None:
            loop = asyncio.get_running_loop()
            try:
                transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(host, port))
            except OSError as exc:  # a port in use, an address not of this host: the caller says so
                failed.append(exc)
                started.set()
                return
            ready.append(transport.get_extra_info("sockname")[:2])
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            transport.close()

        threading.Thread(
            target=lambda: asyncio.run(main()), daemon=True, name=f"landmark-{self.landmark_id}"
        ).start()
        started.wait(5)
        if failed or not ready:
            reason = failed[0].strerror or str(failed[0]) if failed else "the server did not start in 5 s"
            raise AttestError(f"cannot listen on {host}:{port} (UDP): {reason}")
        return ready[0], stop
