"""NVIDIA's own offline verification path, timed; runs in its own venv (see bench_gpu_report.py).

nv-local-gpu-verifier pins cryptography 43 and pyOpenSSL, so it cannot share the
project's environment. This script parses the report (AttestationReport), verifies the
certificate chain with the pinned root in place (CcAdminUtils.verify_gpu_certificate_chain,
which also compares the FWID) and the report signature (AttestationReport.verify_signature),
exactly the offline part of its cc_admin flow, and prints reports per second as JSON.

Run: bench/.peer-nvidia/bin/python bench/peer_nvidia_verifier.py REPORT.txt CHAIN.pem ROOT.pem N
"""

import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.chdir(tempfile.mkdtemp())  # the verifier writes log files into the working directory
logging.disable(logging.CRITICAL)

from OpenSSL import crypto  # noqa: E402
from verifier.attestation import AttestationReport  # noqa: E402
from verifier.cc_admin_utils import CcAdminUtils  # noqa: E402
from verifier.config import HopperSettings  # noqa: E402


def main() -> int:
    report_path, chain_path, root_path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data = bytes.fromhex(Path(report_path).read_text().strip())
    pems = re.findall(
        rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", Path(chain_path).read_bytes(), re.S
    )
    root = Path(root_path).read_bytes()

    def once() -> bool:
        settings = HopperSettings()
        report = AttestationReport(data, settings)
        chain = [crypto.load_certificate(crypto.FILETYPE_PEM, p) for p in pems[:4]]
        chain.append(crypto.load_certificate(crypto.FILETYPE_PEM, root))
        fwid = report.get_response_message().get_opaque_data().get_data("OPAQUE_FIELD_ID_FWID")
        ok_chain = CcAdminUtils.verify_gpu_certificate_chain(chain, settings, fwid.hex() if fwid else "")[0]
        ok_sig = report.verify_signature(
            chain[0].to_cryptography(), settings.signature_length, settings.HashFunction
        )
        return bool(ok_chain and ok_sig)

    if not once():
        print(json.dumps({"error": "the sample did not verify with nv-local-gpu-verifier"}))
        return 1
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            once()
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"per_second": n / best}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
