"""A real daemon process per test, configured in a temporary directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attest.crypto.keys import SigningKey, write_private_key
from attest.daemon.client import Client

TENANT = {"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}
BASE = """
key = "{key}"
socket = "{sock}"
state_dir = "{state}"
gpus = "h100"
hostname = "gpu-a17"
heartbeat_interval_s = {heartbeat}
allowed_uids = {uids}
{extra}

[site]
facility_id = "jhb-2"
name = "Johor DC 2"
country = "MY"
latitude = 1.6561
longitude = 103.6032

[operator]
name = "Example Cloud Sdn. Bhd."
country = "MY"
{tail}
"""


@dataclass
class DaemonProc:
    """A daemon process and what it needs."""

    dir: Path
    config: Path
    sock: str
    key: SigningKey
    proc: subprocess.Popen[str] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self, *, wait: bool = True) -> subprocess.Popen[str]:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "attest.cli.main", "daemon", "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **self.env},
        )
        if wait:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    out, err = self.proc.communicate()
                    raise AssertionError(f"daemon exited {self.proc.returncode}: {out}{err}")
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(self.sock)
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise AssertionError("daemon did not come up")
        return self.proc

    def client(self) -> Client:
        return Client(self.sock, timeout_s=60)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err


MakeDaemon = Callable[..., DaemonProc]


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[MakeDaemon]:
    made: list[DaemonProc] = []

    def make(*, heartbeat: float = 0, uids: list[int] | None = None, extra: str = "", tail: str = "") -> DaemonProc:
        d = tmp_path / f"d{len(made)}"
        d.mkdir()
        key = SigningKey.generate()
        write_private_key(d / "node.key", key)
        sock = str(d / "attest.sock")
        config = d / "daemon.toml"
        config.write_text(
            BASE.format(
                key=d / "node.key",
                sock=sock,
                state=d / "state",
                heartbeat=heartbeat,
                uids=uids if uids is not None else [os.getuid()],
                extra=extra,
                tail=tail,
            )
        )
        dp = DaemonProc(d, config, sock, key)
        made.append(dp)
        return dp

    yield make
    for dp in made:
        if dp.proc is not None and dp.proc.poll() is None:
            dp.proc.kill()
            dp.proc.communicate()


def sign(client: Client, job: str, phase: str = "start", **kw: Any) -> dict[str, Any]:
    return client.sign_job(phase, job, TENANT, **kw)
