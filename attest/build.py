"""Assemble a workload manifest from hardware evidence and the operator's declarations.

One function serves the CLI (``attest manifest``), the demo and the node
daemon, so a manifest is built the same way everywhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from attest.errors import InputError
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.model.base import require_aware
from attest.model.hardware import HardwareEvidence
from attest.model.manifest import (
    Freshness,
    Gpu,
    Job,
    LandmarkReceipt,
    LicenseReference,
    LocationEvidence,
    Node,
    Operator,
    Site,
    Tenant,
    TimedGpuReport,
    WorkloadManifest,
)
from attest.sign import manifest_digest

DEFAULT_VALIDITY = timedelta(minutes=15)


def select_gpus(gpus: Sequence[Gpu], selectors: Sequence[str] | None) -> list[Gpu]:
    """Pick GPUs by index (``0``) or UUID (``GPU-…``); all of them when ``selectors`` is empty.

    Raises:
        InputError: a selector matches no GPU, or the host has no GPU at all.
    """
    if not gpus:
        raise InputError("no GPU was found on this host; a manifest needs at least one")
    if not selectors:
        return list(gpus)
    by_index = {str(g.index): g for g in gpus}
    by_uuid = {g.uuid: g for g in gpus}
    chosen: list[Gpu] = []
    for sel in selectors:
        gpu = by_index.get(sel.strip()) or by_uuid.get(sel.strip())
        if gpu is None:
            raise InputError(
                f"no GPU {sel!r} on this host",
                hint=f"indices are 0..{len(gpus) - 1}; UUIDs are listed by 'attest collect'",
            )
        if gpu not in chosen:
            chosen.append(gpu)
    return chosen


def build_manifest(
    *,
    evidence: HardwareEvidence,
    site: Site,
    tenant: Tenant,
    operator: Operator,
    job: Job,
    node_key_id: str,
    now: datetime,
    valid_for: timedelta = DEFAULT_VALIDITY,
    gpus: Sequence[str] | None = None,
    after: WorkloadManifest | None = None,
    sequence: int | None = None,
    previous: str | None = None,
    nonce: str | None = None,
    licenses: Sequence[LicenseReference] = (),
    catalog: Catalog | None = None,
    receipts: Sequence[LandmarkReceipt] = (),
    gpu_reports: Sequence[TimedGpuReport] = (),
) -> WorkloadManifest:
    """Return an unsigned manifest.

    Args:
        evidence: what the GPU source read on this node.
        site: the facility the operator declares.
        tenant: the customer and its ultimate parent.
        operator: the cloud operator.
        job: the workload event.
        node_key_id: the key id the node signs with.
        now: issue time.
        valid_for: the manifest expires at ``now + valid_for``.
        gpus: GPU indices or UUIDs used by the job (default: all).
        after: the node's previous manifest: sets ``sequence`` to one more
            and ``previous`` to its digest.
        sequence: the chain position, when ``after`` is not given.
        previous: the previous manifest's digest, with ``sequence``.
        nonce: hex nonce (default: 16 fresh random bytes).
        licenses: license or exception references.
        catalog: classifies each GPU (default: the bundled chip catalog).
        receipts: landmark receipts measured for this manifest's nonce (``attest locate``).
        gpu_reports: the GPU reports of GPU-timed receipts; only those of the GPUs listed are kept.
    """
    require_aware(now)
    catalog = catalog or bundled_catalog()
    if after is not None:
        if sequence is not None or previous is not None:
            raise InputError("give either the previous manifest or --sequence/--previous, not both")
        if after.node.key_id != node_key_id:
            raise InputError("the previous manifest was signed for another node key")
        sequence = after.freshness.sequence + 1
        previous = manifest_digest(after)
    if valid_for <= timedelta(0):
        raise InputError("the validity period must be positive")
    selected = select_gpus(evidence.gpus, gpus)
    return WorkloadManifest.from_obj(
        {
            "job": job,
            "tenant": tenant,
            "operator": operator,
            "site": site,
            "node": Node(
                hostname=evidence.hostname,
                key_id=node_key_id,
                driver_version=evidence.driver_version,
                cuda_driver_version=evidence.cuda_driver_version,
                cc_state=evidence.cc_state,
            ),
            "gpus": [
                g.model_copy(update={"classification": catalog.classify_gpu(g).to_wire()}) for g in selected
            ],
            "licenses": list(licenses),
            "location_evidence": LocationEvidence(
                receipts=list(receipts),
                gpu_reports=[t for t in gpu_reports if t.gpu_index in {g.index for g in selected}],
            ),
            "freshness": Freshness.from_obj(
                {
                    "issued_at": now,
                    "expires_at": now + valid_for,
                    "nonce": nonce or secrets.token_hex(16),
                    "sequence": sequence or 0,
                    "previous": previous,
                },
                what="freshness",
            ),
        },
        what="manifest",
    )
