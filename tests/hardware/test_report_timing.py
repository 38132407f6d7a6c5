"""Timing report generation (the calibration of t_min) and NVML held open while reports are timed."""

from __future__ import annotations

from pathlib import Path

import pynvml
import pytest

from attest.errors import HardwareError, InputError
from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import SimulatedCcSource
from attest.hardware.nvml import NvmlCcSource
from attest.hardware.simulated_cc import SimulatedCcBackend, report_ms_from_env
from attest.hardware.timing import time_reports
from tests.hardware.test_binding import FakeCcNvml


def test_simulated_reports_take_their_time_and_the_suggested_floor_stays_below(tmp_path: Path) -> None:
    gpus = SimulatedGpuSource("h100", seed="t").read().gpus[:3]
    timing = time_reports(gpus, SimulatedCcSource(SimulatedCcBackend(tmp_path / "v", report_ms=12)), rounds=2)
    assert len(timing.rounds_ms) == 2 and len(timing.reports_ms) == 6
    assert timing.min_ms >= 12 and timing.round_min_ms >= timing.min_ms
    assert timing.suggested_floor_ms() <= 0.9 * timing.min_ms
    with pytest.raises(InputError, match="no GPU"):
        time_reports([], SimulatedCcSource(SimulatedCcBackend(tmp_path / "v")))
    with pytest.raises(InputError, match="0 to 10000"):
        SimulatedCcBackend(tmp_path / "v", report_ms=-1)


def test_report_time_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTEST_SIM_REPORT_MS", raising=False)
    assert report_ms_from_env() == 30.0
    monkeypatch.setenv("ATTEST_SIM_REPORT_MS", "4.5")
    assert report_ms_from_env() == 4.5
    for bad in ("soon", "-1", "1e9", "nan"):
        monkeypatch.setenv("ATTEST_SIM_REPORT_MS", bad)
        with pytest.raises(InputError, match="ATTEST_SIM_REPORT_MS"):
            report_ms_from_env()


def test_an_nvml_session_holds_one_initialisation_around_every_report(tmp_path: Path) -> None:
    fake = FakeCcNvml(SimulatedCcBackend(tmp_path / "v"))
    source = NvmlCcSource(fake)
    gpu = SimulatedGpuSource("h100", seed="x").read().gpus[0]
    with source.session():
        source.attest(gpu, bytes(32))
        source.attest(gpu, bytes(range(32)))
        inside = list(fake.calls)
    # One init opened the session before any report and its shutdown is the last call: each report's
    # own init/shutdown only moves NVML's reference count in between.
    assert inside[0] == "nvmlInit" and fake.calls[-1] == "nvmlShutdown"
    assert fake.calls.count("nvmlInit") == fake.calls.count("nvmlShutdown") == 3
    failing = NvmlCcSource(FakeCcNvml(SimulatedCcBackend(tmp_path / "v"), {"nvmlInit": pynvml.NVML_ERROR_DRIVER_NOT_LOADED}))
    with pytest.raises(HardwareError, match="driver"), failing.session():
        pass
