"""GPU attestation report verification: per report, beside the raw P-384 verify and NVIDIA's verifier.

Contenders on the same NVIDIA sample (Hopper report, its chain, the pinned root), one run:

- raw:        one ECDSA P-384/SHA-384 verify of the report signature (``cryptography``),
              the floor any verifier pays per report;
- attest:     ``attest.hardware.cc.verify_report`` with no cache (parse, five certificates,
              four chain links, report signature, nonce, FWID);
- attest+cache: the same with a shared ``ChainCache``, as for a fleet re-attesting its GPUs;
- nvidia:     nv-local-gpu-verifier 2.7.3's offline path (report parse, chain with the pinned
              root and FWID, report signature), run in its own venv because it pins older
              cryptography and pyOpenSSL. Create it once with ``--setup-peer``.

Run: python bench/bench_gpu_report.py [--setup-peer] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from attest.hardware.cc import ChainCache, parse_chain, verify_report

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent.parent / "shared" / "vectors" / "nvidia"
PEER = HERE / ".peer-nvidia"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def rate(fn: Callable[[], object], n: int, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument(
        "--setup-peer", action="store_true", help="create bench/.peer-nvidia with nv-local-gpu-verifier"
    )
    args = ap.parse_args()
    if not VECTORS.is_dir():
        print(f"NVIDIA samples not found at {VECTORS}", file=sys.stderr)
        return 2
    if args.setup_peer and not PEER.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER)], check=True)
        subprocess.run(
            [str(PEER / "bin" / "pip"), "install", "-q", "nv-local-gpu-verifier==2.7.3"], check=True
        )

    report_file, chain_file, root_file = (
        VECTORS / "hopperAttestationReport.txt",
        VECTORS / "hopperCertChain.txt",
        VECTORS / "nvidia_device_identity_root.pem",
    )
    report = bytes.fromhex(report_file.read_text().strip())
    chain, root = chain_file.read_bytes(), root_file.read_bytes()
    nonce = report[4:36]

    leaf_key = parse_chain(chain)[0].public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    sig = report[-96:]
    der_sig = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    signed = report[:-96]

    def raw() -> None:
        leaf_key.verify(der_sig, signed, ec.ECDSA(hashes.SHA384()))

    def ours() -> None:
        assert verify_report(report, chain, root, now=NOW, expected_nonce=nonce).valid

    cache = ChainCache()

    def ours_cached() -> None:
        assert verify_report(report, chain, root, now=NOW, expected_nonce=nonce, cache=cache).valid

    rates = {
        "raw P-384 verify": rate(raw, args.n),
        "attest": rate(ours, args.n),
        "attest + link cache": rate(ours_cached, args.n),
    }
    if (PEER / "bin" / "python").exists():
        out = subprocess.run(
            [
                str(PEER / "bin" / "python"),
                str(HERE / "peer_nvidia_verifier.py"),
                str(report_file),
                str(chain_file),
                str(root_file),
                str(max(10, args.n // 10)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            rates["nv-local-gpu-verifier 2.7.3"] = json.loads(out.stdout)["per_second"]
        except (ValueError, KeyError):
            print(f"peer failed: {out.stdout} {out.stderr[-500:]}", file=sys.stderr)
    else:
        print(
            "(peer not set up: run with --setup-peer to compare with nv-local-gpu-verifier)", file=sys.stderr
        )

    print(f"Hopper sample report ({len(report)} bytes), {args.n} reports x 3 rounds, best round")
    print(f"{'contender':<30} {'reports/s':>10} {'vs raw':>8} {'vs nvidia':>10}")
    nv = rates.get("nv-local-gpu-verifier 2.7.3")
    for name, r in rates.items():
        vs_nv = f"{r / nv:>10.1f}" if nv else f"{'-':>10}"
        print(f"{name:<30} {r:>10.0f} {r / rates['raw P-384 verify']:>8.2f} {vs_nv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
