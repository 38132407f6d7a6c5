"""What makes a push *delivered*: the collector logged this envelope and proved it.

A 200 from the collector is not enough. The answer must name this envelope's leaf hash and
carry an inclusion proof that verifies against the root it names (RFC 9162 §2.1.3.2). With the
log's verifier key configured, the daemon also fetches the collector's signed checkpoint,
checks its signature, and verifies an inclusion proof against *that* root, so a collector
that answers 200 without logging (or logs into a tree it never signs) is never counted as a
delivery. The proof is kept with the manifest.
"""

from __future__ import annotations

import json
from typing import Any

from attest.errors import AttestError, InputError, Unreachable
from attest.log import merkle


def check_receipt(envelope: bytes, body: bytes) -> dict[str, Any]:
    """The inclusion proof from a collector's 200 answer, verified; raises InputError otherwise."""
    try:
        answer = json.loads(body)
        proof = answer["inclusion"]
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        leaf, root = bytes.fromhex(proof["leaf_hash"]), bytes.fromhex(proof["root_hash"])
        path = [bytes.fromhex(h) for h in proof["path"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"the collector's answer carries no readable inclusion proof ({exc})") from None
    if leaf != merkle.leaf_hash(envelope) or int(answer.get("leaf_index", -1)) != index:
        raise InputError("the collector's answer is for another entry than this envelope")
    if not merkle.verify_inclusion(leaf, index, size, path, root):
        raise InputError("the collector's inclusion proof does not verify")
    return {"leaf_index": index, "tree_size": size, "root_hash": root.hex()}


class LogInconsistent(InputError):
    """The collector's signed checkpoint does not extend the one this daemon holds.

    A fork, a rewritten history, an older checkpoint or a time line going back: never a delivery.
    """


def confirm_in_checkpoint(
    base_url: str,
    log_key: str,
    envelope: bytes,
    index: int,
    session: Any,
    timeout: float,
    held: str | None = None,
) -> dict[str, Any]:
    """Verify entry ``index`` (this envelope) against the collector's signed checkpoint; return it.

    ``held`` is the last checkpoint a delivery was verified against (persisted by the daemon):
    the new one must be consistent with it, by a consistency proof from the collector checked
    between the held root and the new one.

    Raises:
        LogInconsistent: the new checkpoint does not extend the held one (or is older).
        InputError: not confirmed now (no checkpoint yet, a network error): retried later.
    """
    from attest.log.checkpoint import open_checkpoint, parse_verifier_key
    from attest.log.monitor import LogMisbehaviour, check_consistent

    try:
        name, public = parse_verifier_key(log_key)
        note = session.get(base_url + "/v1/checkpoint", timeout=timeout)
        if note.status_code != 200:
            raise InputError(f"the collector serves no checkpoint ({note.status_code})")
        text = bytes(note.content).decode("utf-8", "replace")  # notes are UTF-8, whatever the charset
        old = None
        if held is not None:
            try:
                old = open_checkpoint(held, name, public, origin=name)
            except InputError:  # held for another log key (log_key changed in the config): start over
                old = None
        try:
            cp = open_checkpoint(text, name, public, origin=name)
        except InputError as exc:
            if old is None:
                raise
            # A checkpoint is held: the collector answered 200 with a note the pinned key did not
            # sign (another log's, a forgery, junk). Not a network error; not retried quietly.
            raise LogInconsistent(
                f"the collector's checkpoint does not verify under the log's key: {exc.message}"
            ) from None
        if old is not None:

            def proof_path(a: int, b: int) -> list[bytes]:
                # A network error or a server error (5xx) says nothing about the log: retried.
                # An answer that is not a consistency proof (not JSON, no path, bad hex) is the
                # log failing to prove it extends the held checkpoint: check_consistent says so.
                try:
                    resp = session.get(
                        base_url + "/v1/proof/consistency", params={"old": a, "new": b}, timeout=timeout
                    )
                except Exception as exc:
                    raise Unreachable(f"the collector did not answer the consistency proof: {exc}") from None
                if resp.status_code >= 500:
                    raise Unreachable(f"the collector answered {resp.status_code} to the consistency proof")
                try:
                    got = resp.json()
                    return [bytes.fromhex(h) for h in got["path"]]
                except Exception as exc:
                    raise InputError(
                        f"its answer is not a consistency proof ({resp.status_code}): {exc}"
                    ) from None

            try:
                check_consistent(old, cp, proof_path)
            except LogMisbehaviour as exc:
                raise LogInconsistent(
                    f"the collector's checkpoint is not consistent with the one held: {exc.message}"
                ) from None
        if cp.size <= index:
            raise InputError(f"the signed checkpoint (size {cp.size}) does not cover entry {index} yet")
        resp = session.get(
            base_url + "/v1/proof/inclusion", params={"index": index, "size": cp.size}, timeout=timeout
        )
        proof = resp.json()
        path = [bytes.fromhex(h) for h in proof["path"]]
    except AttestError:
        raise
    except Exception as exc:  # network, JSON, shape: not confirmed, retried later
        raise InputError(f"cannot confirm the entry in a signed checkpoint: {exc}") from None
    if not merkle.verify_inclusion(merkle.leaf_hash(envelope), index, cp.size, path, cp.root):
        raise InputError(f"entry {index} is not in the log's signed checkpoint at size {cp.size}")
    return {"leaf_index": index, "tree_size": cp.size, "root_hash": cp.root.hex(), "checkpoint": text}
