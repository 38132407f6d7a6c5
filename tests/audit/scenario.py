"""A fleet with what an auditor must see first: an Entity-List tenant on H200s, a tampered envelope,
a node that rolled its sequence back, and 48 GPUs gone silent (six nodes of eight) beside healthy ones.

Written as envelope files and a trust store into a directory, for the real CLI (and browser) to audit.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.model.manifest import Site, Tenant
from tests.conftest import NOW, OPERATOR, SITE, Node

ENTITY_TENANT = "Beijing Zhipu Huazhang Technology Co., Ltd."
AUDIT_AT = NOW + timedelta(hours=2)
SGP = Site(facility_id="sin-1", name="Singapore DC 1", country="SG", latitude=1.3521, longitude=103.8198, accuracy=500)


def write_fleet(root: Path) -> Path:
    """Write ``root/spool/*.json`` and ``root/trust.json``; return the spool directory."""
    spool = root / "spool"
    spool.mkdir(parents=True)
    trust = TrustStore()
    nodes: list[tuple[Node, Site]] = []
    for i in range(9):
        key = SigningKey.generate()
        site = SGP if i == 8 else SITE
        trust = trust.with_key(key.public, operator=OPERATOR.name, sites=[site.facility_id], countries=[site.country])
        nodes.append((Node(key=key, trust=trust, host=f"gpu-{i:02d}", preset="h200" if i == 8 else "h100", site=site), site))
    trust.save(root / "trust.json")

    def put(node: Node, minutes: float, name: str | None = None, **changes: object) -> bytes:
        m = node.manifest(now=NOW + timedelta(minutes=minutes), chain=True, **changes)
        raw = node.envelope(m)
        (spool / (name or f"{node.host}-{m.freshness.sequence}.json")).write_bytes(raw)
        return raw

    # gpu-00 and gpu-01: healthy, attested until a few minutes before the audit.
    for node, _ in nodes[:2]:
        for t in (0, 60, 115):
            put(node, t)
    # gpu-02 .. gpu-07: attested once at the start, then silent for two hours (48 GPUs).
    for node, _ in nodes[2:8]:
        put(node, 0)
    # gpu-01 signs sequence 0 again (a rolled-back node), and one envelope has a byte flipped.
    rolled = nodes[1][0]
    first = rolled.history[0]
    again = rolled.manifest(now=NOW + timedelta(minutes=116), freshness={**first.freshness.to_obj(), "nonce": "ab" * 16,
                                                                         "issued_at": (NOW + timedelta(minutes=116)).isoformat(),
                                                                         "expires_at": (NOW + timedelta(minutes=126)).isoformat()})
    (spool / "gpu-01-rollback.json").write_bytes(rolled.envelope(again))
    raw = bytearray((spool / "gpu-00-2.json").read_bytes())
    at = raw.index(b'"payload":"') + 40
    raw[at] = ord("A") if raw[at] != ord("A") else ord("B")
    (spool / "gpu-00-tampered.json").write_bytes(bytes(raw))
    # gpu-08: eight H200s rented to a company on the Entity List, in Singapore.
    tenant = Tenant.from_obj({"legal_name": ENTITY_TENANT, "headquarters_country": "CN"})
    for t in (100, 110):
        put(nodes[8][0], t, tenant=json.loads(tenant.to_json()) if hasattr(tenant, "to_json") else tenant.to_obj())
    return spool
