"""Endorsed reference values for chips: the catalog, and ECCN classification computed from it.

Classification follows 15 CFR 774, ECCN 3A090 (as of 2023-11-17):

- TPP = 2 x MacTOPS x bit length, the highest over the chip's precisions
  (vendors quote operations, two per MAC, so TPP = quoted dense TOPS x bits);
- PD = TPP / applicable die area (mm²);
- 3A090.a.1: TPP >= 4800; 3A090.a.2: TPP >= 1600 and PD >= 5.92;
  3A090.b.1: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92;
  3A090.b.2: TPP >= 1600 and 3.2 <= PD < 5.92;
- Note 2: not 3A090 when not designed or marketed for datacenters and TPP < 4800;
- a system containing 3A090 chips is 4A090 (.a with any 3A090.a chip, else .b).

An unknown chip, or one whose figures are not known well enough to decide,
is treated as controlled, and the classification says so: never "harmless
because unknown". Nothing here is legal advice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from typing import Literal

from attest.crypto.canonical import json_digest
from attest.model.catalog import Chip, ChipCatalog
from attest.model.manifest import Classification, Gpu

TPP_A1 = 4800.0
TPP_A2 = 1600.0
PD_A2 = 5.92
TPP_B1 = 2400.0
PD_B1 = 1.6
PD_B2 = 3.2


@dataclass(frozen=True)
class ChipClassification:
    """The outcome of classifying one chip, with the numbers and the reasons."""

    eccn: str | None
    """``3A090.a``, ``3A090.b``, or None when below the 3A090 parameters."""
    paragraph: str | None
    """The paragraph that matched (``3A090.a.1``...), or None when assumed or below."""
    tpp: float | None
    pd: float | None
    controlled: bool
    basis: Literal["computed", "assumed"]
    chip: str | None = None
    product: str | None = None
    datacenter: bool | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @cached_property
    def wire(self) -> Classification:
        """The classification as written into a manifest's GPU entry (computed once)."""
        return self.to_wire()

    def to_wire(self) -> Classification:
        """The classification as written into a manifest's GPU entry."""
        return Classification(
            eccn=self.eccn or "not-3A090",
            paragraph=self.paragraph,
            tpp=round(self.tpp, 1) if self.tpp is not None else None,
        )


def _matched(paragraph: str, tpp: float, pd: float | None, datacenter: bool | None) -> ChipClassification:
    return ChipClassification(paragraph[:7], paragraph, tpp, pd, True, "computed", datacenter=datacenter)


def _below(tpp: float, pd: float | None, datacenter: bool | None, why: str) -> ChipClassification:
    return ChipClassification(None, None, tpp, pd, False, "computed", datacenter=datacenter, notes=(why,))


def _assumed(tpp: float | None, pd: float | None, datacenter: bool | None, why: str) -> ChipClassification:
    return ChipClassification("3A090.a", None, tpp, pd, True, "assumed", datacenter=datacenter, notes=(why,))


def classify_parameters(
    tpp: float | None, pd: float | None, *, datacenter: bool | None
) -> ChipClassification:
    """Apply the 3A090 tests to the numbers (``datacenter`` None counts as datacenter)."""
    if tpp is None:
        return _assumed(None, pd, datacenter, "TPP is not known: treated as controlled (3A090.a assumed)")
    if datacenter is False and tpp < TPP_A1:
        return _below(
            tpp,
            pd,
            False,
            "not designed or marketed for datacenters and TPP below 4800: not 3A090 (Note 2 to 3A090)",
        )
    if tpp >= TPP_A1:
        return _matched("3A090.a.1", tpp, pd, datacenter)
    if tpp < TPP_A2:
        return _below(tpp, pd, datacenter, "TPP below 1600: below the 3A090 parameters")
    if pd is None:
        return _assumed(
            tpp,
            None,
            datacenter,
            "die area not known, so PD cannot be computed; with TPP of 1600 or more this may be 3A090.a.2 or .b: "
            "treated as controlled (3A090.a assumed)",
        )
    if pd >= PD_A2:
        return _matched("3A090.a.2", tpp, pd, datacenter)
    if TPP_B1 <= tpp < TPP_A1 and PD_B1 <= pd < PD_A2:
        return _matched("3A090.b.1", tpp, pd, datacenter)
    if PD_B2 <= pd < PD_A2:
        return _matched("3A090.b.2", tpp, pd, datacenter)
    return _below(tpp, pd, datacenter, "TPP and PD below the 3A090 parameters")


def chip_tpp(chip: Chip) -> float | None:
    """TPP from the catalog's dense figures: the highest quoted TOPS x bit length."""
    return max((f.tops * f.bits for f in chip.dense_peak), default=None)


def classify_chip(chip: Chip) -> ChipClassification:
    """Classify a catalog chip, with its notes."""
    tpp = chip_tpp(chip)
    pd = tpp / chip.die_area_mm2 if tpp is not None and chip.die_area_mm2 else None
    base = classify_parameters(tpp, pd, datacenter=chip.datacenter)
    notes = list(base.notes) + list(chip.notes)
    if chip.license_required_destinations:
        notes.append(
            "licence required for "
            + ", ".join(chip.license_required_destinations)
            + " despite the classification"
        )
    return ChipClassification(
        base.eccn,
        base.paragraph,
        base.tpp,
        base.pd,
        base.controlled or bool(chip.license_required_destinations),
        base.basis,
        chip=chip.id,
        product=f"{chip.vendor} {chip.product}",
        datacenter=chip.datacenter,
        notes=tuple(notes),
    )


def unknown_chip(description: str) -> ChipClassification:
    """The classification of a chip the catalog does not know: controlled, assumed."""
    return _assumed(
        None, None, None, f"{description} is not in the chip catalog: treated as controlled (3A090.a assumed)"
    )


@dataclass(frozen=True)
class IdentityCheck:
    """Whether a signed report's device identity is the chip a GPU entry declares."""

    verdict: Literal["confirmed", "mismatch", "unconfirmed"]
    message: str


def _strictness(c: ChipClassification) -> tuple[int, float, int]:
    """How controlled a chip is, for comparing siblings of one die (higher is stricter)."""
    eccn = {"3A090.a": 2, "3A090.b": 1}.get(c.eccn or "", 0)
    return (eccn, c.tpp or 0.0, int(c.controlled))


class Catalog:
    """The chip catalog with lookups by PCI id and product name."""

    def __init__(self, document: ChipCatalog) -> None:
        self.document = document
        self._by_pci = {pci: chip for chip in document.chips for pci in chip.pci_ids}
        self._by_id: dict[str, Chip] = {}
        for chip in document.chips:
            self._by_id.setdefault(chip.id, chip)  # the first, as a scan in file order finds
        self._by_name = {name.casefold(): chip for chip in document.chips for name in chip.names}
        self._patterns = [
            (re.compile(p, re.IGNORECASE), chip) for chip in document.chips for p in chip.name_patterns
        ]
        self._by_certificate: dict[str, list[Chip]] = {}
        self._by_sku: dict[tuple[str, str], Chip] = {}
        for chip in document.chips:
            if chip.attested is None:
                continue
            for model in chip.attested.certificate_models:
                self._by_certificate.setdefault(model, []).append(chip)
            for sku in chip.attested.skus:
                self._by_sku[(sku.project, sku.project_sku)] = chip
        # A classification depends only on (PCI id, name); fleets repeat the same few.
        self._classified: dict[tuple[str, str], ChipClassification] = {}

    @cached_property
    def anchor(self) -> str:
        """Which catalog this is, for a result's anchors: its date and sha256 of its canonical JSON."""
        return f"{self.document.date} {json_digest(self.document.to_obj())}"

    @property
    def chips(self) -> list[Chip]:
        """Every chip, in file order."""
        return list(self.document.chips)

    def get(self, chip_id: str) -> Chip | None:
        """The chip with this catalog id."""
        return self._by_id.get(chip_id)

    def by_pci(self, vendor: int, device: int) -> Chip | None:
        """The chip with this PCI vendor and device id."""
        return self._by_pci.get(f"{vendor:04x}:{device:04x}")

    def by_name(self, name: str) -> Chip | None:
        """The chip with this product name (exact, then patterns), or a catalog id."""
        key = name.strip().casefold()
        if key in self._by_name:
            return self._by_name[key]
        for pattern, chip in self._patterns:
            if pattern.search(name):
                return chip
        return self.get(name.strip().lower())

    def declared_chip(self, gpu: Gpu) -> Chip | None:
        """The chip a GPU entry declares: by PCI id first (names can be edited), then by name."""
        vendor, device = gpu.pci_vendor_device
        return self.by_pci(vendor, device) or self.by_name(gpu.name)

    def name_pci_conflict(self, gpu: Gpu) -> tuple[Chip, Chip] | None:
        """(chip by PCI id, chip by name) when both are known and differ: a re-declared GPU."""
        vendor, device = gpu.pci_vendor_device
        by_pci, by_name = self.by_pci(vendor, device), self.by_name(gpu.name)
        if by_pci is not None and by_name is not None and by_pci.id != by_name.id:
            return by_pci, by_name
        return None

    def check_identity(
        self, declared: Chip, certificate_model: str, project: str | None, project_sku: str | None
    ) -> IdentityCheck:
        """Compare what a GPU's signed report says it is with the chip its entry declares.

        * the device certificate names a die this chip is not made of: ``mismatch``;
        * the report's board SKU is recorded for another chip: ``mismatch``;
        * the SKU is recorded for this chip: ``confirmed``;
        * otherwise the die alone confirms it only when no other chip of that die is
          more controlled (a report of an H100 die cannot pass as an H20 without its SKU
          saying so): else ``unconfirmed``.
        """
        name = declared.product
        if declared.attested is None:
            return IdentityCheck(
                "unconfirmed",
                f"the catalog records no attested identity for {name}; the report's device model "
                f"{certificate_model!r} could not be compared with it",
            )
        if certificate_model not in declared.attested.certificate_models:
            makers = [c.product for c in self._by_certificate.get(certificate_model, [])]
            return IdentityCheck(
                "mismatch",
                f"declared {name}, but the device certificate says {certificate_model!r}"
                + (f" ({', '.join(makers)})" if makers else " (no chip of the catalog)"),
            )
        if project is not None and project_sku is not None:
            sku_chip = self._by_sku.get((project, project_sku))
            if sku_chip is not None and sku_chip.id != declared.id:
                return IdentityCheck(
                    "mismatch",
                    f"declared {name}, but the signed report names board {project}/{project_sku}, "
                    f"which is {sku_chip.product}",
                )
            if sku_chip is not None:
                return IdentityCheck("confirmed", f"board {project}/{project_sku} is {name}")
        rank = _strictness(classify_chip(declared))
        stricter = [
            c.product
            for c in self._by_certificate.get(certificate_model, [])
            if c.id != declared.id and _strictness(classify_chip(c)) > rank
        ]
        if stricter:
            sku = (
                f"its board {project}/{project_sku} is not recorded for {name}"
                if project and project_sku
                else "it names no board SKU"
            )
            return IdentityCheck(
                "unconfirmed",
                f"declared {name}; the report's die {certificate_model!r} is also {', '.join(stricter)}, "
                f"which are more controlled, and {sku}",
            )
        return IdentityCheck(
            "confirmed", f"{certificate_model!r} is {name}'s die, and none of its siblings is more controlled"
        )

    def report_floor_ns(self, gpus: Iterable[Gpu]) -> int:
        """``t_min`` for a node: the smallest report-time floor of its GPUs' architectures, in ns.

        A GPU of an unknown chip, or of an architecture without a floor, makes it 0 (the safe
        side: a larger disk). The chip is found from the declared PCI id and name, which the
        hardware step compares with what the vendor attests.
        """
        floors = self.document.report_time_floor_ms
        out: float | None = None
        for gpu in gpus:
            chip = self.declared_chip(gpu)
            floor = floors.get(chip.architecture, 0.0) if chip is not None else 0.0
            out = floor if out is None else min(out, floor)
        return int((out or 0.0) * 1e6)

    def classify_gpu(self, gpu: Gpu) -> ChipClassification:
        """Classify a GPU entry: by PCI id first (names can be edited), then by name."""
        key = (gpu.pci.device_id, gpu.name)
        found = self._classified.get(key)
        if found is None:
            found = self._classify(gpu)
            if len(self._classified) < 4096:
                self._classified[key] = found
        return found

    def _classify(self, gpu: Gpu) -> ChipClassification:
        vendor, device = gpu.pci_vendor_device
        chip = self.by_pci(vendor, device) or self.by_name(gpu.name)
        if chip is None:
            return unknown_chip(f"{gpu.name} (PCI {vendor:04x}:{device:04x})")
        return classify_chip(chip)


@lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    """The catalog shipped with the package."""
    text = resources.files("attest.hardware").joinpath("data/chips.json").read_bytes()
    return Catalog(ChipCatalog.from_json(text, what="bundled chip catalog"))


def classify_system(classifications: Iterable[ChipClassification]) -> str | None:
    """4A090.a if any chip is 3A090.a, 4A090.b if any is 3A090.b, else None."""
    eccns = {c.eccn for c in classifications}
    if "3A090.a" in eccns:
        return "4A090.a"
    if "3A090.b" in eccns:
        return "4A090.b"
    return None
