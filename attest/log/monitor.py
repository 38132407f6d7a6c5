"""Watching a log from outside: signed checkpoints, consistency from the last one seen, cosignatures.

A monitor (or any client) keeps the last checkpoint it verified. Each time it sees a new one it
checks, in order:

1. the note is signed by the log's key, for the log's origin;
2. it carries at least the required number of cosignatures by known witnesses;
3. it is no smaller than the stored one, and at the same size it has the same root;
4. a consistency proof from the stored size verifies between the *stored* root and the *new*
   root (never the roots the proof itself names).

Any failure is evidence that the log operator rewrote history or shows different views to
different clients; the error names both roots. Fetching is the caller's (a store or a
collector URL); everything here is pure.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attest.crypto.keys import VerifyingKey
from attest.errors import AttestError, InputError, Unreachable
from attest.log import merkle
from attest.log.checkpoint import Checkpoint, open_checkpoint, parse_verifier_key
from attest.log.cosignature import count_cosignatures


class LogMisbehaviour(AttestError):
    """The log's signed statements contradict each other (a rewrite or a split view), or one is forged."""


@dataclass(frozen=True)
class LogKey:
    """A log's checkpoint verifier: its note key name (the origin) and Ed25519 public key."""

    name: str
    public: VerifyingKey

    @classmethod
    def load(cls, path: Path) -> LogKey:
        """Read a note verifier key (``name+keyid+base64``, as ``attest log init`` prints it) from a file."""
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read the log key {path}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        if text.startswith("{"):  # the JSON attest log init prints
            try:
                text = str(json.loads(text)["verifier_key"])
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{path} is JSON without a verifier_key") from None
        name, public = parse_verifier_key(text)
        return cls(name, public)


def verify_checkpoint(
    note: str,
    key: LogKey,
    *,
    witnesses: Sequence[Any] = (),
    cosignatures: int = 0,
    now: float | None = None,
) -> Checkpoint:
    """Steps 1 and 2: the log's signature, then ``cosignatures`` valid cosignatures by ``witnesses``.

    A time line more than ``TIME_TOLERANCE_S`` ahead of ``now`` (this clock) is refused too: a
    log signing with a clock far ahead would make every honest time line after it look older.

    Raises:
        LogMisbehaviour: a signature that does not verify, a time in the future, or too few cosignatures.
    """
    from attest.log import TIME_TOLERANCE_S

    try:
        cp = open_checkpoint(note, key.name, key.public, origin=key.name)
    except InputError as exc:
        raise LogMisbehaviour(f"the checkpoint is not signed by the log's key: {exc.message}") from None
    clock = time.time() if now is None else now
    if cp.timestamp is not None and cp.timestamp > clock + TIME_TOLERANCE_S:
        raise LogMisbehaviour(
            f"the checkpoint at size {cp.size} is timed {cp.timestamp - clock:.0f} s ahead of this clock "
            f"(more than {TIME_TOLERANCE_S:.0f} s): the log's clock runs ahead"
        )
    if cosignatures:
        got = count_cosignatures(note, witnesses)
        if got < cosignatures:
            raise LogMisbehaviour(
                f"the checkpoint at size {cp.size} carries {got} valid witness cosignature(s); "
                f"{cosignatures} are required"
            )
    return cp


def check_consistent(old: Checkpoint, new: Checkpoint, proof: Callable[[int, int], Sequence[bytes]]) -> None:
    """Steps 3 and 4: ``new`` extends ``old``; ``proof(old_size, new_size)`` gives the consistency path.

    Raises:
        LogMisbehaviour: naming both roots.
    """
    old_b64, new_b64 = base64.b64encode(old.root).decode(), base64.b64encode(new.root).decode()
    both = f"stored size {old.size} root {old_b64}; new size {new.size} root {new_b64}"
    if new.size < old.size:
        raise LogMisbehaviour(f"the log shrank: {both}")
    if old.timestamp is not None and (new.timestamp is None or new.timestamp < old.timestamp):
        raise LogMisbehaviour(
            f"the new checkpoint's time ({new.timestamp}) is before the stored one's ({old.timestamp}): {both}"
        )
    if new.size == old.size:
        if new.root != old.root:
            raise LogMisbehaviour(f"two checkpoints of one size with different roots (a split view): {both}")
        return
    try:
        path = list(proof(old.size, new.size))
    except Unreachable:
        raise  # a network error says nothing about the log: unreachable, not a fork
    except AttestError as exc:
        raise LogMisbehaviour(f"the log gave no consistency proof ({exc.message}): {both}") from None
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, path):
        raise LogMisbehaviour(
            f"the new checkpoint is not consistent with the stored one (history rewritten): {both}"
        )


def inclusion_ok(leaf: bytes, index: int, cp: Checkpoint, path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree ``cp`` signs."""
    return merkle.verify_inclusion(leaf, index, cp.size, path, cp.root)


def state_to_json(note: str, cp: Checkpoint) -> str:
    """What a monitor stores: the verified note and what it says."""
    return json.dumps(
        {
            "origin": cp.origin,
            "size": cp.size,
            "root": base64.b64encode(cp.root).decode(),
            "checkpoint": note,
        },
        indent=1,
    )


def state_from_json(text: str, key: LogKey) -> tuple[str, Checkpoint]:
    """The stored note, verified again (a state file is no more trusted than the log)."""
    try:
        note = json.loads(text)["checkpoint"]
        if not isinstance(note, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise InputError("the monitor's state file is not what attest log monitor writes") from None
    try:
        return note, open_checkpoint(note, key.name, key.public, origin=key.name)
    except InputError as exc:
        raise InputError(
            f"the monitor's state holds a checkpoint that does not verify: {exc.message}"
        ) from None
