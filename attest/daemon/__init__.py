"""The node daemon: a local signing API, heartbeats, a crash-safe chain, delivery, metrics."""

from attest.daemon.client import Client, DaemonError
from attest.daemon.config import DaemonConfig, load_config

__all__ = ["Client", "DaemonConfig", "DaemonError", "load_config"]
