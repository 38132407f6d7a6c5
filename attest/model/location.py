"""Landmark registries: the landmarks a node measures against and a verifier trusts."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from attest.model.base import WireModel


class Landmark(WireModel):
    """One landmark: where it is, the key its receipts are signed with, who runs it."""

    id: Annotated[str, Field(min_length=1, max_length=128)]
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    public_key: Annotated[
        str, Field(min_length=1, description="base64 DER SPKI of the landmark's receipt key")
    ]
    operator: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            description="the party holding the key; k-of-n counts distinct operators",
        ),
    ]
    address: str | None = Field(default=None, description="HOST:PORT of its UDP service (for provers)")


class LandmarkRegistry(WireModel):
    """The landmarks a node measures against (and a verifier trusts)."""

    landmarks: list[Landmark] = Field(min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [lm.id for lm in self.landmarks]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"landmark ids must be unique; repeated: {', '.join(dupes)}")
        return self

    def get(self, landmark_id: str) -> Landmark | None:
        """The landmark with this id, if registered."""
        return next((lm for lm in self.landmarks if lm.id == landmark_id), None)
