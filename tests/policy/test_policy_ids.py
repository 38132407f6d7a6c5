"""One id, one policy document: a file cannot stand in for the bundled ``us-ear`` by taking its id.

Red-team finding B: ``extends = ["overrides.toml", "us-ear"]`` where overrides.toml says
``id = "us-ear"`` and holds one rule made the loader keep that file and skip the bundled
policy without a word, so a Huawei tenant headquartered in CN was affirming while
``attest policy show`` still printed "extends us-ear".
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from attest.policy import Policy, PolicyError, load_policy
from tests.conftest import CliRunner, make_envelope

US_EAR = resources.files("attest.policy").joinpath("data/us-ear.toml").read_text(encoding="utf-8")
SHADOW = 'id = "us-ear"\nversion = "2026.12"\ntitle = "local overrides"\neffective = 2023-11-17\n[[rules]]\nid = "validity"\nkind = "validity"\n'
MINE = 'id = "example-cloud"\nversion = "1"\ntitle = "t"\neffective = 2026-01-01\nextends = [{bases}]\n'


def _write(where: Path, name: str, text: str) -> str:
    (where / name).write_text(text, encoding="utf-8")
    return str(where / name)


@pytest.mark.parametrize(
    "bases", ['"overrides.toml", "us-ear"', '"us-ear", "overrides.toml"', '"overrides.toml"']
)
def test_a_file_calling_itself_us_ear_is_refused_wherever_it_sits_in_extends(
    tmp_path: Path, bases: str
) -> None:
    _write(tmp_path, "overrides.toml", SHADOW)
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, "pol_b.toml", MINE.format(bases=bases)))
    assert "calls itself 'us-ear', the id of a bundled policy, and is not that policy" in err.value.message
    assert "overrides.toml" in err.value.message
    with pytest.raises(PolicyError, match="calls itself 'us-ear'"):
        load_policy(str(tmp_path / "overrides.toml"))  # named directly, too


def test_a_word_for_word_copy_of_us_ear_is_us_ear(tmp_path: Path) -> None:
    _write(tmp_path, "copy.toml", US_EAR)
    policy = load_policy(_write(tmp_path, "p.toml", MINE.format(bases='"copy.toml", "us-ear"')))
    assert [d.id for d in policy.documents] == ["us-ear", "example-cloud"]
    assert len(policy.rules) == len(load_policy("us-ear").rules)


def test_two_different_documents_with_one_id_are_refused(tmp_path: Path) -> None:
    base = 'id = "shared"\nversion = "1"\ntitle = "{title}"\neffective = 2024-01-01\nextends = ["us-ear"]\n'
    _write(tmp_path, "a.toml", base.format(title="a"))
    _write(tmp_path, "b.toml", base.format(title="b"))
    with pytest.raises(PolicyError) as err:
        load_policy(_write(tmp_path, "p.toml", MINE.format(bases='"a.toml", "b.toml"')))
    assert "two different policy documents have the id 'shared'" in err.value.message
    # The same document reached twice (a diamond) is one document.
    _write(tmp_path, "b.toml", base.format(title="a"))
    assert [d.id for d in load_policy(str(tmp_path / "p.toml")).documents] == [
        "us-ear",
        "shared",
        "example-cloud",
    ]


def test_the_library_refuses_two_documents_with_one_id(tmp_path: Path) -> None:
    shadow = load_policy(_write(tmp_path, "ok.toml", SHADOW.replace('"us-ear"', '"ok"', 1))).main
    with pytest.raises(PolicyError, match="two different policy documents have the id 'ok'"):
        Policy([shadow, shadow.model_copy(update={"title": "other"})])
    # Documents built in code may change a bundled one: its anchor then says custom (tests/test_anchors.py).


def test_through_the_cli_huawei_is_never_affirming(workspace: Path, cli: CliRunner) -> None:
    (workspace / "tenant.json").write_text(
        json.dumps({"legal_name": "Huawei Technologies Co., Ltd.", "headquarters_country": "CN"})
    )
    make_envelope(cli)
    _write(workspace, "overrides.toml", SHADOW)
    _write(workspace, "pol_b.toml", MINE.format(bases='"overrides.toml", "us-ear"'))
    for argv in (
        ("verify", "m.env.json", "--trust", "trust.json", "--policy", "pol_b.toml"),
        ("policy", "show", "pol_b.toml"),
        ("policy", "check", "pol_b.toml"),
    ):
        proc = cli(*argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert "calls itself 'us-ear'" in proc.stderr and "Traceback" not in proc.stderr
        assert "AFFIRMING" not in proc.stdout
    assert cli("verify", "m.env.json", "--trust", "trust.json").returncode == 3  # the bundled us-ear
