"""The collector's and witness's systemd units: descriptor limits, hardening, and systemd-analyze's word."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from attest.cli.main import build_parser

UNITS = Path(__file__).resolve().parents[2] / "examples" / "systemd"
SERVICES = ["attest-collector.service", "attest-witness.service", "attest-log-monitor.service", "attest-daemon.service"]


def settings(name: str) -> dict[str, list[str]]:
    text = (UNITS / name).read_text().replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v.strip())
    return out


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_sets_its_descriptor_limit(name: str) -> None:
    s = settings(name)
    assert int(s["LimitNOFILE"][0]) >= 4096
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes")]:
        assert s[key] == [value]


@pytest.mark.parametrize("name", SERVICES[:3])
def test_the_command_line_parses(name: str) -> None:
    """The ExecStart is a valid attest command line (a renamed flag would break the unit silently)."""
    argv = shlex.split(settings(name)["ExecStart"][0])
    assert argv[0].endswith("/attest")
    build_parser(argv[1]).parse_args(argv[1:])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
@pytest.mark.parametrize("name", SERVICES[:3])
def test_systemd_analyze_accepts_it(name: str, tmp_path: Path) -> None:
    unit = tmp_path / name
    unit.write_text((UNITS / name).read_text().replace("/usr/local/bin/attest", "/bin/true"))
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert not [line for line in verify.stderr.splitlines() if name in line], verify.stderr
    sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)], capture_output=True, text=True, timeout=60)
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
    assert level is not None and float(level.group(1)) <= 3.0, sec.stdout[-500:]
