"""Location evidence: landmark servers measure round trips and sign receipts (RATS attester + endorser).

- :mod:`attest.location.receipts` — the receipt, its binding to a manifest, signing and checking (pure);
- :mod:`attest.location.landmark` — the UDP landmark server;
- :mod:`attest.location.prover` — the node side of the exchange.

The geometry (feasible region, borders, ``measured`` grade) is not built yet.
"""
