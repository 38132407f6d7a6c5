"""The trust store file: which signer keys an auditor trusts, and for what.

A human-editable JSON file::

    {"version": 1,
     "keys": [{"key_id": "3f1c…", "algorithm": "ed25519", "public_key": "MCowBQYDK2VwAyEA…",
               "operator": "Example Cloud Sdn. Bhd.", "sites": ["jhb-2"], "countries": ["MY"],
               "not_before": "2026-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"}],
     "revoked": ["9a0b…"]}

``public_key`` is base64 of the DER SubjectPublicKeyInfo (the body of the
``.pub`` PEM on one line). Empty ``sites`` / ``countries`` mean "any". ``hosts`` names
the hosts a node key may speak for when a scheduler admits jobs (``attest trust add
--host``); see :mod:`attest.scheduler.evidence` for what an empty list means there.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from attest.model.base import CountryCode, FacilityId, HexSha256, Name, Timestamp, WireModel


class TrustedKey(WireModel):
    """A signer key and the scope within which its signatures are accepted."""

    key_id: HexSha256
    algorithm: Literal["ed25519", "ecdsa-p256", "ecdsa-p384"]
    public_key: Annotated[str, Field(min_length=40, max_length=1024, description="base64 DER SPKI")]
    operator: Name | None = Field(default=None, description="the operator name the manifest must carry")
    sites: list[FacilityId] = Field(
        default_factory=list, description="allowed facility ids (as a site's facility_id); empty = any"
    )
    countries: list[CountryCode] = Field(
        default_factory=list, description="allowed site countries; empty = any"
    )
    hosts: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list,
        description="host names this node key may speak for in admission; empty = the host first seen "
        "with it (pinned), and none that another key's entry names",
    )
    not_before: Timestamp | None = None
    not_after: Timestamp | None = None
    comment: str | None = None

    @model_validator(mode="after")
    def _period(self) -> Self:
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be after not_before")
        return self


class TrustedChallenger(WireModel):
    """A key trusted to issue binding challenges (to keep time), never to sign manifests."""

    key_id: HexSha256
    algorithm: Literal["ed25519", "ecdsa-p256", "ecdsa-p384"]
    public_key: Annotated[str, Field(min_length=40, max_length=1024, description="base64 DER SPKI")]
    comment: str | None = None


class TrustStoreFile(WireModel):
    """The whole trust store file."""

    version: Literal[1] = 1
    keys: list[TrustedKey] = Field(default_factory=list)
    revoked: list[HexSha256] = Field(default_factory=list)
    challengers: list[TrustedChallenger] = Field(
        default_factory=list,
        description="keys whose binding challenges date GPU bindings (attest challenge issue); "
        "a challenger key cannot sign manifests and a node key cannot issue challenges",
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [k.key_id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("a key_id is listed twice in keys")
        challengers = [c.key_id for c in self.challengers]
        if len(set(challengers)) != len(challengers):
            raise ValueError("a key_id is listed twice in challengers")
        both = set(ids) & set(challengers)
        if both:
            raise ValueError(
                f"key {sorted(both)[0][:16]}… is both a node key and a challenger; use separate keys"
            )
        return self
