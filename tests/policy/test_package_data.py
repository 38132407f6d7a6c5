"""The bundled lists, their notice and the confusables table ship in the wheel (package-data globs)."""

from __future__ import annotations

import fnmatch
import tomllib

from tests.conftest import REPO


def test_every_policy_data_file_is_package_data() -> None:
    globs = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["attest"]
    data = REPO / "attest" / "policy" / "data"
    files = [f"policy/data/{p.name}" for p in data.iterdir() if p.is_file()]
    assert {"policy/data/csl-2026-07-31.json.gz", "policy/data/LICENSE.csl-projection.MIT.txt"} <= set(files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []


def test_opencc_is_a_declared_dependency() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert any(d.startswith("opencc") for d in deps)


def test_pyahocorasick_is_a_declared_dependency() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert any(d.startswith("pyahocorasick") for d in deps)  # the brand finder of attest.policy.screening
