"""The landmark's rate limiter: by network prefix, bounded, and not bypassed by many spoofed sources."""

from __future__ import annotations

from attest.crypto.keys import SigningKey
from attest.location.landmark import LandmarkServer


def _server(**limits: float) -> LandmarkServer:
    return LandmarkServer("lm-test", SigningKey.generate(), **limits)  # type: ignore[arg-type]


def _allowed(server: LandmarkServer, host: str) -> bool:
    before = server.counters.rate_limited
    server.handle(b"x", (host, 40000))  # garbage: allowed ones count as malformed, the rest as rate limited
    return server.counters.rate_limited == before


def test_one_network_shares_one_bucket() -> None:
    server = _server(rate_per_s=0.001, burst=5)
    allowed = sum(_allowed(server, f"198.51.100.{i}") for i in range(1, 255))
    assert allowed == 5
    allowed6 = sum(_allowed(server, f"2001:db8:0:1::{i:x}") for i in range(1, 500))
    assert allowed6 == 5
    assert _allowed(server, "::ffff:198.51.100.7") is False  # the same IPv4 network, written as IPv6


def test_a_flood_from_many_networks_cannot_evict_a_real_node_or_get_fresh_buckets() -> None:
    """10,000 spoofed /24s against a table of 64: the node keeps its bucket; the flood gets at most the table and one overflow bucket."""
    server = _server(rate_per_s=0.001, burst=3, max_sessions=64)
    assert _allowed(server, "192.0.2.10")
    flood = sum(_allowed(server, f"10.{i // 256}.{i % 256}.1") for i in range(10_000))
    assert flood <= 63 * 3 + 3
    assert _allowed(server, "192.0.2.10") and _allowed(server, "192.0.2.11")  # its two tokens left
    assert len(server._buckets) <= 64
