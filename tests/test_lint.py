"""Style is part of the build: ruff and mypy --strict must be clean on the package."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _tool(name: str) -> list[str]:
    exe = shutil.which(name, path=str(REPO / ".venv" / "bin")) or shutil.which(name)
    if exe:
        return [exe]
    pytest.fail(f"{name} is not installed; install the dev extra: pip install -e '.[dev]'")


def test_ruff_check() -> None:
    proc = subprocess.run([*_tool("ruff"), "check", "attest", "tests", "bench", "examples", "scripts"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format() -> None:
    proc = subprocess.run([*_tool("ruff"), "format", "--check", "attest"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict() -> None:
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "attest"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
