"""The interface every GPU identity reader implements."""

from __future__ import annotations

from typing import Protocol

from attest.model.hardware import HardwareEvidence


class GpuSource(Protocol):
    """Reads the identity of a host's GPUs. Must never change GPU state."""

    def read(self) -> HardwareEvidence:
        """Return what was read; raise :class:`~attest.errors.HardwareError` when it cannot."""
        ...
