"""Prometheus metrics of the daemon: one prefix, base units, ``_total`` on counters, no job ids."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from attest.errors import InputError


class Metrics:
    """The daemon's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.signed = Counter(
            "attest_daemon_manifests_signed_total", "Manifests signed and committed", ["phase"], registry=r
        )
        self.errors = Counter("attest_daemon_errors_total", "Errors by kind", ["kind"], registry=r)
        self.latency = Histogram(
            "attest_daemon_sign_latency_seconds",
            "From request received to manifest committed",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.gpu_heartbeat = Gauge(
            "attest_daemon_gpu_last_heartbeat_timestamp_seconds",
            "Unix time of the last signed heartbeat that listed this GPU",
            ["uuid", "pci_bus_id", "model_name", "hostname"],
            registry=r,
        )
        self.sequence = Gauge(
            "attest_daemon_chain_sequence", "Sequence number of the newest manifest", registry=r
        )
        self.pushed = Counter(
            "attest_daemon_manifests_pushed_total", "Manifests the collector accepted", registry=r
        )
        self.backlog = Gauge("attest_daemon_push_backlog", "Manifests waiting for the collector", registry=r)
        self.pruned = Counter(
            "attest_daemon_manifests_pruned_total", "Manifests deleted by retention_days", registry=r
        )

    def serve(self, address: str) -> Any:
        """Serve ``/metrics`` on HOST:PORT; return the server (``.shutdown()`` stops it)."""
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise InputError(f"metrics address {address!r} is not HOST:PORT")
        try:
            server, _ = start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise InputError(f"cannot serve metrics on {address}: {exc.strerror}") from None
        return server
