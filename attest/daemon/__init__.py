"""The node daemon: a local signing API, heartbeats, a crash-safe chain, delivery, metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attest._internal.lazy import lazy_exports

if TYPE_CHECKING:
    from attest.daemon.client import Client, DaemonError
    from attest.daemon.config import DaemonConfig, load_config

__all__ = ["Client", "DaemonConfig", "DaemonError", "load_config"]

# The client (what `attest daemon sign-job` in a Slurm Prolog uses) needs no pydantic; the
# config does. Names are imported on first use (PEP 562).
_EXPORTS = {
    "Client": "attest.daemon.client",
    "DaemonError": "attest.daemon.client",
    "DaemonConfig": "attest.daemon.config",
    "load_config": "attest.daemon.config",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
