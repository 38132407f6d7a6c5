"""The systemd unit in examples/systemd/: hardened as the reference asks, and accepted by systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "examples" / "systemd" / "attest-daemon.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_unit_is_notify_and_hardened_without_hiding_the_gpus() -> None:
    s = settings()
    assert s["Type"] == ["notify"] and s["WatchdogSec"]
    assert "PrivateDevices" not in s  # it would hide /dev/nvidia*
    assert s["DevicePolicy"] == ["closed"]
    assert any(v.startswith("/dev/nvidiactl") for v in s["DeviceAllow"])
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes")]:
        assert s[key] == [value]
    assert s["ExecStart"][0].endswith("attest daemon --config /etc/attest/daemon.toml")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_accepts_it(tmp_path: Path) -> None:
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/attest", "/bin/true"))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    problems = [line for line in verify.stderr.splitlines() if UNIT.name in line]
    assert not problems, verify.stderr
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60)
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
    assert level is not None and float(level.group(1)) <= 3.0, sec.stdout[-500:]
