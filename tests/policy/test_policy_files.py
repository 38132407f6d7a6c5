"""Policy files: composition, and clear errors for every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.policy import BUNDLED, PolicyError, load_policy

MINIMAL = """
id = "mine"
version = "1"
title = "t"
effective = 2024-01-01
{extra}
"""


def write(tmp_path: Path, text: str, name: str = "p.toml") -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


def test_bundled_policies_load() -> None:
    for name in BUNDLED:
        policy = load_policy(name)
        assert policy.rules and policy.main.sources


def test_extends_composes_bases_first_and_overrides_by_rule_id(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(extra='extends = ["us-ear"]\n[[rules]]\nid = "training_compute"\nkind = "training_compute"\nthreshold_ops = 1e25\noverride = "we report from 1e25"\n'))
    policy = load_policy(path)
    assert [d.id for d in policy.documents] == ["us-ear", "mine"]
    rule = next(r for r in policy.rules if r.id == "training_compute")
    assert rule.threshold_ops == 1e25  # type: ignore[union-attr]
    assert "D:5" in policy.groups and len(policy.rules) == len(load_policy("us-ear").rules)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (MINIMAL.format(extra=""), "has no rules; an empty policy would pass everything"),
        (MINIMAL.format(extra='[[rules]]\nid = "x"\nkind = "teleport"\n'), "rules.0"),
        (MINIMAL.format(extra='[[rules]]\nid = "x"\nkind = "destination"\ngroups = ["Z:9"]\n'), "names group 'Z:9', which no document defines"),
        (MINIMAL.format(extra='[[rules]]\nid = "x"\nkind = "training_compute"\nthreshold_ops = -1\n'), "rules.0.training_compute.threshold_ops"),
        (MINIMAL.format(extra='[[rules]]\nid = "x"\nkind = "validity"\n[[rules]]\nid = "x"\nkind = "validity"\n'), "a rule id is used twice"),
        (MINIMAL.format(extra='bogus = 1\n[[rules]]\nid = "x"\nkind = "validity"\n'), "bogus"),
        (MINIMAL.format(extra='status = "rescinded"\n[[rules]]\nid = "x"\nkind = "validity"\n'), "needs the date it was rescinded"),
        ('id = "x"\nversion = \n', "not valid TOML"),
        ('id = "x"\nversion = "1"\ntitle = "t"\neffective = "yesterday"\n', "effective"),
        (MINIMAL.format(extra='[groups."D:9"]\nmembers = ["ZZZ"]\n[[rules]]\nid = "x"\nkind = "validity"\n'), "groups.D:9.members.0"),
    ],
)
def test_bad_files_say_where(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy(write(tmp_path, text))
    assert fragment in err.value.message


def test_toml_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"line 3"):
        load_policy(write(tmp_path, 'id = "x"\nversion = "1"\ntitle = = "t"\n'))


def test_missing_and_cyclic(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="neither a file nor a bundled policy"):
        load_policy(str(tmp_path / "nope.toml"))
    write(tmp_path, MINIMAL.format(extra='extends = ["b.toml"]\n').replace('"mine"', '"a"'), "a.toml")
    write(tmp_path, MINIMAL.format(extra='extends = ["a.toml"]\n').replace('"mine"', '"b"'), "b.toml")
    with pytest.raises(PolicyError, match="extends itself"):
        load_policy(str(tmp_path / "a.toml"))
