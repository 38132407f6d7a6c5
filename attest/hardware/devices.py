"""Which physical GPUs a manifest claims, and over which period: one derivation for every check.

A GPU's identity is its per-device (BROM) certificate's key (:func:`attest.hardware.cc.device_identity`),
read from the certificate chain its CC evidence carries. A manifest asserts its GPUs from its
binding's challenge (else from its own issue time) until it expires. The verifier's batch check
of GPUs serving two nodes and the audit's fleet analytics both read them here, so the two can
never disagree about which device a GPU is, or for how long a node claims it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

from attest.hardware.cc import EvidenceError, device_identity, parse_chain
from attest.model.manifest import Gpu, WorkloadManifest

__all__ = ["claim_period", "gpu_devices"]


def gpu_devices(gpus: Sequence[Gpu]) -> tuple[tuple[int, str, datetime | None], ...]:
    """(GPU index, device identity, binding challenge's issue time or None) of each GPU with a device certificate.

    A GPU without CC evidence, or whose chain does not parse or holds no device certificate
    (chain position 1), claims no device. Nothing here is verified: call it on evidence the
    verifier has checked, or to find what a manifest claims.
    """
    found: list[tuple[int, str, datetime | None]] = []
    for g in gpus:
        ev = g.cc_evidence
        if ev is None:
            continue
        device = chain_device(ev.certificate_chain)
        if device is None:
            continue
        since = ev.challenge.challenge.issued_at if ev.challenge else None
        found.append((g.index, device, since))
    return tuple(found)


@functools.lru_cache(maxsize=1024)
def chain_device(certificate_chain: str) -> str | None:
    """The device identity of a PEM chain's device certificate (position 1); None if it has none or does not parse.

    Remembered per chain text: a node's heartbeats repeat their binding's chains.
    """
    try:
        chain = parse_chain(certificate_chain.encode("utf-8"))
    except EvidenceError:
        return None
    return device_identity(chain[1]) if len(chain) >= 2 else None


def claim_period(manifest: WorkloadManifest, since: datetime | None) -> tuple[datetime, datetime]:
    """The period over which ``manifest`` claims a GPU bound at ``since`` (None: its issue time).

    From the binding until the manifest expires; a period never ends before it starts.
    """
    issued, expires = manifest.freshness.issued_at, manifest.freshness.expires_at
    start = since or issued
    return start, max(expires, issued, start)
