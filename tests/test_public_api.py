"""The public API is visible: to ``dir()`` and ``help()`` (without loading it), and to IDEs (static imports)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import attest
from tests.conftest import NOW, REPO, Node

HEAVY = ("pydantic", "numpy", "cryptography", "attest.model", "attest.verify", "attest.scheduler")


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout


def test_dir_lists_the_api_without_importing_it() -> None:
    out = _run(
        "import sys, attest\nnames = dir(attest)\n"
        f"print(sorted(set(attest.__all__) - set(names)))\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    ).splitlines()
    assert out == ["[]", "[]"]


def test_help_shows_the_functions_and_classes() -> None:
    text = _run("import attest, pydoc\nprint(pydoc.render_doc(attest, renderer=pydoc.plaintext))")
    for shown in ("verify_envelope(raw", "sign_manifest(", "load_evidence(", "read_envelopes(", "class TrustStore",
                  "class VerificationResult", "Admitting jobs"):
        assert shown in text, shown


def test_every_export_is_imported_for_type_checkers_and_documented() -> None:
    """IDEs and mypy read the ``if TYPE_CHECKING:`` imports; a name missing there is invisible to them."""
    tree = ast.parse((REPO / "attest" / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    static = {a.asname or a.name for n in ast.walk(block) if isinstance(n, ast.ImportFrom) for a in n.names}
    public = set(attest.__all__) - {"__version__"}
    assert public <= static, public - static
    doc = attest.__doc__ or ""
    assert [n for n in sorted(public) if n not in doc] == []


def test_admission_names_are_exported_and_work(tmp_path: Path, node: Node) -> None:
    (tmp_path / "a.json").write_bytes(node.envelope(node.manifest()))
    items = attest.read_envelopes(tmp_path)
    assert [name for name, _ in items] == ["a.json"]
    evidence = attest.load_evidence(items, node.trust, now=NOW)
    assert list(evidence) == [node.host]
