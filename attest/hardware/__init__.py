"""The attester's view of the hardware: where GPU identity comes from.

A :class:`GpuSource` reads the GPUs of one host into
:class:`~attest.model.HardwareEvidence`. Two implementations:

- :class:`NvmlGpuSource` — the real NVIDIA driver through ``nvidia-ml-py``;
  read-only, every NVML error turned into a clear :class:`~attest.errors.HardwareError`;
- :class:`SimulatedGpuSource` — a realistic fleet from presets (``h100``,
  ``h200``, ``h20``, ``b200``, ``a100``, ``l40s``, ``rtx4090``) or from a
  JSON file, for demos, tests and CI machines without GPUs.

Use :func:`open_source` to pick one from a command-line style argument.
"""

from attest.hardware.nvml import NvmlGpuSource
from attest.hardware.simulated import PRESETS, SimulatedGpuSource, open_source
from attest.hardware.source import GpuSource

__all__ = ["PRESETS", "GpuSource", "NvmlGpuSource", "SimulatedGpuSource", "open_source"]
