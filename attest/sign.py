"""Turn a workload manifest into a signed in-toto statement in a DSSE envelope.

The statement's subjects are the workload: the job specification digest and
the container image digests in ``job``; a job that declares neither is named
by the digest of its canonical ``job`` object, so a statement is never about
nothing. The verifier re-derives the subjects and rejects a mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from attest.crypto.canonical import canonical_json, json_digest
from attest.crypto.dsse import sign_payload
from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.model.manifest import WorkloadManifest
from attest.model.statement import PAYLOAD_TYPE_INTOTO, Envelope, Statement, Subject


def workload_subjects(manifest: WorkloadManifest) -> list[Subject]:
    """Return the in-toto subjects that name this manifest's workload."""
    job = manifest.job
    subjects: list[Subject] = []
    if job.spec_digest:
        subjects.append(
            Subject(name=f"job/{job.id}", digest={"sha256": job.spec_digest.removeprefix("sha256:")})
        )
    for image in job.images:
        subjects.append(Subject(name=image.name, digest={"sha256": image.digest.removeprefix("sha256:")}))
    if not subjects:
        digest = hashlib.sha256(canonical_json(job.to_obj())).hexdigest()
        subjects.append(Subject(name=f"job/{job.id}", digest={"sha256": digest}))
    return subjects


def manifest_digest(manifest: WorkloadManifest) -> str:
    """Return ``sha256:<hex>`` of the manifest's canonical JSON: the next manifest's ``previous``."""
    return json_digest(manifest.to_obj())


def build_statement(manifest: WorkloadManifest) -> Statement:
    """Wrap a manifest into an in-toto Statement v1 about its workload."""
    return Statement(subject=workload_subjects(manifest), predicate=manifest)


def sign_manifest(manifest: WorkloadManifest, keys: SigningKey | Sequence[SigningKey]) -> Envelope:
    """Sign a manifest; the first key must be the node key the manifest names.

    Raises:
        InputError: when ``manifest.node.key_id`` is not the first key's id, which
            the verifier would reject anyway.
    """
    key_list = [keys] if isinstance(keys, SigningKey) else list(keys)
    if not key_list:
        raise InputError("at least one signing key is needed")
    if manifest.node.key_id != key_list[0].key_id:
        raise InputError(
            f"manifest names node key {manifest.node.key_id[:16]}… but is signed with {key_list[0].key_id[:16]}…",
            hint="build the manifest with the same key (attest manifest --key KEY)",
        )
    payload = build_statement(manifest).model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
    return sign_payload(payload, PAYLOAD_TYPE_INTOTO, key_list)
