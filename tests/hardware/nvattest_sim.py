"""Play NVIDIA's nvattest on a simulated node, through the real CLI: a trusted challenge, the
simulated vendor's GPUs answering the binding nonce, its OCSP responder, and its RIMs."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import SimulatedCcSource
from attest.hardware.simulated_cc import SimulatedCcBackend, serve_ocsp
from tests.conftest import CliRunner


@contextmanager
def simulated_nvattest(workspace: Path, cli: CliRunner) -> Iterator[dict[str, Any]]:
    """Write ev.json (nvattest's output over this node's binding nonce) and yield what a test needs.

    Yields ``nonce`` (hex), ``entries``, ``chains`` (PEM per GPU), ``ocsp_url`` (a live responder),
    ``vendor``, and ``bind`` (the attest bind arguments that take ev.json).
    """
    cli("keygen", "--out", "challenger", check_code=0)
    cli("trust", "add", "challenger/attest.pub", "--challenger", "--trust", "trust.json", check_code=0)
    cli("challenge", "issue", "--key", "challenger/attest.key", "-o", "challenge.json", check_code=0)
    nonce = cli("bind", "--pub", "node/attest.pub", "--challenge", "challenge.json", "--print-nonce", check_code=0)
    nonce_hex = nonce.stdout.strip()
    vendor = SimulatedCcBackend(workspace / "vendor")
    source = SimulatedCcSource(vendor)
    entries, chains = [], []
    for gpu in SimulatedGpuSource("h100", seed="n1").read().gpus:  # as `attest manifest --simulate h100 --seed n1`
        report, chain = source.attest(gpu, bytes.fromhex(nonce_hex))
        entries.append({"arch": "HOPPER", "nonce": nonce_hex, "evidence": base64.b64encode(report).decode(),
                        "certificate": base64.b64encode(chain).decode()})  # fmt: skip
        chains.append(chain)
    (workspace / "ev.json").write_text(json.dumps({"result_code": 0, "result_message": "Ok", "evidences": entries}))
    vendor.publish_rims(workspace / "rims")
    server = serve_ocsp(vendor)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {
            "nonce": nonce_hex,
            "entries": entries,
            "chains": chains,
            "ocsp_url": url,
            "vendor": vendor,
            "bind": ["bind", "--pub", "node/attest.pub", "--challenge", "challenge.json", "--nvattest", "ev.json",
                     "--simulate", "h100", "--seed", "n1", "--ocsp-url", url],
        }
    finally:
        server.shutdown()
