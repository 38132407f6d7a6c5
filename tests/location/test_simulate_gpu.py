"""The attack simulation's GPU-timed strategies against the verifier's real checks (issue 17).

A false pass is ``measured`` for a node in the prohibited area. Each trial makes real
receipts and a real simulated-GPU report per GPU-timed challenge, checked by
:func:`attest.location.check.evaluate` and :func:`attest.location.check.findings`.
"""

from __future__ import annotations

import pytest

from attest.location.simulate import SITES, STRATEGIES, Simulation, site_named

NEW = ("key-copy-relay", "gpu-report-relay")


@pytest.mark.parametrize("floor_ms", [0.0, 27.0])
def test_the_relays_never_earn_measured_at_any_site(floor_ms: float) -> None:
    sim = Simulation(floor_ms=floor_ms, seed=17)
    outcomes = sim.run(SITES, NEW, 3)
    assert sum(o.measured for o in outcomes) == 0
    # A copy of the key next to the landmarks does pass the key-only physics (that is the hole it
    # shows): it earns key-measured wherever the key's disks rule the area out, never more.
    copy = {o.site: o for o in outcomes if o.strategy == "key-copy-relay"}
    assert copy["Singapore"].key_measured == copy["Singapore"].trials == copy["Singapore"].excluded_physics
    assert all(o.gpu_excluded == 0 for o in outcomes)


def test_honest_gpu_timed_rates_depend_on_the_floor() -> None:
    """GPUs taking 30 ms: nothing measured with the bundled floor of 0; Singapore measured with 27 ms."""
    singapore, kinmen = site_named("Singapore"), site_named("Kinmen")
    zero = {o.site: o for o in Simulation(seed=17).run([singapore, kinmen], ["honest"], 4)}
    assert zero[singapore.name].measured == 0 and zero[singapore.name].key_measured == 4
    calibrated = {o.site: o for o in Simulation(seed=17, floor_ms=27).run([singapore, kinmen], ["honest"], 4)}
    assert calibrated[singapore.name].measured == 4
    assert calibrated[kinmen.name].measured == 0  # 10 km from Xiamen: never provable


def test_every_strategy_is_known_and_the_old_ones_still_fail() -> None:
    sim = Simulation(floor_ms=27, seed=3, far_landmarks=False)
    outcomes = sim.run([site_named("Johor")], [s for s in STRATEGIES if s != "honest"], 3)
    assert {o.strategy for o in outcomes} == set(STRATEGIES) - {"honest"}
    assert sum(o.measured for o in outcomes) == 0
    with pytest.raises(ValueError, match="unknown strategy"):
        sim.trial(site_named("Johor"), "teleport", sim.landmarks_for(site_named("Johor")))


@pytest.mark.slow
def test_ten_thousand_relay_trials_no_false_measured() -> None:
    """>= 10,000 attack trials of the two relays (issue 17's acceptance), at a calibrated floor of 27 ms
    for GPUs that take 30 (the attacker's GPUs take exactly the floor) and at the bundled 0.

    Only the two in-metro landmarks: every landmark dropped is a constraint the attacker no longer
    has to beat, so this is the attacker's easier case, and each trial costs less.
    """
    total = measured = 0
    for floor_ms, trials in ((27.0, 228), (0.0, 228)):
        sim = Simulation(floor_ms=floor_ms, seed=2026 + int(floor_ms), far_landmarks=False)
        outcomes = sim.run(SITES, NEW, trials)
        total += sum(o.trials for o in outcomes)
        measured += sum(o.measured for o in outcomes)
    assert total >= 10_000
    assert measured == 0
