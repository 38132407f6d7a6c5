"""The chain digest assembled from kept frames is the manifest's whole RFC 8785 digest, whatever was kept.

``manifest_digest`` writes only the freshness and job of each manifest; the canonical text
around them is kept per set of member objects. These tests say the result is byte for byte
``json_digest(manifest.to_obj())`` and that the kept frame follows every member it is made of.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from attest.crypto.canonical import canonical_json, json_digest
from attest.model import fastread
from attest.model.manifest import LicenseReference, LocationEvidence, WorkloadManifest
from attest.sign import _FRAMED, clear_digests, manifest_canonical, manifest_digest
from tests.conftest import NOW, trusted_node
from tests.location.test_verify_location import honest
from tests.model.test_fastread import manifests, payload_of


def variant(m: WorkloadManifest, name: str) -> object:
    """Another value of member ``name``, with another canonical encoding."""
    value = getattr(m, name)
    if name == "tenant":
        return value.model_copy(update={"legal_name": value.legal_name + " Holdings"})
    if name == "operator":
        return value.model_copy(update={"name": value.name + " 2"})
    if name == "site":
        return value.model_copy(update={"facility_id": value.facility_id + "-b"})
    if name == "node":
        return value.model_copy(update={"hostname": value.hostname + "-b"})
    if name == "gpus":
        return value[:-1]
    if name == "licenses":
        return [LicenseReference(kind="license", id="D7654321", valid_until=NOW + timedelta(days=9))]
    if name == "location_evidence":
        return LocationEvidence(receipts=honest(m), gpu_reports=[])
    raise AssertionError(f"no variant for {name}")


def test_every_member_but_job_and_freshness_is_framed() -> None:
    assert set(_FRAMED) == set(WorkloadManifest.model_fields) - {"job", "freshness"}


def test_digests_of_read_manifests_are_the_whole_encoding() -> None:
    clear_digests()
    for m in manifests():
        node = trusted_node()
        stream = [node.manifest() for _ in range(3)]  # one node: members repeat, job and freshness change
        for each in [m, *stream]:
            read = fastread.read_statement(payload_of(each)).predicate
            for _ in range(2):  # the second time from the kept frame and digest
                assert manifest_canonical(read) == canonical_json(each.to_obj())
                assert manifest_digest(read) == json_digest(each.to_obj())


@pytest.mark.parametrize("name", sorted(set(WorkloadManifest.model_fields) - {"job", "freshness"}))
def test_a_kept_frame_follows_each_member_it_is_made_of(name: str) -> None:
    # The other members are the very objects whose frame was kept: a frame keyed without this
    # member would hand the old manifest's text to the new one.
    node = trusted_node()
    first = fastread.read_statement(payload_of(node.manifest())).predicate
    assert manifest_digest(first) == json_digest(first.to_obj())
    changed = first.model_copy(update={name: variant(first, name)})  # shares every other member object
    assert all(getattr(changed, n) is getattr(first, n) for n in _FRAMED if n != name)
    assert canonical_json(changed.to_obj()) != canonical_json(first.to_obj())
    assert manifest_canonical(changed) == canonical_json(changed.to_obj())
    assert manifest_digest(changed) == json_digest(changed.to_obj())
    # ...and the first manifest's frame is still its own.
    clear_digests()
    assert manifest_digest(first) == json_digest(first.to_obj())
