"""``attest chips`` as a user runs it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CliRunner


def test_list(cli: CliRunner) -> None:
    rows = json.loads(cli("chips", "list", "--format", "json", check_code=0).stdout)
    by_id = {r["chip"]: r for r in rows}
    assert by_id["h100-sxm"]["paragraph"] == "3A090.a.1" and by_id["l40"]["paragraph"] == "3A090.b.1"
    assert by_id["b300"]["basis"] == "assumed" and by_id["b300"]["controlled"]
    assert "h100-sxm" in cli("chips", "list", check_code=0).stdout


@pytest.mark.parametrize(
    ("args", "paragraph", "eccn"),
    [
        (["--name", "NVIDIA H20"], None, None),
        (["--name", "NVIDIA A100-SXM4-80GB"], "3A090.a.1", "3A090.a"),
        (["--pci", "10de:26b5"], "3A090.b.1", "3A090.b"),
        (["--pci", "1002:74A1"], "3A090.a.1", "3A090.a"),
        (["--tpp", "4800", "--no-datacenter"], "3A090.a.1", "3A090.a"),
        (["--tpp", "4799.99", "--die-area", "100", "--no-datacenter"], None, None),
        (["--tpp", "1600", "--die-area", "500"], "3A090.b.2", "3A090.b"),
        (["--tpp", "2960", "--die-area", "500"], "3A090.a.2", "3A090.a"),
        (["--tpp", "2000"], None, "3A090.a"),
    ],
)
def test_classify(cli: CliRunner, args: list[str], paragraph: str | None, eccn: str | None) -> None:
    out = json.loads(cli("chips", "classify", *args, "--format", "json", check_code=0).stdout)
    assert (out["paragraph"], out["eccn"]) == (paragraph, eccn)
    assert {"eccn", "paragraph", "tpp", "pd", "notes"} <= set(out)


def test_show_and_errors(cli: CliRunner) -> None:
    out = cli("chips", "show", "NVIDIA H100 80GB HBM3", check_code=0).stdout
    assert "3A090.a.1" in out and "10de:2330" in out and "1979 TOPS x 8 bits = 15832" in out
    shown = json.loads(cli("chips", "show", "10de:2901", "--format", "json", check_code=0).stdout)
    assert shown["chip"]["id"] == "b200"
    assert "no chip 'Frobnitz 9000'" in cli("chips", "show", "Frobnitz 9000", check_code=2).stderr
    assert "go with --tpp" in cli("chips", "classify", "--name", "h100-sxm", "--die-area", "3", check_code=2).stderr
    assert "must not be negative" in cli("chips", "classify", "--tpp", "-1", check_code=2).stderr
    assert "not allowed with" in cli("chips", "classify", "--name", "x", "--pci", "10de:2330", check_code=2).stderr
