"""RIM appraisal per report, beside one P-384 verify (the floor every report already costs).

On NVIDIA's real samples (an NVSwitch's nvattest evidence and the NVSwitch BIOS RIM for it:
31 measurements compared), one run:

- raw:          one ECDSA P-384/SHA-384 verify of the report signature (``cryptography``);
- report:       ``verify_report`` with a shared ``ChainCache`` (what a fleet pays per report today);
- appraise:     ``appraise_report`` with a shared ``RimAppraiser``: the RIM found in the cache
                directory, recognised by digest (verified once), 31 golden values compared;
- appraise-cold: the same with a fresh appraiser each time: XML parse, four-certificate
                chain, XML signature (signxml), as for the first report of each firmware;
- rim-verify:   ``verify_rim`` alone (the cold part).

Run: python bench/bench_rim.py [--n 300]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attest.hardware.cc import ChainCache, parse_chain, verify_report
from attest.hardware.rim import DirectoryRims, RimAppraiser, appraise_report, verify_rim

HERE = Path(__file__).resolve().parent
NVAT = HERE.parent.parent / "shared" / "vectors" / "nvidia-nvat"
ROOT = NVAT.parent / "nvidia" / "nvidia_device_identity_root.pem"
RIM = NVAT / "attestation-sdk/rim_and_reports/switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def per_second(fn: Callable[[], object], n: int, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    if not NVAT.is_dir():
        print(f"NVIDIA samples not found at {NVAT}", file=sys.stderr)
        return 2
    entry = json.loads((NVAT / "attestation-sdk/evidence/switch_evidence_ls10.json").read_text())[0]
    report, chain = base64.b64decode(entry["evidence"]), base64.b64decode(entry["certificate"])
    nonce, root = bytes.fromhex(entry["nonce"]), ROOT.read_bytes()
    rim_root = (NVAT / "nvtrust/roots/verifier_RIM_root.pem").read_bytes()
    rim_xml = RIM.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "NV_SWITCH_BIOS_5612_0002_890_9610550001.xml").write_bytes(rim_xml)
        rims = DirectoryRims(Path(tmp))
        cache = ChainCache()
        outcome = verify_report(report, chain, root, now=NOW, expected_nonce=nonce, cache=cache)
        appraiser = RimAppraiser(rims, rim_root)
        findings = appraise_report(outcome, appraiser, now=NOW)
        assert [f.rule for f in findings] == ["hardware.rim.appraised"], findings

        leaf = parse_chain(chain)[0].public_key()
        assert isinstance(leaf, ec.EllipticCurvePublicKey)
        sig = report[-96:]
        der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))

        rows = {
            "raw P-384 verify": per_second(
                lambda: leaf.verify(der, report[:-96], ec.ECDSA(hashes.SHA384())), args.n
            ),
            "verify_report (cached chain)": per_second(
                lambda: verify_report(report, chain, root, now=NOW, expected_nonce=nonce, cache=cache), args.n
            ),
            "appraise_report (RIM cached)": per_second(
                lambda: appraise_report(outcome, appraiser, now=NOW), args.n
            ),
            "appraise_report (cold: RIM verified)": per_second(
                lambda: appraise_report(outcome, RimAppraiser(rims, rim_root), now=NOW), max(args.n // 10, 10)
            ),
            "verify_rim alone": per_second(
                lambda: verify_rim(rim_xml, rim_root, now=NOW), max(args.n // 10, 10)
            ),
        }
    floor = rows["raw P-384 verify"]
    print(f"{'what':<40}{'per second':>12}{'µs each':>10}{'× P-384':>10}")
    for name, r in rows.items():
        print(f"{name:<40}{r:>12.0f}{1e6 / r:>10.1f}{floor / r:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
