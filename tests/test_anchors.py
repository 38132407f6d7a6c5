"""Anchors that cannot mislead: a result names its policy, lists, catalog and trust store by content.

A policy file that calls itself ``us-ear`` and is not it is refused (tests/policy/test_policy_ids.py);
a copy of the bundled policy under its own id, a catalog with the bundled date, an imported list
under a bundled list's name: none may be recorded as the bundled one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from attest.anchors import catalog_anchor, describe_anchors, list_digest, policy_anchor, trust_digest
from attest.crypto.canonical import json_digest
from attest.crypto.keys import SigningKey
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.model.result import Status
from attest.policy import load_policy
from attest.policy.screening import bundled_list
from attest.verify import Verifier
from tests.conftest import NOW, CliRunner, Node, make_envelope

LATER = NOW + timedelta(minutes=1)
US_EAR = resources.files("attest.policy").joinpath("data/us-ear.toml").read_text(encoding="utf-8")


def _lax_us_ear(path: Path) -> Path:
    """The bundled us-ear under the id ``my-ear``, version unchanged, its title changed: a file an
    operator could write to look like the bundled policy (with the bundled id, it is refused)."""
    text = US_EAR.replace('title = "US EAR', 'title = "Totally the US EAR', 1).replace('id = "us-ear"', 'id = "my-ear"', 1)
    assert text != US_EAR
    path.write_text(text, encoding="utf-8")
    return path


def test_a_policy_file_claiming_the_bundled_id_is_custom_and_named_by_content(
    node: Node, tmp_path: Path
) -> None:
    bundled = load_policy("us-ear")
    fake = load_policy(str(_lax_us_ear(tmp_path / "us-ear.toml")))
    assert (fake.id, fake.version) == ("my-ear", bundled.version)  # its file is called us-ear
    real = Verifier(node.trust, policy=bundled).verify(node.envelope(), now=LATER).anchors
    mine = Verifier(node.trust, policy=fake).verify(node.envelope(), now=LATER).anchors
    assert real is not None and mine is not None
    assert real.policy == f"us-ear@{bundled.version}"
    assert mine.policy == f"custom:my-ear@{bundled.version}"
    assert mine.policy_sha256 and real.policy_sha256 and mine.policy_sha256 != real.policy_sha256
    # The same lists were loaded, named with date, size and digest.
    assert [(a.name, a.date, a.entries, a.bundled) for a in mine.lists] == [
        (a.name, a.date, a.entries, a.bundled) for a in real.lists
    ]
    csl = next(a for a in real.lists if a.name == "csl")
    assert csl.bundled and csl.entries == len(bundled_list("csl").entries)
    assert (
        csl.sha256
        == list_digest(bundled_list("csl"))
        == "sha256:"
        + hashlib.sha256(
            bundled_list("csl").model_dump_json(by_alias=True, exclude_none=True).encode()
        ).hexdigest()
    )


def test_a_byte_copy_of_the_bundled_policy_is_the_bundled_policy(tmp_path: Path) -> None:
    """What names a policy is its content, not where it was read from."""
    copy = tmp_path / "copy.toml"
    copy.write_text(US_EAR, encoding="utf-8")
    assert policy_anchor(load_policy(str(copy)))[:2] == policy_anchor(load_policy("us-ear"))[:2]


def test_the_digest_covers_the_extends_chain(tmp_path: Path) -> None:
    child = 'id = "strict"\nversion = "1"\ntitle = "t"\neffective = 2024-01-01\nextends = ["{parent}"]\n'
    (tmp_path / "a.toml").write_text(child.format(parent="us-ear"), encoding="utf-8")
    (tmp_path / "lax.toml").write_text(
        US_EAR.replace('title = "US EAR', 'title = "X', 1).replace('id = "us-ear"', 'id = "lax"', 1), encoding="utf-8"
    )
    (tmp_path / "b.toml").write_text(child.format(parent="lax.toml"), encoding="utf-8")
    a, b = (
        policy_anchor(load_policy(str(tmp_path / "a.toml"))),
        policy_anchor(load_policy(str(tmp_path / "b.toml"))),
    )
    assert a[0] == b[0] == "custom:strict@1"
    assert a[1] != b[1]  # same main document, another base


def test_an_imported_list_under_a_bundled_name_is_marked_and_changes_the_digest(
    node: Node, tmp_path: Path
) -> None:
    seed = bundled_list("seed")
    lists = tmp_path / "lists"
    lists.mkdir()
    thinner = seed.model_copy(update={"entries": seed.entries[1:]})
    (lists / "seed.json").write_text(thinner.to_json(), encoding="utf-8")
    bundled = policy_anchor(load_policy("us-ear"))
    imported = policy_anchor(load_policy("us-ear", lists_dir=lists))
    assert imported[0] == bundled[0] == "us-ear@2026.12"  # the policy itself is the bundled one
    assert imported[1] != bundled[1]  # but it screens against other lists
    mine = next(a for a in imported[2] if a.name == "seed")
    assert not mine.bundled and mine.entries == len(seed.entries) - 1
    assert next(a for a in bundled[2] if a.name == "seed").bundled


def test_a_list_file_placed_by_hand_under_another_lists_name_is_refused(
    tmp_path: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bundled seed list (42 names) written as lists/csl.json would stand in for the 25,921-entry CSL
    # and be reported as "bundled seed": refused, naming the file, both lists and how to import.
    from attest.errors import InputError

    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "csl.json").write_text(bundled_list("seed").to_json(), encoding="utf-8")
    with pytest.raises(InputError, match="holds the list 'seed', not 'csl'"):
        load_policy("us-ear", lists_dir=lists)
    monkeypatch.setenv("ATTEST_LISTS_DIR", str(lists))
    proc = cli("policy", "check", "us-ear")
    assert proc.returncode == 2 and "holds the list 'seed', not 'csl'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_catalog_given_by_file_is_custom_even_with_the_bundled_date() -> None:
    bundled = bundled_catalog()
    assert catalog_anchor(bundled) == bundled.anchor
    assert catalog_anchor(Catalog(bundled.document.model_copy())) == bundled.anchor  # same content
    fewer = Catalog(bundled.document.model_copy(update={"chips": bundled.document.chips[1:]}))
    assert fewer.document.date == bundled.document.date
    assert catalog_anchor(fewer) == "custom:" + fewer.anchor != bundled.anchor


def test_the_trust_store_is_named_by_its_digest_and_follows_changes(node: Node) -> None:
    verifier = Verifier(node.trust)
    first = verifier.verify(node.envelope(), now=LATER).anchors
    assert first is not None and first.trust_store == trust_digest(node.trust)
    assert first.trust_store == json_digest(node.trust.document.to_obj())
    # Another store (one more key revoked): another anchor, in the very next result.
    verifier.trust = node.trust.with_revoked(SigningKey.generate().public.key_id)
    second = verifier.verify(node.envelope(), now=LATER).anchors
    assert second is not None and second.trust_store == trust_digest(verifier.trust) != first.trust_store


def test_describe_names_what_is_not_bundled(node: Node, tmp_path: Path) -> None:
    fake = load_policy(str(_lax_us_ear(tmp_path / "us-ear.toml")))
    line = describe_anchors(Verifier(node.trust, policy=fake).anchors)
    assert line.startswith("anchors (not bundled: policy): policy custom:my-ear@")
    assert describe_anchors(Verifier(node.trust).anchors).startswith("anchors: policy us-ear@")


@pytest.mark.parametrize("verb", ["verify", "audit"])
def test_the_cli_shows_a_fake_us_ear_as_custom(workspace: Path, cli: CliRunner, verb: str) -> None:
    make_envelope(cli)
    _lax_us_ear(workspace / "us-ear.toml")
    (workspace / "in").mkdir()
    (workspace / "in" / "m.env.json").write_bytes((workspace / "m.env.json").read_bytes())

    def anchors(policy: str) -> list[dict[str, object]]:
        if verb == "verify":
            out = cli("verify", "m.env.json", "--trust", "trust.json", "--policy", policy, "--format", "json")
            return [json.loads(out.stdout)["anchors"]]
        out = cli("audit", "in", "--trust", "trust.json", "--policy", policy, "--format", "json")
        return list(json.loads(out.stdout)["anchors"])

    [real], [fake] = anchors("us-ear"), anchors("us-ear.toml")
    assert str(real["policy"]).startswith("us-ear@") and str(fake["policy"]).startswith("custom:my-ear@")
    assert real["policy_sha256"] != fake["policy_sha256"]
    assert real["trust_store"] == fake["trust_store"] and str(real["trust_store"]).startswith("sha256:")
    assert {str(a["name"]) for a in real["lists"]} >= {"csl", "seed"}  # type: ignore[union-attr]
    where = ("audit", "in") if verb == "audit" else ("verify", "m.env.json")
    text = cli(*where, "--trust", "trust.json", "--policy", "us-ear.toml").stdout
    assert "anchors (not bundled: policy): policy custom:my-ear@" in text and "list csl of" in text
    # The same file without the CSL: the text names the policy as custom and the lists it did load.
    (workspace / "us-ear.toml").write_text(
        (workspace / "us-ear.toml").read_text().replace('lists = ["csl", "1260h", "seed"]', 'lists = ["1260h", "seed"]')
    )
    text = cli(*where, "--trust", "trust.json", "--policy", "us-ear.toml").stdout
    [line] = [line for line in text.splitlines() if line.startswith("anchors")]
    assert line.startswith("anchors (not bundled: policy): policy custom:my-ear@")
    assert "list csl" not in line and "list 1260h of" in line and "list seed of" in line
    bundled = cli(*where, "--trust", "trust.json").stdout
    assert "anchors: policy us-ear@" in bundled and "list csl of" in bundled
    assert Status  # the statuses are the policy's business; the anchors say which policy judged


def test_the_signed_ear_and_policy_explain_name_a_fake_us_ear_as_custom(
    workspace: Path, cli: CliRunner
) -> None:
    """The EAR's appraisal-policy-id and ``policy explain``'s verdict line are anchors too."""
    import base64

    make_envelope(cli)
    _lax_us_ear(workspace / "us-ear.toml")
    cli("keygen", "--out", "verifier", check_code=0)

    def policy_ids(policy: str) -> set[str]:
        out = cli(
            "verify",
            "m.env.json",
            "--trust",
            "trust.json",
            "--policy",
            policy,
            "--format",
            "ear",
            "--sign-result",
            "verifier/attest.key",
            check_code=0,
        )
        body = out.stdout.strip().split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return {sub["ear.appraisal-policy-id"] for sub in claims["submods"].values()}

    assert policy_ids("us-ear") == {"us-ear@2026.12"}
    assert policy_ids("us-ear.toml") == {"custom:my-ear@2026.12"}
    real = cli("policy", "explain", "m.env.json", "--trust", "trust.json", check_code=0).stdout
    fake = cli(
        "policy", "explain", "m.env.json", "--trust", "trust.json", "--policy", "us-ear.toml", check_code=0
    ).stdout
    assert "AFFIRMING under us-ear 2026.12" in real and "AFFIRMING under custom:my-ear 2026.12" in fake
