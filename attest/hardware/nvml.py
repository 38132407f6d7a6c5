"""Read GPU identity from the NVIDIA driver through NVML (``nvidia-ml-py``).

Read-only by construction: only ``nvmlInit``, ``nvmlShutdown`` and
``nvml*Get*`` calls are made, so reading can never change GPU state.

Every NVML failure becomes a :class:`~attest.errors.HardwareError` that says
what happened in words. A field the GPU does not support
(``NVML_ERROR_NOT_SUPPORTED``), or that this driver does not have
(``NVML_ERROR_FUNCTION_NOT_FOUND``), is recorded as absent; the fields
that identify a GPU at all (name, UUID, PCI) are required.

The ``nvml`` module is injectable: tests pass a fake that carries the real
``pynvml`` error classes, so every error path runs without a GPU.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

from attest.errors import HardwareError
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import Gpu, PciInfo

T = TypeVar("T")

# NVML return codes (nvml.h); the pynvml module exposes the same numbers as NVML_ERROR_*.
_UNINITIALIZED = 1
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_NOT_FOUND = 6
_DRIVER_NOT_LOADED = 9
_LIBRARY_NOT_FOUND = 12
_FUNCTION_NOT_FOUND = 13
_GPU_IS_LOST = 15
_RESET_REQUIRED = 16
_OPTIONAL_CODES = frozenset({_NOT_SUPPORTED, _FUNCTION_NOT_FOUND})

_ARCHITECTURES = {
    2: "Kepler",
    3: "Maxwell",
    4: "Pascal",
    5: "Volta",
    6: "Turing",
    7: "Ampere",
    8: "Ada Lovelace",
    9: "Hopper",
    10: "Blackwell",
}


def _text(value: Any) -> str:
    """NVML strings: ``str`` since nvidia-ml-py 11.515.48, ``bytes`` before."""
    if isinstance(value, bytes):
        return value.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return str(value)


def describe_nvml_error(code: int, detail: str, *, doing: str) -> HardwareError:
    """Turn an NVML return code into a clear error (``doing`` says what was being read)."""
    if code == _LIBRARY_NOT_FOUND:
        return HardwareError(
            "the NVIDIA driver library (libnvidia-ml.so.1) was not found: this host has no NVIDIA driver",
            hint="install the NVIDIA driver, or try without a GPU: attest collect --simulate h100",
        )
    if code == _DRIVER_NOT_LOADED:
        return HardwareError(
            "the NVIDIA driver is installed but not loaded",
            hint="check 'nvidia-smi' and 'lsmod | grep nvidia'; on a container, pass the GPUs through",
        )
    if code == _NO_PERMISSION:
        return HardwareError(
            f"no permission to query the GPU while {doing}",
            hint="run as a user that can open /dev/nvidiactl and /dev/nvidia*",
        )
    if code == _GPU_IS_LOST:
        return HardwareError(
            f"a GPU was lost (fell off the bus) while {doing}; no evidence was produced",
            hint="check 'nvidia-smi' and the kernel log (Xid 79); the node likely needs service",
        )
    if code == _RESET_REQUIRED:
        return HardwareError(f"a GPU needs a reset while {doing}; no evidence was produced")
    if code == _FUNCTION_NOT_FOUND:
        return HardwareError(
            f"the installed driver lacks an NVML function needed while {doing}",
            hint="the driver is older than nvidia-ml-py expects; update the driver",
        )
    if code == _UNINITIALIZED:
        return HardwareError(f"NVML was not initialized while {doing}")
    return HardwareError(f"NVML error {code} ({detail}) while {doing}")


class NvmlGpuSource:
    """Reads every GPU of this host through NVML.

    Args:
        nvml: the ``pynvml`` module, or a stand-in with the same names (tests).
        hostname: the host name to report (default: this machine's).
    """

    def __init__(self, nvml: ModuleType | Any | None = None, *, hostname: str | None = None) -> None:
        self._nvml = nvml
        self.hostname = hostname or socket.gethostname() or "localhost"

    def _module(self) -> Any:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError:  # pragma: no cover - nvidia-ml-py is a dependency
                raise HardwareError(
                    "the Python package nvidia-ml-py is not installed", hint="pip install nvidia-ml-py"
                ) from None
            self._nvml = pynvml
        return self._nvml

    def _call(self, doing: str, fn: Callable[..., T], *args: Any) -> T:
        nv = self._module()
        try:
            return fn(*args)
        except nv.NVMLError as exc:
            raise describe_nvml_error(int(getattr(exc, "value", -1)), str(exc), doing=doing) from None

    def _optional(self, doing: str, fn: Callable[..., T], *args: Any) -> T | None:
        nv = self._module()
        try:
            return fn(*args)
        except nv.NVMLError as exc:
            code = int(getattr(exc, "value", -1))
            if code in _OPTIONAL_CODES:
                return None
            raise describe_nvml_error(code, str(exc), doing=doing) from None
        except AttributeError:  # a pynvml too old to have this function at all
            return None

    def read(self) -> HardwareEvidence:
        """Read every GPU; raise :class:`HardwareError` on any failure that loses identity."""
        nv = self._module()
        self._call("initializing NVML", nv.nvmlInit)
        try:
            driver = self._optional("reading the driver version", nv.nvmlSystemGetDriverVersion)
            cuda = self._optional("reading the CUDA driver version", nv.nvmlSystemGetCudaDriverVersion)
            count = self._call("counting GPUs", nv.nvmlDeviceGetCount)
            gpus = [self._read_gpu(nv, i) for i in range(count)]
        finally:
            # Shutting down after a failure must not hide that failure.
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()
        return HardwareEvidence(
            source="nvml",
            hostname=self.hostname,
            driver_version=_text(driver) if driver is not None else None,
            cuda_driver_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None,
            collected_at=datetime.now(UTC),
            gpus=gpus,
        )

    def _read_gpu(self, nv: Any, index: int) -> Gpu:
        where = f"GPU {index}"
        h = self._call(f"opening {where}", nv.nvmlDeviceGetHandleByIndex, index)
        name = _text(self._call(f"reading the name of {where}", nv.nvmlDeviceGetName, h))
        uuid = _text(self._call(f"reading the UUID of {where}", nv.nvmlDeviceGetUUID, h))
        pci = self._call(f"reading the PCI info of {where}", nv.nvmlDeviceGetPciInfo, h)
        serial = self._optional(f"reading the serial of {where}", nv.nvmlDeviceGetSerial, h)
        part = self._optional(f"reading the board part number of {where}", nv.nvmlDeviceGetBoardPartNumber, h)
        vbios = self._optional(f"reading the VBIOS version of {where}", nv.nvmlDeviceGetVbiosVersion, h)
        mem = self._optional(f"reading the memory size of {where}", nv.nvmlDeviceGetMemoryInfo, h)
        arch = self._optional(f"reading the architecture of {where}", nv.nvmlDeviceGetArchitecture, h)
        cc = self._optional(
            f"reading the compute capability of {where}", nv.nvmlDeviceGetCudaComputeCapability, h
        )
        subsystem = int(getattr(pci, "pciSubSystemId", 0) or 0)
        try:
            return Gpu(
                index=index,
                name=name,
                uuid=uuid,
                serial=_text(serial) if serial else None,
                board_part_number=_text(part) if part else None,
                pci=PciInfo(
                    bus_id=_text(pci.busId),
                    device_id=f"0x{int(pci.pciDeviceId) & 0xFFFFFFFF:08x}",
                    subsystem_id=f"0x{subsystem & 0xFFFFFFFF:08x}" if subsystem else None,
                ),
                vbios=_text(vbios) if vbios else None,
                memory_total_mib=int(mem.total) // (1024 * 1024) if mem is not None else None,
                architecture=_ARCHITECTURES.get(arch, f"unknown ({arch})") if arch is not None else None,
                compute_capability=f"{cc[0]}.{cc[1]}" if cc is not None else None,
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise HardwareError(
                f"{where} reported identity that does not look like an NVIDIA GPU: {exc}"
            ) from None


class NvmlCcSource:
    """Confidential-computing reports through NVML (read-only; the GPUs must be in CC mode).

    For each GPU, ``nvmlDeviceGetConfComputeGpuAttestationReport`` with a
    32-byte nonce, and ``nvmlDeviceGetConfComputeGpuCertificate`` for the
    attestation certificate chain. The GPU entry is found by its PCI bus id.
    """

    name = "nvml"

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        self._reader = NvmlGpuSource(nvml)

    def attest(self, gpu: Gpu, nonce: bytes) -> tuple[bytes, bytes]:
        """Read the report over ``nonce`` and the certificate chain of this GPU."""
        if len(nonce) != 32:
            raise HardwareError(f"a CC attestation nonce must be exactly 32 bytes, not {len(nonce)}")
        r = self._reader
        nv = r._module()
        where = f"GPU {gpu.index} ({gpu.pci.bus_id})"
        r._call("initializing NVML", nv.nvmlInit)
        try:
            h = r._call(f"opening {where}", nv.nvmlDeviceGetHandleByPciBusId, gpu.pci.bus_id)
            report = r._call(
                f"reading the attestation report of {where}",
                nv.nvmlDeviceGetConfComputeGpuAttestationReport,
                h,
                nonce,
            )
            certs = r._call(
                f"reading the attestation certificate of {where}",
                nv.nvmlDeviceGetConfComputeGpuCertificate,
                h,
            )
        finally:
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()
        data = bytes(report.attestationReport[: report.attestationReportSize])
        chain = bytes(certs.attestationCertChain[: certs.attestationCertChainSize])
        if not data or not chain:
            raise HardwareError(
                f"{where} returned an empty attestation report or certificate chain; is CC mode on?"
            )
        return data, chain
