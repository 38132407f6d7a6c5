"""A simulated GPU fleet with the identities real GPUs report.

Presets are data (``presets/fleet.json``). Identities are derived from a
seed, so ``SimulatedGpuSource("h100", seed="gpu-a17")`` reports the same
UUIDs and serials every time, and different seeds give different GPUs.
"""

from __future__ import annotations

import hashlib
import json
import socket
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from attest.errors import InputError
from attest.hardware.source import GpuSource
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import Gpu, PciInfo


def _load_presets() -> dict[str, Any]:
    text = resources.files("attest.hardware").joinpath("presets/fleet.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


_FLEET = _load_presets()
PRESETS: tuple[str, ...] = tuple(_FLEET["presets"])
"""Names of the built-in simulated fleets."""


def _uuid(seed: str) -> str:
    h = hashlib.sha256(seed.encode("utf-8")).hexdigest()
    return f"GPU-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _serial(seed: str) -> str:
    n = int.from_bytes(hashlib.sha256(b"serial:" + seed.encode("utf-8")).digest()[:8], "big")
    return "1" + f"{n % 10**12:012d}"  # 13 decimal digits, as on data-centre boards


class SimulatedGpuSource:
    """GPUs from a named preset or a hardware-evidence JSON file.

    Args:
        preset: a name in :data:`PRESETS`.
        seed: makes identities unique per simulated host (default: the hostname).
        hostname: the host name to report (default: this machine's).
        count: override the preset's number of GPUs.
    """

    def __init__(
        self, preset: str, *, seed: str | None = None, hostname: str | None = None, count: int | None = None
    ) -> None:
        if preset not in _FLEET["presets"]:
            raise InputError(
                f"unknown simulated fleet {preset!r}",
                hint=f"use one of {', '.join(PRESETS)} or a JSON file written by 'attest collect'",
            )
        self.preset = preset
        self.hostname = hostname or socket.gethostname() or "localhost"
        self.seed = seed if seed is not None else self.hostname
        spec = _FLEET["presets"][preset]
        self.count = spec["count"] if count is None else count
        if not 0 <= self.count <= len(_FLEET["bus_ids"]) * 8:
            raise InputError(f"count must be between 0 and {len(_FLEET['bus_ids']) * 8}")

    def read(self) -> HardwareEvidence:
        """Return the simulated host's GPUs."""
        spec = _FLEET["presets"][self.preset]
        bus_ids: list[str] = _FLEET["bus_ids"]
        gpus = []
        for i in range(self.count):
            seed = f"{self.seed}/{self.preset}/{i}"
            bus = bus_ids[i % len(bus_ids)]
            if i >= len(bus_ids):  # more GPUs than one baseboard: next PCI domain
                bus = f"{i // len(bus_ids):08X}" + bus[8:]
            gpus.append(
                Gpu(
                    index=i,
                    name=spec["name"],
                    uuid=_uuid(seed),
                    serial=_serial(seed) if spec["serial"] else None,
                    board_part_number=spec["board_part_number"],
                    pci=PciInfo(bus_id=bus, device_id=spec["device_id"], subsystem_id=spec["subsystem_id"]),
                    vbios=spec["vbios"],
                    memory_total_mib=spec["memory_total_mib"],
                    architecture=spec["architecture"],
                    compute_capability=spec["compute_capability"],
                )
            )
        return HardwareEvidence(
            source="simulated",
            preset=self.preset,
            hostname=self.hostname,
            driver_version=_FLEET["driver_version"],
            cuda_driver_version=_FLEET["cuda_driver_version"],
            collected_at=datetime.now(UTC),
            gpus=gpus,
        )


class FileGpuSource:
    """GPUs replayed from a hardware-evidence JSON file (e.g. captured on a real node)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read simulated fleet {path}: {exc.strerror}") from None
        self._evidence = HardwareEvidence.from_json(data, what=f"simulated fleet {path}")

    def read(self) -> HardwareEvidence:
        """Return the file's GPUs, marked as simulated and collected now."""
        return self._evidence.model_copy(
            update={"source": "simulated", "preset": self.path.name, "collected_at": datetime.now(UTC)}
        )


def open_source(simulate: str | None, *, seed: str | None = None, hostname: str | None = None) -> GpuSource:
    """Return the NVML reader (``simulate`` None), a preset, or a fleet file.

    ``simulate`` names a preset (``h100``, ...) or a path to a JSON file.
    """
    if simulate is None:
        from attest.hardware.nvml import NvmlGpuSource

        return NvmlGpuSource()
    if simulate in _FLEET["presets"]:
        return SimulatedGpuSource(simulate, seed=seed, hostname=hostname)
    path = Path(simulate)
    if path.suffix == ".json" or path.exists():
        return FileGpuSource(path)
    raise InputError(
        f"unknown simulated fleet {simulate!r}",
        hint=f"use one of {', '.join(PRESETS)} or a JSON file written by 'attest collect'",
    )
