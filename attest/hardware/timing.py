"""How long GPUs take to make a CC attestation report: the calibration of ``t_min``.

A GPU-timed landmark round trip holds the time the GPUs took to sign their reports;
the verifier takes the chip catalog's floor ``t_min`` (``report_time_floor_ms``, per
architecture) off it before drawing the disk. The floor must be a *lower bound*: a
floor above what some GPU of that architecture can do would let that GPU look closer
than it is. :func:`time_reports` asks the GPUs the way the landmark exchange does (all
at once, one thread each, a fresh random nonce every time) and returns the wall-clock
time of each round; an operator of the catalog runs it on real hardware (``attest gpu
time-report``), takes the minimum over many rounds and machines, and records a floor
below it with a margin.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from attest.errors import InputError
from attest.hardware.binding import CcEvidenceSource
from attest.model.manifest import Gpu


@dataclass(frozen=True)
class ReportTiming:
    """Wall-clock times (ms) of rounds in which every GPU made one report, and of each single report."""

    rounds_ms: list[float]
    reports_ms: list[float]
    """Each report call on its own (from its call to its return, in its thread)."""

    @property
    def min_ms(self) -> float:
        """The fastest single report: what the floor must stay below."""
        return min(self.reports_ms)

    @property
    def median_ms(self) -> float:
        """The median single report."""
        return statistics.median(self.reports_ms)

    @property
    def round_min_ms(self) -> float:
        """The fastest round (all GPUs at once, as in the landmark exchange)."""
        return min(self.rounds_ms)

    def suggested_floor_ms(self, margin: float = 0.9) -> float:
        """A floor below everything seen: ``margin`` times the fastest single report, rounded down to 0.1 ms.

        The single report, not the round: a round also holds the host's thread overhead, which
        an attacker's host need not have.
        """
        return int(self.min_ms * margin * 10) / 10


def time_reports(gpus: Sequence[Gpu], source: CcEvidenceSource, *, rounds: int = 20) -> ReportTiming:
    """Time ``rounds`` rounds of every GPU making a report over a fresh nonce, in parallel.

    Raises:
        InputError: no GPU, or ``rounds`` outside 1..10,000.
    """
    if not gpus:
        raise InputError("no GPU to time")
    if not 1 <= rounds <= 10_000:
        raise InputError("the number of rounds must be between 1 and 10000")

    def one(gpu: Gpu, nonce: bytes) -> float:
        started = time.perf_counter()
        source.attest(gpu, nonce)
        return (time.perf_counter() - started) * 1e3

    out, singles = [], []
    with ThreadPoolExecutor(max_workers=len(gpus), thread_name_prefix="gpu-report") as pool:
        for _ in range(rounds):
            nonce = os.urandom(32)
            started = time.perf_counter()
            singles += [future.result() for future in [pool.submit(one, g, nonce) for g in gpus]]
            out.append((time.perf_counter() - started) * 1e3)
    return ReportTiming(out, singles)
