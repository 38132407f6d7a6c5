"""``attest trust add`` never changes an existing key's scope without ``--replace``, and then shows the change."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import CliRunner


def test_re_adding_a_key_with_another_scope_is_refused(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "node", check_code=0)
    cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--operator", "Op", "--country", "MY", check_code=0)
    before = (tmp_path / "t.json").read_bytes()
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--site", "y", check_code=2)
    assert "already trusted" in out.stderr and "--replace" in out.stderr
    assert "countries: MY  ->  any" in out.stderr  # the widening is named
    assert (tmp_path / "t.json").read_bytes() == before  # and nothing was written
    listing = cli("trust", "list", "--trust", "t.json", check_code=0).stdout
    assert "operator Op; sites any; countries MY" in listing


def test_same_scope_again_is_a_no_op(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "node", check_code=0)
    args = ("trust", "add", "node/attest.pub", "--trust", "t.json", "--operator", "Op", "--country", "MY", "--site", "a", "b")
    cli(*args, check_code=0)
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--operator", "Op", "--country", "my", "--site", "b", "a",
              "--format", "json", check_code=0)
    assert json.loads(out.stdout)["unchanged"] is True


def test_replace_shows_the_change(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "node", check_code=0)
    cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--operator", "Op", "--country", "MY", check_code=0)
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--site", "y", "--replace", check_code=0)
    assert "replaced the scope" in out.stdout
    assert "operator: Op  ->  any" in out.stdout and "sites: any  ->  y" in out.stdout
    listing = cli("trust", "list", "--trust", "t.json", check_code=0).stdout
    assert "operator any; sites y; countries any" in listing
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--site", "z", "--replace", "--format", "json", check_code=0)
    assert json.loads(out.stdout)["changes"] == [{"field": "sites", "was": "y", "now": "z"}]


def test_challenger_option_still_works(tmp_path: Path, cli: CliRunner) -> None:
    cli("keygen", "--out", "ch", check_code=0)
    cli("trust", "add", "ch/attest.pub", "--challenger", "--trust", "t.json", check_code=0)
    cli("trust", "add", "ch/attest.pub", "--challenger", "--trust", "t.json", check_code=0)
    assert "binding challenger" in cli("trust", "list", "--trust", "t.json", check_code=0).stdout
    out = cli("trust", "add", "ch/attest.pub", "--trust", "t.json", "--country", "MY", check_code=2)
    assert "challenger" in out.stderr


def test_every_scope_field_is_compared(tmp_path: Path, cli: CliRunner) -> None:
    """A re-add that only adds a host (a field the first version of this check did not know) is refused too."""
    cli("keygen", "--out", "node", check_code=0)
    cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--country", "MY", check_code=0)
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--country", "MY", "--host", "gpu-zz", check_code=2)
    assert "hosts: pinned  ->  gpu-zz" in out.stderr
    out = cli("trust", "add", "node/attest.pub", "--trust", "t.json", "--country", "MY", "--host", "gpu-zz", "--replace",
              check_code=0)
    assert "hosts: pinned  ->  gpu-zz" in out.stdout
