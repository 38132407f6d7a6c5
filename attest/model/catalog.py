"""The chip catalog file: accelerators, their identities and the figures that classify them."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from attest.model.base import WireModel


class PeakFigure(WireModel):
    """A dense (no sparsity) peak throughput figure, with where it came from."""

    precision: Annotated[str, Field(min_length=1, max_length=16, description="int8, fp8, fp16, fp4, ...")]
    bits: Annotated[int, Field(ge=1, le=64, description="bit length of the operation")]
    tops: Annotated[float, Field(gt=0, description="dense tera-operations per second (2 per MAC)")]
    source: str
    date: str


class AttestedSku(WireModel):
    """A board SKU as a GPU's signed attestation report names it (opaque fields 17, 18 and 15)."""

    project: Annotated[str, Field(min_length=1, max_length=16)]
    project_sku: Annotated[str, Field(min_length=1, max_length=16)]
    chip_sku: Annotated[str | None, Field(max_length=16)] = None
    source: str = Field(description="where the value was seen (a key of the catalog's sources)")
    confirmed: bool = Field(
        default=True, description="false where the product behind the sample is inferred, not stated"
    )


class AttestedIdentity(WireModel):
    """What the vendor signs about a chip: device certificate model and board SKUs.

    The verifier compares these with a GPU's declared PCI id and name, so a genuine report
    of one chip cannot vouch for a GPU declared as another (``hardware.model_mismatch``).
    """

    certificate_models: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1,
        description="common name of the per-device (BROM) certificate, e.g. 'GH100 A01 GSP BROM'",
    )
    certificate_source: str = Field(description="a key of the catalog's sources")
    skus: list[AttestedSku] = Field(default_factory=list)


class Chip(WireModel):
    """One accelerator product."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    vendor: str
    product: str
    architecture: str
    datacenter: bool = Field(description="designed or marketed for datacenters (3A090 Note 2)")
    names: list[str] = Field(
        default_factory=list, description="product names as NVML (or the vendor's tool) reports them"
    )
    name_patterns: list[str] = Field(
        default_factory=list, description="regular expressions, case-insensitive"
    )
    pci_ids: list[Annotated[str, Field(pattern=r"^[0-9a-f]{4}:[0-9a-f]{4}$")]] = Field(default_factory=list)
    dense_peak: list[PeakFigure] = Field(default_factory=list)
    die_area_mm2: Annotated[float | None, Field(gt=0)] = None
    die_area_source: str | None = None
    notes: list[str] = Field(default_factory=list)
    license_required_destinations: list[str] = Field(
        default_factory=list, description="country codes or groups where a licence is needed below 3A090"
    )
    prohibited_guidance: str | None = Field(
        default=None, description="source key of guidance against any use"
    )
    attested: AttestedIdentity | None = Field(
        default=None, description="what the vendor's signed attestation reports say this chip is"
    )

    @model_validator(mode="after")
    def _patterns_compile(self) -> Self:
        for p in self.name_patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"name pattern {p!r} of {self.id} does not compile: {exc}") from None
        return self


class ChipCatalog(WireModel):
    """The whole catalog file."""

    version: Literal[1] = 1
    date: str
    about: str
    sources: dict[str, str]
    report_time_floor_ms: dict[str, Annotated[float, Field(ge=0, le=10_000)]] = Field(
        default_factory=dict,
        description="per architecture: a conservative lower bound (ms) on the time a GPU takes to make a "
        "CC attestation report, subtracted from GPU-timed landmark round trips (t_min); an architecture "
        "not listed has 0. Calibrate with: attest gpu time-report",
    )
    chips: list[Chip]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [c.id for c in self.chips]
        if len(set(ids)) != len(ids):
            raise ValueError("a chip id is listed twice")
        seen: dict[str, str] = {}
        for chip in self.chips:
            for pci in chip.pci_ids:
                if pci in seen:
                    raise ValueError(f"PCI id {pci} is listed for both {seen[pci]} and {chip.id}")
                seen[pci] = chip.id
            refs = [f.source for f in chip.dense_peak] + [
                s for s in (chip.die_area_source, chip.prohibited_guidance) if s
            ]
            if chip.attested is not None:
                refs += [chip.attested.certificate_source, *(s.source for s in chip.attested.skus)]
                for sku in chip.attested.skus:
                    key = f"{sku.project}/{sku.project_sku}"
                    if key in seen:
                        raise ValueError(f"attested SKU {key} is listed for both {seen[key]} and {chip.id}")
                    seen[key] = chip.id
            for ref in refs:
                if ref not in self.sources:
                    raise ValueError(f"{chip.id} cites source {ref!r}, which is not in sources")
        return self
