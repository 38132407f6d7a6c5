"""A real network path: landmark and prover as separate processes on loopback, delay injected in between.

The landmark (``attest landmark serve``) and the prover (``attest locate``) are real processes
speaking UDP; a delay proxy in the test adds a fixed delay each way. The measured RTT, and so
the radius, grows with the delay: delay can only make a node look farther, never closer.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from attest.location.region import C_KM_PER_NS
from tests.conftest import CliRunner

DUBAI = (25.0657, 55.1713)  # 2,255 km from CN/HK/MO: excluded below ~15 ms of RTT


class DelayProxy:
    """UDP forwarder that holds every datagram ``delay_s`` before passing it on (both ways)."""

    def __init__(self, upstream: tuple[str, int], delay_s: float) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.loop = asyncio.new_event_loop()
        self.address: tuple[str, int] = ("", 0)
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        proxy = self
        client: list[tuple[str, int]] = []

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if client:
                    proxy.loop.call_later(proxy.delay_s, front.sendto, data, client[-1])

        class Front(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                client.append(addr)
                proxy.loop.call_later(proxy.delay_s, back.sendto, data)

        async def start() -> tuple[asyncio.DatagramTransport, asyncio.DatagramTransport]:
            f, _ = await self.loop.create_datagram_endpoint(Front, local_addr=("127.0.0.1", 0))
            b, _ = await self.loop.create_datagram_endpoint(Back, remote_addr=self.upstream)
            return f, b

        front, back = self.loop.run_until_complete(start())
        self.address = front.get_extra_info("sockname")[:2]
        ready.set()
        self.loop.run_forever()
        front.close()
        back.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def landmark(cli: CliRunner, tmp_path: Path) -> Iterator[tuple[str, int]]:
    cli("keygen", "--out", "lm", check_code=0)
    cli("keygen", "--out", "node", check_code=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "landmark", "serve", "--key", "lm/attest.key", "--id", "dxb-1",
         "--lat", str(DUBAI[0]), "--lon", str(DUBAI[1]), "--bind", "127.0.0.1:0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    host, port = json.loads(proc.stdout.readline())["address"].rsplit(":", 1)
    try:
        yield host, int(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


def registry(tmp_path: Path, name: str, address: tuple[str, int]) -> str:
    pub = "".join((tmp_path / "lm" / "attest.pub").read_text().splitlines()[1:-1])
    (tmp_path / name).write_text(json.dumps({"landmarks": [
        {"id": "dxb-1", "latitude": DUBAI[0], "longitude": DUBAI[1], "public_key": pub, "operator": "Op A",
         "address": f"{address[0]}:{address[1]}"}]}))
    return name


def locate_and_check(cli: CliRunner, reg: str, out: str) -> dict:  # type: ignore[type-arg]
    located = cli("locate", "--landmarks", reg, "--key", "node/attest.key", "--nonce", "cd" * 16, "--rounds", "5",
                  "-o", out, check_code=0)
    assert "ms round trip" in located.stderr
    checked = cli("location", "check", out, "--landmarks", reg, "--k", "1", "--format", "json")
    assert checked.returncode in (0, 1)
    return json.loads(checked.stdout)  # type: ignore[no-any-return]


def test_injected_delay_grows_the_radius_end_to_end(cli: CliRunner, tmp_path: Path, landmark: tuple[str, int]) -> None:
    direct = locate_and_check(cli, registry(tmp_path, "direct.json", landmark), "direct-receipts.json")
    proxy = DelayProxy(landmark, delay_s=0.010)
    try:
        delayed = locate_and_check(cli, registry(tmp_path, "delayed.json", proxy.address), "delayed-receipts.json")
    finally:
        proxy.close()
    d, s = direct["landmarks"][0], delayed["landmarks"][0]
    # Radius is exactly c·RTT/2 of the measured round trip.
    for lm in (d, s):
        assert lm["radius_km"] == pytest.approx(lm["rtt_ms"] * 1e6 * C_KM_PER_NS / 2, abs=0.01)
    # 10 ms each way: the round trip is at least 20 ms, the radius at least ~3,000 km.
    assert s["rtt_ms"] >= 20.0 and s["radius_km"] >= 2997
    assert s["rtt_ms"] > d["rtt_ms"] + 19.0
    # Loopback answers in well under 15 ms: Dubai's landmark alone clears CN/HK/MO; with the delay it cannot.
    assert direct["excluded"] is True and d["excludes_alone"] is True
    assert delayed["excluded"] is False and delayed["grade"] == "not provable"
