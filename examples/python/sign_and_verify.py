"""Sign a manifest for a simulated H100 node and verify it, with the Python API.

Run: python examples/python/sign_and_verify.py
"""

from datetime import UTC, datetime, timedelta

import attest
from attest.build import build_manifest
from attest.hardware import SimulatedGpuSource
from attest.model import Job, Operator, Site, Tenant


def main() -> int:
    key = attest.SigningKey.generate()  # on a node: attest.load_signing_key(Path("/etc/attest/attest.key"))
    trust = attest.TrustStore().with_key(key.public, operator="Example Cloud Sdn. Bhd.", countries=["MY"])

    now = datetime.now(UTC)
    manifest = build_manifest(
        evidence=SimulatedGpuSource("h100", hostname="gpu-a17").read(),
        site=Site(facility_id="jhb-2", name="Johor DC 2", country="MY", latitude=1.6561, longitude=103.6032),
        tenant=Tenant(legal_name="Example Robotics Inc.", headquarters_country="US"),
        operator=Operator(name="Example Cloud Sdn. Bhd.", country="MY"),
        job=Job(id="slurm-48211", scheduler="slurm", phase="start", started_at=now),
        node_key_id=key.key_id,
        now=now,
    )
    envelope = attest.encode_envelope(attest.sign_manifest(manifest, key))

    verifier = attest.Verifier(trust)  # the us-ear policy; replay, chain and device state in memory
    result = verifier.verify(envelope, now=now + timedelta(seconds=5))
    print(result.status.value, [f.rule for f in result.findings if f.severity is not attest.Severity.INFO])
    print("judged with", result.anchors.to_obj() if result.anchors else None)
    return result.status.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
