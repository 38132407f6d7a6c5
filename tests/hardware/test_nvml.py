"""The NVML reader against a fake ``pynvml`` that raises the real pynvml error classes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pynvml
import pytest

from attest.errors import HardwareError
from attest.hardware import NvmlGpuSource


class FakeNvml:
    """Stands in for the pynvml module: real NVMLError classes, scripted answers.

    ``fail`` maps a function name to an NVML return code it raises (for every
    GPU, or for one GPU index when the key is ``(name, index)``).
    """

    NVMLError = pynvml.NVMLError

    def __init__(self, gpus: int = 2, fail: dict[Any, int] | None = None, strings_as_bytes: bool = False) -> None:
        self.gpus = gpus
        self.fail = fail or {}
        self.bytes = strings_as_bytes
        self.calls: list[str] = []
        self.initialized = 0

    def _maybe_fail(self, name: str, index: int | None = None) -> None:
        self.calls.append(name)
        code = self.fail.get((name, index), self.fail.get(name))
        if code is not None:
            raise pynvml.NVMLError(code)

    def _s(self, text: str) -> Any:
        return text.encode() if self.bytes else text

    def nvmlInit(self) -> None:
        self._maybe_fail("nvmlInit")
        self.initialized += 1

    def nvmlShutdown(self) -> None:
        self.calls.append("nvmlShutdown")
        self.initialized -= 1

    def nvmlSystemGetDriverVersion(self) -> Any:
        self._maybe_fail("nvmlSystemGetDriverVersion")
        return self._s("570.133.20")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._maybe_fail("nvmlSystemGetCudaDriverVersion")
        return 12080

    def nvmlDeviceGetCount(self) -> int:
        self._maybe_fail("nvmlDeviceGetCount")
        return self.gpus

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        self._maybe_fail("nvmlDeviceGetHandleByIndex", i)
        return i

    def nvmlDeviceGetName(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetName", h)
        return self._s("NVIDIA H100 80GB HBM3")

    def nvmlDeviceGetUUID(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetUUID", h)
        return self._s(f"GPU-559c7f49-e3ff-0358-0c74-8f7eeb60b7b{h}")

    def nvmlDeviceGetSerial(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetSerial", h)
        return self._s(f"165232200581{h}")

    def nvmlDeviceGetBoardPartNumber(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetBoardPartNumber", h)
        return self._s("692-2G520-0200-000")

    def nvmlDeviceGetPciInfo(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetPciInfo", h)
        return SimpleNamespace(busId=self._s(f"00000000:{0x18 + h:02X}:00.0"), pciDeviceId=0x233010DE, pciSubSystemId=0x16C110DE)

    def nvmlDeviceGetVbiosVersion(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetVbiosVersion", h)
        return self._s("96.00.74.00.1A")

    def nvmlDeviceGetMemoryInfo(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetMemoryInfo", h)
        return SimpleNamespace(total=81559 * 1024 * 1024, free=0, used=0)

    def nvmlDeviceGetArchitecture(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetArchitecture", h)
        return 9

    def nvmlDeviceGetCudaComputeCapability(self, h: int) -> tuple[int, int]:
        self._maybe_fail("nvmlDeviceGetCudaComputeCapability", h)
        return (9, 0)


def read(fake: FakeNvml):  # type: ignore[no-untyped-def]
    return NvmlGpuSource(fake, hostname="gpu-a17").read()


def test_reads_every_field() -> None:
    fake = FakeNvml()
    ev = read(fake)
    assert ev.source == "nvml" and ev.driver_version == "570.133.20" and ev.cuda_driver_version == "12.8"
    g = ev.gpus[1]
    assert g.name == "NVIDIA H100 80GB HBM3" and g.uuid.endswith("b1") and g.serial == "1652322005811"
    assert g.pci.bus_id == "00000000:19:00.0" and g.pci.device_id == "0x233010de" and g.pci.subsystem_id == "0x16c110de"
    assert g.memory_total_mib == 81559 and g.architecture == "Hopper" and g.compute_capability == "9.0"
    assert g.board_part_number == "692-2G520-0200-000" and g.vbios == "96.00.74.00.1A"
    assert fake.initialized == 0  # shut down again


def test_old_pynvml_bytes_strings() -> None:
    g = read(FakeNvml(strings_as_bytes=True)).gpus[0]
    assert g.name == "NVIDIA H100 80GB HBM3" and g.pci.bus_id == "00000000:18:00.0"


def test_read_only() -> None:
    fake = FakeNvml()
    read(fake)
    assert all(c in ("nvmlInit", "nvmlShutdown") or "Get" in c for c in fake.calls)


def test_real_pynvml_without_a_driver() -> None:
    # This machine has no NVIDIA driver: the real library must say so clearly.
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:  # pragma: no cover - only on a GPU host
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present here")
    with pytest.raises(HardwareError) as err:
        NvmlGpuSource().read()
    assert "no NVIDIA driver" in err.value.message and "--simulate" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1) was not found"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "installed but not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission to query the GPU while initializing NVML"),
    ],
)
def test_init_errors(code: int, fragment: str) -> None:
    fake = FakeNvml(fail={"nvmlInit": code})
    with pytest.raises(HardwareError) as err:
        read(fake)
    assert fragment in err.value.message
    assert err.value.hint


@pytest.mark.parametrize(
    "field",
    [
        "nvmlDeviceGetSerial",
        "nvmlDeviceGetBoardPartNumber",
        "nvmlDeviceGetVbiosVersion",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetArchitecture",
        "nvmlDeviceGetCudaComputeCapability",
    ],
)
@pytest.mark.parametrize("code", [pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_FUNCTION_NOT_FOUND])
def test_unsupported_single_field_recorded_as_absent(field: str, code: int) -> None:
    ev = read(FakeNvml(fail={(field, 1): code}))
    names = {
        "nvmlDeviceGetSerial": "serial",
        "nvmlDeviceGetBoardPartNumber": "board_part_number",
        "nvmlDeviceGetVbiosVersion": "vbios",
        "nvmlDeviceGetMemoryInfo": "memory_total_mib",
        "nvmlDeviceGetArchitecture": "architecture",
        "nvmlDeviceGetCudaComputeCapability": "compute_capability",
    }
    assert getattr(ev.gpus[1], names[field]) is None
    assert getattr(ev.gpus[0], names[field]) is not None


def test_identity_fields_are_required() -> None:
    with pytest.raises(HardwareError, match="reading the UUID of GPU 0"):
        read(FakeNvml(fail={"nvmlDeviceGetUUID": pynvml.NVML_ERROR_NOT_SUPPORTED}))


def test_gpu_lost_mid_read_fails_and_still_shuts_down() -> None:
    fake = FakeNvml(gpus=4, fail={("nvmlDeviceGetSerial", 2): pynvml.NVML_ERROR_GPU_IS_LOST})
    with pytest.raises(HardwareError) as err:
        read(fake)
    assert "GPU was lost" in err.value.message and "reading the serial of GPU 2" in err.value.message
    assert "Xid 79" in (err.value.hint or "")
    assert fake.calls[-1] == "nvmlShutdown" and fake.initialized == 0


def test_no_permission_on_one_field_is_an_error_not_absent() -> None:
    with pytest.raises(HardwareError, match="no permission to query the GPU while reading the serial of GPU 0"):
        read(FakeNvml(fail={"nvmlDeviceGetSerial": pynvml.NVML_ERROR_NO_PERMISSION}))


def test_unknown_error_code_and_bad_identity() -> None:
    with pytest.raises(HardwareError, match="NVML error 999"):
        read(FakeNvml(fail={"nvmlDeviceGetCount": 999}))

    class Weird(FakeNvml):
        def nvmlDeviceGetUUID(self, h: int) -> Any:
            return "not-a-uuid"

    with pytest.raises(HardwareError, match="does not look like an NVIDIA GPU"):
        read(Weird())


def test_driver_version_absent_is_fine() -> None:
    ev = read(FakeNvml(fail={"nvmlSystemGetCudaDriverVersion": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND}))
    assert ev.cuda_driver_version is None and len(ev.gpus) == 2


class FullFakeNvml(FakeNvml):
    """Adds the fields of a complete read, Blackwell platform info and CC state."""

    c_nvmlPlatformInfo_v2_t = pynvml.c_nvmlPlatformInfo_v2_t
    c_nvmlSystemConfComputeSettings_v1_t = pynvml.c_nvmlSystemConfComputeSettings_v1_t
    nvmlSystemConfComputeSettings_v1 = pynvml.nvmlSystemConfComputeSettings_v1
    # ibGuid with zero bytes inside, a chassis serial with a byte that is not UTF-8
    PLATFORM = (
        bytes.fromhex("0200002c")[::-1]
        + bytes.fromhex("00a1b2c3000000d4e5f6000000000001")
        + b"1821\xff22001234\0\0\0\0\0"[:16]
        + bytes([7, 3, 1, 2, 5])
    )

    def nvmlDeviceGetBoardId(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetBoardId", h)
        return 0x1800 + h

    def nvmlDeviceGetBrand(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetBrand", h)
        return pynvml.NVML_BRAND_NVIDIA

    def nvmlDeviceGetModuleId(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetModuleId", h)
        return h + 1

    def nvmlDeviceGetInforomImageVersion(self, h: int) -> Any:
        self._maybe_fail("nvmlDeviceGetInforomImageVersion", h)
        return self._s("G520.0200.00.05")

    def nvmlDeviceGetMaxClockInfo(self, h: int, clock: int) -> int:
        self._maybe_fail("nvmlDeviceGetMaxClockInfo", h)
        return {0: 1980, 1: 1980, 2: 2619}[clock]

    def nvmlDeviceGetPowerManagementLimit(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetPowerManagementLimit", h)
        return 700000

    def nvmlDeviceGetMigMode(self, h: int) -> list[int]:
        self._maybe_fail("nvmlDeviceGetMigMode", h)
        return [0, 1]

    def nvmlDeviceGetNumGpuCores(self, h: int) -> int:
        self._maybe_fail("nvmlDeviceGetNumGpuCores", h)
        return 16896

    def nvmlDeviceGetPlatformInfo(self, h: int, ref: Any) -> int:
        self._maybe_fail("nvmlDeviceGetPlatformInfo", h)
        import ctypes

        target = ref._obj
        ctypes.memmove(ctypes.addressof(target), self.PLATFORM, len(self.PLATFORM))
        return 0

    def nvmlSystemGetConfComputeState(self) -> Any:
        self._maybe_fail("nvmlSystemGetConfComputeState")
        return SimpleNamespace(environment=2, ccFeature=1, devToolsMode=0)

    def nvmlSystemGetConfComputeGpusReadyState(self) -> int:
        self._maybe_fail("nvmlSystemGetConfComputeGpusReadyState")
        return 1

    def nvmlSystemGetConfComputeSettings(self, ref: Any) -> int:
        self.calls.append("nvmlSystemGetConfComputeSettings")
        ref._obj.multiGpuMode = 1
        return 0


def test_complete_read_with_platform_info_from_raw_bytes() -> None:
    ev = read(FullFakeNvml())
    g = ev.gpus[1]
    assert (g.board_id, g.brand, g.module_id, g.inforom_version) == (0x1801, "NVIDIA", 2, "G520.0200.00.05")
    assert g.max_clocks_mhz is not None and g.max_clocks_mhz.memory == 2619 and g.power_limit_mw == 700000
    assert g.mig_mode is not None and (g.mig_mode.current, g.mig_mode.pending) == (False, True)
    assert g.gpu_cores == 16896
    assert g.platform is not None
    assert g.platform.ib_guid == "00a1b2c3000000d4e5f6000000000001"  # zero bytes kept, unlike pynvml's c_char decoding
    assert g.platform.chassis_serial.startswith("1821") and "\ufffd" in g.platform.chassis_serial  # no UnicodeDecodeError
    assert (g.platform.slot, g.platform.tray, g.platform.host_id, g.platform.peer_type, g.platform.module_id) == (7, 3, 1, 2, 5)
    assert ev.cc_state is not None and ev.cc_state.environment == "production" and ev.cc_state.cc_feature
    assert not ev.cc_state.dev_tools_mode and ev.cc_state.multi_gpu_mode == "protected-pcie"
    assert ev.cc_state.gpus_ready is True


@pytest.mark.parametrize(
    "field",
    ["nvmlDeviceGetBoardId", "nvmlDeviceGetBrand", "nvmlDeviceGetModuleId", "nvmlDeviceGetInforomImageVersion",
     "nvmlDeviceGetMaxClockInfo", "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetMigMode",
     "nvmlDeviceGetNumGpuCores", "nvmlDeviceGetPlatformInfo"],
)
def test_each_new_field_absent_when_not_supported(field: str) -> None:
    ev = read(FullFakeNvml(fail={(field, 0): pynvml.NVML_ERROR_NOT_SUPPORTED}))
    names = {"nvmlDeviceGetBoardId": "board_id", "nvmlDeviceGetBrand": "brand", "nvmlDeviceGetModuleId": "module_id",
             "nvmlDeviceGetInforomImageVersion": "inforom_version", "nvmlDeviceGetMaxClockInfo": "max_clocks_mhz",
             "nvmlDeviceGetPowerManagementLimit": "power_limit_mw", "nvmlDeviceGetMigMode": "mig_mode",
             "nvmlDeviceGetNumGpuCores": "gpu_cores", "nvmlDeviceGetPlatformInfo": "platform"}
    assert getattr(ev.gpus[0], names[field]) is None and getattr(ev.gpus[1], names[field]) is not None


def test_cc_ready_state_absent_when_not_supported() -> None:
    ev = read(FullFakeNvml(fail={"nvmlSystemGetConfComputeGpusReadyState": pynvml.NVML_ERROR_NOT_SUPPORTED}))
    assert ev.cc_state is not None and ev.cc_state.gpus_ready is None


def test_cc_state_absent_when_not_supported() -> None:
    ev = read(FullFakeNvml(fail={"nvmlSystemGetConfComputeState": pynvml.NVML_ERROR_NOT_SUPPORTED}))
    assert ev.cc_state is None


def test_no_permission_on_a_new_field_is_an_error() -> None:
    with pytest.raises(HardwareError, match="reading the power limit of GPU 0"):
        read(FullFakeNvml(fail={"nvmlDeviceGetPowerManagementLimit": pynvml.NVML_ERROR_NO_PERMISSION}))


def test_complete_read_is_still_read_only() -> None:
    fake = FullFakeNvml()
    read(fake)
    assert all(c in ("nvmlInit", "nvmlShutdown") or "Get" in c for c in fake.calls)
