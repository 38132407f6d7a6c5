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
import ctypes
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

from attest.errors import HardwareError
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import ConfComputeState, Gpu, MaxClocks, MigMode, PciInfo, PlatformInfo

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

_BRANDS = {
    0: "unknown",
    1: "Quadro",
    2: "Tesla",
    3: "NVS",
    4: "GRID",
    5: "GeForce",
    6: "Titan",
    7: "NVIDIA Virtual Applications",
    8: "NVIDIA Virtual PC",
    9: "NVIDIA vGPU for Compute",
    10: "NVIDIA RTX Virtual Workstation",
    11: "NVIDIA Cloud Gaming",
    12: "Quadro RTX",
    13: "NVIDIA RTX",
    14: "NVIDIA",
    15: "GeForce RTX",
    16: "Titan RTX",
    18: "NVIDIA RTX Virtual Game Dev",
    19: "NVIDIA NPU",
}

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

    def _optional(self, doing: str, fn: Callable[..., T] | None, *args: Any) -> T | None:
        nv = self._module()
        if fn is None:  # a pynvml too old to have this function
            return None
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
            cc_state = self._cc_state(nv)
        finally:
            # Shutting down after a failure must not hide that failure.
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()
        return HardwareEvidence(
            source="nvml",
            hostname=self.hostname,
            driver_version=_text(driver) if driver is not None else None,
            cuda_driver_version=f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None,
            cc_state=cc_state,
            collected_at=datetime.now(UTC),
            gpus=gpus,
        )

    def _platform(self, nv: Any, h: Any, where: str) -> PlatformInfo | None:
        """Blackwell platform info, decoded from the raw struct bytes.

        pynvml declares ``ibGuid`` and ``chassisSerialNumber`` as ``c_char``
        arrays, which truncate at the first zero byte and can fail to decode;
        the bytes of the struct are read instead (v2 layout: version u32,
        ibGuid[16], chassisSerialNumber[16], slot, tray, hostId, peerType, moduleId).
        """
        struct_type = getattr(nv, "c_nvmlPlatformInfo_v2_t", None)
        if struct_type is None or not hasattr(nv, "nvmlDeviceGetPlatformInfo"):
            return None
        info = struct_type()
        if (
            self._optional(
                f"reading the platform info of {where}", nv.nvmlDeviceGetPlatformInfo, h, ctypes.byref(info)
            )
            is None
        ):
            return None
        raw = bytes(info)  # ctypes structures expose their buffer
        if len(raw) < 41:
            raise HardwareError(
                f"{where} returned a platform info struct of {len(raw)} bytes; expected 41 or more"
            )
        return PlatformInfo(
            ib_guid=raw[4:20].hex(),
            chassis_serial=raw[20:36].split(b"\0", 1)[0].decode("ascii", "replace"),
            slot=raw[36],
            tray=raw[37],
            host_id=raw[38],
            peer_type=raw[39],
            module_id=raw[40],
        )

    def _cc_state(self, nv: Any) -> ConfComputeState | None:
        state = self._optional(
            "reading the confidential-computing state", getattr(nv, "nvmlSystemGetConfComputeState", None)
        )
        if state is None:
            return None
        multi = None
        settings_type = getattr(nv, "c_nvmlSystemConfComputeSettings_v1_t", None)
        if settings_type is not None and hasattr(nv, "nvmlSystemGetConfComputeSettings"):
            settings = settings_type()
            settings.version = getattr(nv, "nvmlSystemConfComputeSettings_v1", 0x1000014)
            # This call returns NVML's raw return code instead of raising.
            if nv.nvmlSystemGetConfComputeSettings(ctypes.byref(settings)) == 0:
                multi = {0: "none", 1: "protected-pcie"}.get(
                    int(settings.multiGpuMode), f"mode {settings.multiGpuMode}"
                )
        ready = self._optional(
            "reading the CC ready state", getattr(nv, "nvmlSystemGetConfComputeGpusReadyState", None)
        )
        return ConfComputeState(
            environment={0: "unavailable", 1: "simulation", 2: "production"}.get(
                int(state.environment), f"environment {state.environment}"
            ),
            cc_feature=bool(state.ccFeature),
            dev_tools_mode=bool(state.devToolsMode),
            multi_gpu_mode=multi,
            gpus_ready=bool(ready) if ready is not None else None,
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
        board_id = self._optional(
            f"reading the board id of {where}", getattr(nv, "nvmlDeviceGetBoardId", None), h
        )
        brand = self._optional(f"reading the brand of {where}", getattr(nv, "nvmlDeviceGetBrand", None), h)
        module_id = self._optional(
            f"reading the module id of {where}", getattr(nv, "nvmlDeviceGetModuleId", None), h
        )
        inforom = self._optional(
            f"reading the inforom version of {where}",
            getattr(nv, "nvmlDeviceGetInforomImageVersion", None),
            h,
        )
        clocks = {
            name: self._optional(
                f"reading the max {name} clock of {where}",
                getattr(nv, "nvmlDeviceGetMaxClockInfo", None),
                h,
                clock,
            )
            for name, clock in (("graphics", 0), ("sm", 1), ("memory", 2))
        }
        power = self._optional(
            f"reading the power limit of {where}", getattr(nv, "nvmlDeviceGetPowerManagementLimit", None), h
        )
        mig = self._optional(f"reading the MIG mode of {where}", getattr(nv, "nvmlDeviceGetMigMode", None), h)
        cores = self._optional(
            f"reading the core count of {where}", getattr(nv, "nvmlDeviceGetNumGpuCores", None), h
        )
        platform = self._platform(nv, h, where)
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
                board_id=int(board_id) if board_id is not None else None,
                brand=_BRANDS.get(int(brand), f"brand {brand}") if brand is not None else None,
                module_id=int(module_id) if module_id is not None else None,
                inforom_version=_text(inforom) if inforom else None,
                max_clocks_mhz=MaxClocks(**{k: int(v) for k, v in clocks.items() if v is not None})
                if any(v is not None for v in clocks.values())
                else None,
                power_limit_mw=int(power) if power is not None else None,
                mig_mode=MigMode(current=bool(mig[0]), pending=bool(mig[1])) if mig is not None else None,
                gpu_cores=int(cores) if cores is not None else None,
                platform=platform,
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

    def __init__(self, nvml: ModuleType | Any | None = None, *, ocsp_url: str | None = None) -> None:
        self._reader = NvmlGpuSource(nvml)
        self._ocsp_url = ocsp_url

    def revocation(self, gpu: Gpu, chain_pem: bytes) -> list[bytes]:
        """The chain's OCSP responses, from NVIDIA's responder (or ``ocsp_url``), over HTTPS."""
        from attest.hardware.ocsp import HttpOcspFetcher

        return HttpOcspFetcher(override_url=self._ocsp_url)(chain_pem)

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Keep NVML initialised while many reports are asked for (a timed landmark exchange).

        ``nvmlInit`` is reference counted: inside a session each report's own init and shutdown
        only move the count, so the round trip does not pay for loading the driver's state.
        """
        r = self._reader
        nv = r._module()
        r._call("initializing NVML", nv.nvmlInit)
        try:
            yield
        finally:
            with contextlib.suppress(nv.NVMLError):
                nv.nvmlShutdown()

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
