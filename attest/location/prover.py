"""The node side of the landmark exchange: several rounds, the fastest receipt kept.

Key-only (v1, :func:`measure`): the node key signs the landmark's challenge. The receipt
proves where *a holder of the key* was, and a copy of the key proves nothing about the
GPUs. GPU-timed (v2, :func:`measure_timed`): every GPU of the node signs an attestation
report over a nonce derived from the challenge (asked in parallel, one thread per GPU),
and the answer carries the reports' digests, so the landmark's clock runs until the GPUs
themselves have answered.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from attest.crypto.canonical import strict_loads
from attest.crypto.keys import SigningKey
from attest.errors import AttestError, InputError
from attest.hardware.binding import CcEvidenceSource
from attest.location.receipts import binding_for, challenge_message, gpu_nonce, report_digest
from attest.model.manifest import Gpu, LandmarkReceipt, TimedGpuReport


@dataclass(frozen=True)
class TimedReceipt:
    """A receipt and, for a GPU-timed one, each GPU's report (by GPU index) whose digest it records."""

    receipt: LandmarkReceipt
    reports: dict[int, bytes] = field(default_factory=dict)

    def timed_reports(self) -> list[TimedGpuReport]:
        """The reports as the manifest's ``location_evidence.gpu_reports`` carries them."""
        return [
            TimedGpuReport(receipt_nonce=self.receipt.nonce, gpu_index=i, report=r.hex())
            for i, r in sorted(self.reports.items())
        ]


def measure(
    address: tuple[str, int],
    key: SigningKey,
    manifest_nonce: str,
    *,
    rounds: int = 5,
    timeout_s: float = 1.0,
) -> LandmarkReceipt:
    """Run ``rounds`` key-only exchanges with one landmark and return the receipt with the smallest RTT.

    Raises:
        InputError: no round completed (unreachable landmark, refused signature, timeouts).
    """
    return _measure(address, key, manifest_nonce, rounds=rounds, timeout_s=timeout_s).receipt


def measure_timed(
    address: tuple[str, int],
    key: SigningKey,
    manifest_nonce: str,
    gpus: Sequence[Gpu],
    source: CcEvidenceSource,
    *,
    rounds: int = 5,
    timeout_s: float = 2.0,
) -> TimedReceipt:
    """Run ``rounds`` GPU-timed exchanges: every GPU in ``gpus`` answers each challenge with a report.

    Returns the fastest receipt and its reports (one per GPU, keyed by GPU index).

    Raises:
        InputError: no GPU was given, or no round completed.
    """
    if not gpus:
        raise InputError("a GPU-timed exchange needs the node's GPUs")
    return _measure(
        address, key, manifest_nonce, rounds=rounds, timeout_s=timeout_s, gpus=gpus, source=source
    )


def _measure(
    address: tuple[str, int],
    key: SigningKey,
    manifest_nonce: str,
    *,
    rounds: int,
    timeout_s: float,
    gpus: Sequence[Gpu] = (),
    source: CcEvidenceSource | None = None,
) -> TimedReceipt:
    binding = binding_for(key.key_id, manifest_nonce)
    best: TimedReceipt | None = None
    errors: list[str] = []
    pool = ThreadPoolExecutor(max_workers=len(gpus), thread_name_prefix="gpu-report") if gpus else None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(address)
            for _ in range(rounds):
                try:
                    sock.send(
                        json.dumps(
                            {"t": "hello", "node_pub": key.public.spki_b64(), "binding": binding}
                        ).encode()
                    )
                    challenge = strict_loads(sock.recv(4096), what="challenge")
                    nonce = bytes.fromhex(challenge["nonce"])
                    reports: dict[int, bytes] = {}
                    digests: list[str] | None = None
                    if pool is not None and source is not None:
                        # Every GPU at once: the round trip then holds one report's time, not n.
                        asked = gpu_nonce(nonce, key.key_id, binding)
                        futures = [(g.index, pool.submit(source.attest, g, asked)) for g in gpus]
                        reports = {i: f.result()[0] for i, f in futures}
                        digests = [report_digest(reports[g.index]) for g in gpus]
                    message = challenge_message(nonce, binding, digests)
                    response: dict[str, object] = {
                        "t": "response",
                        "sid": challenge["sid"],
                        "sig": base64.b64encode(key.sign(message)).decode(),
                    }
                    if digests is not None:
                        response["gpu_reports"] = digests
                    sock.send(json.dumps(response).encode())
                    answer = strict_loads(sock.recv(8192), what="receipt")
                except (OSError, ValueError, KeyError, TypeError, AttestError) as exc:
                    errors.append(getattr(exc, "message", None) or str(exc) or type(exc).__name__)
                    continue
                if answer.get("t") != "receipt":
                    errors.append(str(answer.get("error", "no receipt")))
                    continue
                receipt = LandmarkReceipt.from_obj(answer["receipt"], what="receipt")
                if best is None or receipt.rtt_ns < best.receipt.rtt_ns:
                    best = TimedReceipt(receipt, reports)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if best is None:
        raise InputError(
            f"no receipt from landmark {address[0]}:{address[1]} in {rounds} rounds: {'; '.join(errors[-3:])}"
        )
    return best
