"""in-toto Statement v1 and the DSSE envelope that carries it."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import Field, field_validator

from attest.model.base import WireModel
from attest.model.manifest import PREDICATE_TYPE, WorkloadManifest

assert PREDICATE_TYPE == "https://compute-attest.dev/workload-manifest/v1"  # the Literal below spells it out

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE_INTOTO = "application/vnd.in-toto+json"


class Subject(WireModel):
    """A software artifact the statement is about, named and identified by digests."""

    name: Annotated[str, Field(min_length=1, max_length=1024)]
    digest: Annotated[
        dict[
            Annotated[str, Field(pattern=r"^[a-z0-9-]{1,32}$")],
            Annotated[str, Field(pattern=r"^[0-9a-f]{1,256}$", description="lowercase hex")],
        ],
        Field(min_length=1, max_length=8),
    ]


class Statement(WireModel):
    """An in-toto Statement v1 whose predicate is a workload manifest.

    ``_type`` and ``predicateType`` are required, as in-toto requires them: a payload that
    leaves them out is not a statement of this kind (a reader must not supply them).
    """

    type: Literal["https://in-toto.io/Statement/v1"] = Field(alias="_type")
    subject: Annotated[list[Subject], Field(min_length=1, max_length=256)]
    predicate_type: Literal["https://compute-attest.dev/workload-manifest/v1"] = Field(alias="predicateType")
    predicate: WorkloadManifest


class Signature(WireModel):
    """One DSSE signature: a key id and the base64 signature."""

    keyid: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    sig: Annotated[str, Field(min_length=4, max_length=2048)]


class Envelope(WireModel):
    """A DSSE v1 envelope (payload and signatures base64, standard alphabet, padded)."""

    payload: Annotated[str, Field(max_length=2 * 1024 * 1024)]
    payload_type: Annotated[str, Field(alias="payloadType", min_length=1, max_length=256)]
    signatures: Annotated[list[Signature], Field(min_length=1, max_length=16)]

    @field_validator("signatures")
    @classmethod
    def _distinct_keyids(cls, value: list[Signature]) -> list[Signature]:
        ids = [s.keyid for s in value]
        if len(set(ids)) != len(ids):
            raise ValueError("two signatures carry the same keyid")
        return value

    def to_obj(self) -> Any:
        """Return the JSON value with DSSE's field names."""
        return {
            "payload": self.payload,
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": s.sig} for s in self.signatures],
        }
