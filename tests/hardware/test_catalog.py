"""Chip catalog and ECCN 3A090 classification: every boundary, every chip, every preset."""

from __future__ import annotations

import json

import pytest

from attest.errors import InputError
from attest.hardware import SimulatedGpuSource
from attest.hardware.catalog import (
    bundled_catalog,
    chip_tpp,
    classify_chip,
    classify_parameters,
    classify_system,
)
from attest.hardware.simulated import PRESETS
from attest.model.catalog import ChipCatalog
from attest.model.manifest import Gpu
from attest.model.result import Status
from attest.verify import verify_envelope
from tests.conftest import NOW, REPO, trusted_node


def p(tpp: float | None, pd: float | None, dc: bool | None = True) -> str | None:
    r = classify_parameters(tpp, pd, datacenter=dc)
    return r.paragraph or r.eccn


@pytest.mark.parametrize(
    ("tpp", "pd", "dc", "expected"),
    [
        # 3A090.a.1 at TPP 4800
        (4800, 1.0, True, "3A090.a.1"),
        (4799.99, 1.0, True, None),
        (4800, 1.0, False, "3A090.a.1"),  # non-datacenter at 4800 or more: still 3A090.a
        (4799.99, 9.0, False, None),  # Note 2
        # 3A090.a.2 at TPP 1600 and PD 5.92
        (1600, 5.92, True, "3A090.a.2"),
        (1599.99, 5.92, True, None),
        (1600, 5.9199, True, "3A090.b.2"),
        (1600, 5.92, False, None),  # Note 2
        # 3A090.b.1: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92
        (2400, 1.6, True, "3A090.b.1"),
        (2399.99, 1.6, True, None),
        (2400, 1.5999, True, None),
        (4799.99, 5.9199, True, "3A090.b.1"),
        # 3A090.b.2: TPP >= 1600 and 3.2 <= PD < 5.92
        (1600, 3.2, True, "3A090.b.2"),
        (1600, 3.1999, True, None),
        (2399.99, 3.2, True, "3A090.b.2"),
        (2399.99, 3.1999, True, None),
        # unknowns are controlled, and say so
        (None, None, True, "3A090.a"),
        (2000, None, True, "3A090.a"),
        (1500, None, True, None),
        (4000, None, None, "3A090.a"),  # datacenter unknown counts as datacenter
    ],
)
def test_threshold_boundaries(tpp: float | None, pd: float | None, dc: bool | None, expected: str | None) -> None:
    assert p(tpp, pd, dc) == expected


def test_assumed_and_computed_are_distinguished() -> None:
    assumed = classify_parameters(None, None, datacenter=True)
    assert assumed.basis == "assumed" and assumed.controlled and "treated as controlled" in assumed.notes[0]
    computed = classify_parameters(15832, 19.4, datacenter=True)
    assert computed.basis == "computed" and computed.notes == ()
    below = classify_parameters(1000, 1.0, datacenter=True)
    assert not below.controlled and below.to_wire().eccn == "not-3A090"


EXPECTED = {
    "a100": ("3A090.a.1", 4992), "a800": ("3A090.a.1", 4992), "h100-sxm": ("3A090.a.1", 15832),
    "h100-pcie": ("3A090.a.1", 12104), "h100-nvl": ("3A090.a.1", 13368), "h800": ("3A090.a.1", 15832),
    "h20": (None, 2368), "h200": ("3A090.a.1", 15832), "b200": ("3A090.a.1", 36000),
    "gb200": ("3A090.a.1", 40000), "b100": ("3A090.a", None), "b300": ("3A090.a", None),
    "l40": ("3A090.b.1", 2896), "l40s": ("3A090.a.1", 5864), "l20": ("3A090.a", None), "l4": ("3A090.a", None),
    "rtx-6000-ada": ("3A090.a", None), "rtx-pro-6000-blackwell-server": ("3A090.a", None),
    "rtx-4090": ("3A090.a.1", 5284.8), "rtx-4090-d": ("3A090.a", None), "rtx-5090": ("3A090.a.1", 6704),
    "rtx-5090-d": ("3A090.a", None), "mi300x": ("3A090.a.1", 20919.2), "mi325x": ("3A090.a.1", 20919.2),
    "mi250x": ("3A090.a", None), "mi308x": ("3A090.a", None), "gaudi3": ("3A090.a.1", 14680),
    "ascend-910b": ("3A090.a.1", 5120), "ascend-910c": ("3A090.a.1", 12800),
}


def test_every_catalog_chip_has_an_expectation() -> None:
    assert {c.id for c in bundled_catalog().chips} == set(EXPECTED)


@pytest.mark.parametrize("chip_id", sorted(EXPECTED))
def test_every_catalog_chip(chip_id: str) -> None:
    chip = bundled_catalog().get(chip_id)
    assert chip is not None
    r = classify_chip(chip)
    paragraph, tpp = EXPECTED[chip_id]
    assert (r.paragraph or r.eccn) == paragraph
    assert (round(r.tpp, 1) if r.tpp is not None else None) == tpp
    assert r.controlled  # every chip in the catalog is subject to licensing somewhere
    if r.basis == "assumed":
        assert any("treated as controlled" in n for n in r.notes)


def test_reference_table_values() -> None:
    c = bundled_catalog()
    a100 = classify_chip(c.get("a100"))  # type: ignore[arg-type]
    assert a100.pd is not None and round(a100.pd, 2) == 6.04
    h20 = classify_chip(c.get("h20"))  # type: ignore[arg-type]
    assert h20.eccn is None and h20.pd is not None and round(h20.pd, 2) == 2.91
    assert any("licence required for D:5" in n for n in h20.notes)
    ascend = c.get("ascend-910b")
    assert ascend is not None and ascend.prohibited_guidance == "bis-2025-05"
    assert chip_tpp(c.get("b100")) is None  # type: ignore[arg-type]


def test_lookups() -> None:
    c = bundled_catalog()
    assert c.by_pci(0x10DE, 0x2330).id == "h100-sxm"  # type: ignore[union-attr]
    assert c.by_pci(0x1002, 0x74A1).id == "mi300x"  # type: ignore[union-attr]
    assert c.by_pci(0x19E5, 0xD802).id == "ascend-910b"  # type: ignore[union-attr]
    assert c.by_name("NVIDIA H100 PCIe").id == "h100-pcie"  # type: ignore[union-attr]
    assert c.by_name("nvidia h200").id == "h200"  # type: ignore[union-attr]
    assert c.by_name("NVIDIA GeForce RTX 4090 D").id == "rtx-4090-d"  # type: ignore[union-attr]
    assert c.by_name("rtx-5090").id == "rtx-5090"  # type: ignore[union-attr]
    assert c.by_name("Some Unknown Accelerator") is None


def test_pci_id_wins_over_a_renamed_gpu() -> None:
    gpu = SimulatedGpuSource("h100", seed="x").read().gpus[0].model_copy(update={"name": "NVIDIA GeForce RTX 3060"})
    assert bundled_catalog().classify_gpu(gpu).chip == "h100-sxm"


def test_unknown_gpu_is_controlled() -> None:
    gpu = Gpu.from_obj({"index": 0, "name": "Mystery X1", "uuid": "GPU-00000000-0000-0000-0000-000000000000",
                        "pci": {"bus_id": "00000000:18:00.0", "device_id": "0xffff1234"}})
    r = bundled_catalog().classify_gpu(gpu)
    assert r.controlled and r.basis == "assumed" and r.chip is None and "not in the chip catalog" in r.notes[0]


EXPECTED_PRESETS = {
    "h100": "3A090.a.1", "h200": "3A090.a.1", "h20": "not-3A090", "b200": "3A090.a.1",
    "a100": "3A090.a.1", "l40s": "3A090.a.1", "rtx4090": "3A090.a.1",
}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_manifests_from_presets_carry_classifications(preset: str) -> None:
    node = trusted_node()
    node.preset = preset
    m = node.manifest()
    for g in m.gpus:
        assert g.classification is not None
        assert (g.classification.paragraph or g.classification.eccn) == EXPECTED_PRESETS[preset]
    r = verify_envelope(node.envelope(m), node.trust, now=NOW)
    summary = next(f for f in r.findings if f.rule == "classification.summary")
    assert summary.evidence["system"] == (None if preset == "h20" else "4A090.a")
    assert r.status is Status.AFFIRMING, r.findings


def test_manifest_claiming_ear99_for_an_h100_is_flagged() -> None:
    node = trusted_node()
    m = node.manifest()
    obj = m.to_obj()
    obj["gpus"][2]["classification"] = {"eccn": "EAR99"}
    forged = type(m).from_obj(obj)
    r = verify_envelope(node.envelope(forged), node.trust, now=NOW)
    mismatch = [f for f in r.findings if f.rule == "classification.mismatch"]
    assert len(mismatch) == 1 and r.status is Status.CONTRAINDICATED
    assert "declared EAR99" in mismatch[0].message and "3A090.a.1" in mismatch[0].message
    assert mismatch[0].evidence["index"] == 2
    assert r.trust_vector.hardware is Status.CONTRAINDICATED


@pytest.mark.parametrize(
    ("tpp", "flagged"),
    [(100.0, True), (15000.0, True), (-15832.0, True), ("catalog+1%", True), ("catalog-0.5%", False), (None, False)],
)
def test_a_declared_tpp_the_catalog_contradicts_is_flagged(tpp: float | str | None, flagged: bool) -> None:
    # The legal classification (3A090.a.1) as the catalog gives it, and a false TPP beside it: a signed
    # false statement is not affirmed. Within rounding (1 %) it stands; a TPP left out claims nothing.
    node = trusted_node()
    m = node.manifest()
    obj = m.to_obj()
    figure = obj["gpus"][1]["classification"]["tpp"]
    assert figure > 4800  # an H100's, from the catalog
    if tpp == "catalog+1%":
        tpp = round(figure * 1.011, 1)
    elif tpp == "catalog-0.5%":
        tpp = round(figure * 0.995, 1)
    if tpp is None:
        del obj["gpus"][1]["classification"]["tpp"]
    else:
        obj["gpus"][1]["classification"]["tpp"] = tpp
    r = verify_envelope(node.envelope(type(m).from_obj(obj)), node.trust, now=NOW)
    mismatch = [f for f in r.findings if f.rule == "classification.mismatch"]
    if not flagged:
        assert not mismatch and r.status is Status.AFFIRMING, r.findings
        return
    assert len(mismatch) == 1 and r.status is Status.WARNING, r.findings
    assert f"declared with TPP {tpp:g}" in mismatch[0].message and "3A090.a.1" in mismatch[0].message
    assert mismatch[0].evidence["index"] == 1 and mismatch[0].evidence["catalog"]["tpp"] == figure
    assert r.trust_vector.hardware is Status.WARNING


def test_manifest_with_an_unknown_chip_warns() -> None:
    node = trusted_node()
    obj = node.manifest().to_obj()
    obj["gpus"][0]["pci"]["device_id"] = "0x999910de"
    obj["gpus"][0]["name"] = "NVIDIA Future X"
    obj["gpus"][0]["classification"] = {"eccn": "3A090.a"}
    m = type(node.manifest()).from_obj(obj)
    r = verify_envelope(node.envelope(m), node.trust, now=NOW)
    assert [f.rule for f in r.findings if f.severity.value != "info"] == ["classification.unknown_chip"]
    assert r.status is Status.WARNING


def test_classify_system() -> None:
    c = bundled_catalog()
    h100, l40, h20 = (classify_chip(c.get(i)) for i in ("h100-sxm", "l40", "h20"))  # type: ignore[arg-type]
    assert classify_system([h20, h100]) == "4A090.a"
    assert classify_system([l40, h20]) == "4A090.b"
    assert classify_system([h20]) is None


def test_catalog_file_is_validated() -> None:
    doc = json.loads((REPO / "attest" / "hardware" / "data" / "chips.json").read_text())
    doc["chips"][1]["pci_ids"].append(doc["chips"][0]["pci_ids"][0])
    with pytest.raises(InputError, match="listed for both"):
        ChipCatalog.from_obj(doc)
    doc = json.loads((REPO / "attest" / "hardware" / "data" / "chips.json").read_text())
    doc["chips"][0]["dense_peak"][0]["source"] = "nowhere"
    with pytest.raises(InputError, match="cites source 'nowhere'"):
        ChipCatalog.from_obj(doc)
    doc["chips"][0]["name_patterns"] = ["("]
    with pytest.raises(InputError, match="does not compile"):
        ChipCatalog.from_obj(doc)
