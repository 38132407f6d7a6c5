"""Hardware evidence as collected on a node (``attest collect``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from attest.model.base import Timestamp, WireModel
from attest.model.manifest import ConfComputeState, Gpu


class HardwareEvidence(WireModel):
    """What a GPU source read from one host."""

    source: Literal["nvml", "simulated"]
    preset: str | None = Field(default=None, description="the simulated preset or file, when simulated")
    hostname: Annotated[str, Field(min_length=1, max_length=253)]
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    cc_state: ConfComputeState | None = None
    collected_at: Timestamp
    gpus: list[Gpu] = Field(min_length=0, max_length=1024)
