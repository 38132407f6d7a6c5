"""The package's face: ``attest.__all__`` is exactly what README's "The top-level names" lists."""

from __future__ import annotations

import re

import attest
from tests.conftest import REPO


def readme_names() -> list[str]:
    """The names README's "The top-level names" section lists (each in backticks, in its bullets)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### The top-level names", 1)[1]
    bullets = re.search(r"\n(- .*?)\n\n", section, re.DOTALL)
    assert bullets is not None, "README's top-level names section has no list"
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", bullets.group(1))


def test_all_is_what_the_readme_documents() -> None:
    names = readme_names()
    assert len(names) == len(set(names)), "a name listed twice"
    assert sorted(attest.__all__) == sorted(names), (
        f"exported, not in README: {sorted(set(attest.__all__) - set(names))}; "
        f"in README, not exported: {sorted(set(names) - set(attest.__all__))}"
    )


def test_every_documented_name_resolves_and_dir_lists_them() -> None:
    for name in readme_names():
        assert getattr(attest, name) is not None, name
    assert set(readme_names()) <= set(dir(attest))


def test_no_machinery_at_the_top() -> None:
    """Caches, lazy imports and worker plumbing are not the face of the package."""
    machinery = {
        "ByIdentity",
        "Bounded",
        "lazy_exports",
        "lazy_dir",
        "VerifierSpec",
        "verify_all",
        "clear_caches",
    }
    assert not machinery & set(attest.__all__)


def test_machinery_lives_under_internal_only() -> None:
    """The moved modules are gone from their old paths (README never documented them)."""
    import importlib.util

    for old in ("attest.memo", "attest.lazy", "attest.audit.parallel"):
        assert importlib.util.find_spec(old) is None, old
    for new in ("attest._internal.memo", "attest._internal.lazy", "attest.audit._parallel"):
        assert importlib.util.find_spec(new) is not None, new


def test_each_machinery_module_imports_first_in_a_fresh_process() -> None:
    """A spawned audit worker imports its module first: no import order may hit a cycle."""
    import subprocess
    import sys

    for module in (
        "attest.audit._parallel",
        "attest._internal.memo",
        "attest._internal.lazy",
        "attest.anchors",
    ):
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=REPO
        )
        assert proc.returncode == 0, proc.stderr
