"""The in-memory verifier state's common case — an unused pair continuing its key's chain — compiled.

:meth:`attest.replay.MemoryVerifierState.sight_next` is this function over the state's own
tables; the verifier's heartbeat path (step 0) calls it directly with them, so a heartbeat's
replay and chain record costs no interpreted call. Here only: what it records and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["sight_next"]


def sight_next(
    seen: dict[tuple[str, str], datetime],
    first: dict[tuple[str, str], Any],
    heads: dict[str, Any],
    lock: Any,
    key_id: str,
    nonce: str,
    expires_at: datetime,
    payload: str,
    at: datetime,
    sequence: int,
    digest: str,
    previous: str | None,
) -> bool:
    """Record an unused (key, nonce) pair's first use and a manifest continuing the key's chain; whether it was that case.

    ``seen``, ``first`` and ``heads`` are the state's tables (pair → expiry, pair → first use,
    key → newest manifest as a ``ChainHead`` or a (sequence, digest) tuple), ``lock`` the lock
    that guards them. The case: the pair is unused, and the key has no head or the manifest's
    ``sequence`` is the head's next and ``previous`` its digest. Then the pair's first use is
    recorded as ``(payload, at, "")`` (no chain finding) and the head as ``(sequence, digest)``;
    otherwise nothing is recorded.
    """
    pair = (key_id, nonce)
    with lock:
        if pair in seen:
            return False
        last = heads.get(key_id)
        if last is not None:
            if type(last) is not tuple:
                last = (last.sequence, last.digest)
            if sequence != last[0] + 1 or previous != last[1]:
                return False
        seen[pair] = expires_at
        first[pair] = (payload, at, "")  # a Sighting when read (a heartbeat's cost)
        heads[key_id] = (sequence, digest)  # a ChainHead when read
        return True
