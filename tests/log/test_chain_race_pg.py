"""Two fork branches raced on one PostgreSQL verifier state: one advances the chain, the other is ``chain.fork``."""

from __future__ import annotations

import threading

from attest.log.postgres import PostgresVerifierState
from attest.replay import ChainHead
from attest.verify import Verifier
from tests.conftest import Node
from tests.test_chain_race import LATER, assert_one_fork, race


class _MeetingPostgres(PostgresVerifierState):
    """The first ``head()`` read of each of two threads waits for the other's, so both read the same head."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.barrier = threading.Barrier(2)
        self.local = threading.local()
        self.local.met = True  # the first manifest's read does not wait

    def head(self, key_id: str) -> ChainHead | None:
        got = super().head(key_id)
        if not getattr(self.local, "met", False):
            self.local.met = True
            self.barrier.wait(timeout=60)
        return got


def test_fork_branches_raced_on_postgres_one_is_a_fork(postgres_url: str, node: Node) -> None:
    state = _MeetingPostgres(postgres_url)
    try:
        verifier = Verifier(node.trust, nonces=state, chains=state, devices=state)
        verdicts, envelopes = race(verifier, node)
        assert_one_fork(verdicts)
        again = [verifier.verify(e, now=LATER).status.value for e in envelopes]
        assert again == [s for s, _ in verdicts]  # each keeps its first chain verdict
    finally:
        state.close()
