from pathlib import Path

import pytest

from attest.errors import InputError
from attest.hardware import PRESETS, SimulatedGpuSource, open_source
from attest.hardware.simulated import FileGpuSource

EXPECTED = {
    "h100": (8, "NVIDIA H100 80GB HBM3", "0x233010de", "Hopper"),
    "h200": (8, "NVIDIA H200", "0x233510de", "Hopper"),
    "h20": (8, "NVIDIA H20", "0x232910de", "Hopper"),
    "b200": (8, "NVIDIA B200", "0x290110de", "Blackwell"),
    "a100": (4, "NVIDIA A100-SXM4-80GB", "0x20b210de", "Ampere"),
    "l40s": (8, "NVIDIA L40S", "0x26b910de", "Ada Lovelace"),
    "rtx4090": (2, "NVIDIA GeForce RTX 4090", "0x268410de", "Ada Lovelace"),
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_presets_look_like_real_hardware(preset: str) -> None:
    count, name, device_id, arch = EXPECTED[preset]
    ev = SimulatedGpuSource(preset, seed="n1", hostname="n1").read()
    assert ev.source == "simulated" and ev.preset == preset and ev.hostname == "n1"
    assert len(ev.gpus) == count
    assert {g.name for g in ev.gpus} == {name}
    assert {g.pci.device_id for g in ev.gpus} == {device_id}
    assert {g.architecture for g in ev.gpus} == {arch}
    assert [g.index for g in ev.gpus] == list(range(count))
    assert len({g.uuid for g in ev.gpus}) == count and len({g.pci.bus_id for g in ev.gpus}) == count
    for g in ev.gpus:
        assert g.pci_vendor_device == (0x10DE, int(device_id, 16) >> 16)
        if preset == "rtx4090":
            assert g.serial is None  # consumer boards carry no inforom serial
        else:
            assert g.serial and len(g.serial) == 13 and g.serial.isdigit()


def test_all_required_presets_exist() -> None:
    assert set(EXPECTED) <= set(PRESETS)


def test_identity_is_deterministic_per_seed() -> None:
    a = SimulatedGpuSource("h100", seed="a", hostname="x").read()
    a2 = SimulatedGpuSource("h100", seed="a", hostname="x").read()
    b = SimulatedGpuSource("h100", seed="b", hostname="x").read()
    assert [g.uuid for g in a.gpus] == [g.uuid for g in a2.gpus]
    assert not {g.uuid for g in a.gpus} & {g.uuid for g in b.gpus}
    assert not {g.serial for g in a.gpus} & {g.serial for g in b.gpus}


def test_fleet_file_round_trip(tmp_path: Path) -> None:
    ev = SimulatedGpuSource("b200", seed="s", hostname="gb-01", count=3).read()
    path = tmp_path / "fleet.json"
    path.write_text(ev.to_json())
    again = open_source(str(path)).read()
    assert again.gpus == ev.gpus and again.hostname == "gb-01"
    assert again.source == "simulated" and again.preset == "fleet.json"


def test_bad_presets_and_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown simulated fleet 'h999'"):
        open_source("h999")
    with pytest.raises(InputError, match="cannot read simulated fleet"):
        FileGpuSource(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": "simulated", "hostname": "x", "collected_at": "2026-11-28T00:00:00Z", "gpus": [{"index": 0}]}')
    with pytest.raises(InputError, match=r"gpus\.0\.name"):
        open_source(str(bad))
    with pytest.raises(InputError, match="count"):
        SimulatedGpuSource("h100", count=-1)
