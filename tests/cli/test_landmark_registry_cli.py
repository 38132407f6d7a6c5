"""``attest landmark registry add``: a validated registry, usable by ``attest locate`` against a real landmark."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliRunner

ADD = ("landmark", "registry", "add", "--registry", "lm.json")


def test_built_registry_is_what_locate_measures_against(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "--out", "lm", check_code=0)
    cli("keygen", "--out", "node", check_code=0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "attest.cli.main", "landmark", "serve", "--key", "lm/attest.key", "--id", "sin-1",
         "--lat", "1.29", "--lon", "103.85", "--bind", "127.0.0.1:0"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        out = cli(*ADD, "--id", "sin-1", "--lat", "1.29", "--lon", "103.85", "--key", "lm/attest.pub",
                  "--operator", "Landmark Op A", "--address", hello["address"], check_code=0)
        assert "added landmark sin-1" in out.stdout and "1 landmark(s) from 1 operator(s)" in out.stdout
        receipts = json.loads(cli("locate", "--landmarks", "lm.json", "--key", "node/attest.key", "--nonce", "ab" * 16,
                                  "--rounds", "2", check_code=0).stdout)["receipts"]
        assert [r["landmark_id"] for r in receipts] == ["sin-1"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_duplicates_are_refused_unless_replace(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "--out", "a", check_code=0)
    cli("keygen", "--out", "b", check_code=0)
    cli(*ADD, "--id", "sin-1", "--lat", "1.29", "--lon", "103.85", "--key", "a/attest.pub", "--operator", "A", check_code=0)
    before = (tmp_path / "lm.json").read_bytes()
    # The same key under a second id would count one operator twice.
    out = cli(*ADD, "--id", "jkt-1", "--lat", "-6.2", "--lon", "106.8", "--key", "a/attest.pub", "--operator", "B", check_code=2)
    assert "already registered for landmark 'sin-1'" in out.stderr
    # An id already there: refused, the difference shown, nothing written.
    out = cli(*ADD, "--id", "sin-1", "--lat", "-1.29", "--lon", "103.85", "--key", "a/attest.pub", "--operator", "A", check_code=2)
    assert "already in lm.json" in out.stderr and "latitude: 1.29  ->  -1.29" in out.stderr and "--replace" in out.stderr
    assert (tmp_path / "lm.json").read_bytes() == before
    # The same landmark again: nothing to do.
    out = cli(*ADD, "--id", "sin-1", "--lat", "1.29", "--lon", "103.85", "--key", "a/attest.pub", "--operator", "A",
              "--format", "json", check_code=0)
    assert json.loads(out.stdout)["unchanged"] is True
    # --replace changes it and says how; southern and western coordinates are fine.
    out = cli(*ADD, "--id", "sin-1", "--lat", "-1.29", "--lon", "-103.85", "--key", "b/attest.pub", "--operator", "A",
              "--replace", check_code=0)
    assert "replaced landmark sin-1" in out.stdout and "longitude: 103.85  ->  -103.85" in out.stdout
    lm = json.loads((tmp_path / "lm.json").read_text())["landmarks"]
    assert len(lm) == 1 and lm[0]["latitude"] == -1.29


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--lat", "nan", "--lon", "1"), "finite number"),
        (("--lat", "91", "--lon", "1"), "from -90 to 90"),
        (("--lat", "1", "--lon", "east"), "not a number"),
        (("--lat", "1", "--lon", "1", "--address", "host"), "not HOST:PORT"),
        (("--lat", "1", "--lon", "1", "--address", "host:0"), "not HOST:PORT"),
        (("--lat", "1", "--lon", "1", "--key", "k/attest.key"), "holds a private key"),
        (("--lat", "1", "--lon", "1", "--key", "missing.pub"), "missing.pub"),
        (("--lat", "1", "--lon", "1", "--operator", ""), "operator"),
        (("--lat", "1", "--lon", "1", "--registry", "."), "is a directory"),
        (("--lat", "1", "--lon", "1", "--registry", "garbage.json"), "landmark registry garbage.json"),
    ],
)
def test_bad_input_is_a_clear_error(cli: CliRunner, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    cli("keygen", "--out", "k", check_code=0)
    (tmp_path / "garbage.json").write_text("{not json")
    base = {"--registry": "lm.json", "--id": "x", "--key": "k/attest.pub", "--operator": "Op"}
    given = dict(zip(args[::2], args[1::2], strict=True))
    flat = [item for k, v in {**base, **given}.items() for item in (k, v)]
    out = cli("landmark", "registry", "add", *flat, check_code=2)
    assert message in out.stderr and not (tmp_path / "lm.json").exists()
