"""The node side of the landmark exchange: several rounds, the fastest receipt kept."""

from __future__ import annotations

import base64
import json
import socket

from attest.crypto.canonical import strict_loads
from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.location.receipts import binding_for, challenge_message
from attest.model.manifest import LandmarkReceipt


def measure(
    address: tuple[str, int],
    key: SigningKey,
    manifest_nonce: str,
    *,
    rounds: int = 5,
    timeout_s: float = 1.0,
) -> LandmarkReceipt:
    """Run ``rounds`` exchanges with one landmark and return the receipt with the smallest RTT.

    Raises:
        InputError: no round completed (unreachable landmark, refused signature, timeouts).
    """
    binding = binding_for(key.key_id, manifest_nonce)
    best: LandmarkReceipt | None = None
    errors: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.connect(address)
        for _ in range(rounds):
            try:
                sock.send(
                    json.dumps({"t": "hello", "node_pub": key.public.spki_b64(), "binding": binding}).encode()
                )
                challenge = strict_loads(sock.recv(4096), what="challenge")
                nonce = bytes.fromhex(challenge["nonce"])
                sig = base64.b64encode(key.sign(challenge_message(nonce, binding))).decode()
                sock.send(json.dumps({"t": "response", "sid": challenge["sid"], "sig": sig}).encode())
                answer = strict_loads(sock.recv(8192), what="receipt")
            except (OSError, ValueError, KeyError, TypeError, InputError) as exc:
                errors.append(str(exc) or type(exc).__name__)
                continue
            if answer.get("t") != "receipt":
                errors.append(str(answer.get("error", "no receipt")))
                continue
            receipt = LandmarkReceipt.from_obj(answer["receipt"], what="receipt")
            if best is None or receipt.rtt_ns < best.rtt_ns:
                best = receipt
    if best is None:
        raise InputError(
            f"no receipt from landmark {address[0]}:{address[1]} in {rounds} rounds: {'; '.join(errors[-3:])}"
        )
    return best
