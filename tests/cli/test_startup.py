"""A command loads only what it needs: the verb table, and the Slurm Prolog's light path."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

from attest.cli.main import VERBS, build_parser


def _choices(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_every_verb_is_registered_by_the_module_the_table_names() -> None:
    for module in dict.fromkeys(VERBS.values()):
        parser = argparse.ArgumentParser()
        importlib.import_module(f"attest.cli.{module}").register(parser.add_subparsers())
        assert _choices(parser) == [verb for verb, m in VERBS.items() if m == module], module
    # the whole command line (attest --help) lists the verbs in the table's order
    assert _choices(build_parser()) == list(VERBS)
    assert _choices(build_parser("no-such-verb")) == list(VERBS)


def test_a_verb_builds_only_its_own_module() -> None:
    assert _choices(build_parser("daemon")) == ["daemon"]
    assert _choices(build_parser("screen")) == ["screen", "lists"]


def _loaded_after(code: str) -> list[str]:
    heavy = ("pydantic", "numpy", "requests", "rapidfuzz", "cryptography", "attest.model", "attest.verify")
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.split()


def test_daemon_client_commands_load_no_models(tmp_path: Path) -> None:
    """`attest daemon sign-job` runs in every Slurm Prolog: it must not pay for the library's import."""
    tenant = tmp_path / "tenant.json"
    tenant.write_text('{"legal_name": "Example Robotics Inc.", "headquarters_country": "US"}')
    # the tenant is read and the socket tried (there is no daemon: exit 2 with a message)
    code = (
        "from attest.cli.main import main\n"
        f"rc = main(['daemon', 'sign-job', '--phase', 'start', '--job-id', '7', '--tenant', {str(tenant)!r},"
        f" '--socket', {str(tmp_path / 'none.sock')!r}])\n"
        "assert rc == 2, rc"
    )
    assert _loaded_after(code) == []
    assert (
        _loaded_after("import attest; from attest.daemon import Client; import attest.scheduler.slurm") == []
    )


def test_public_names_still_import_on_use() -> None:
    """`from attest import verify_envelope` and friends work as before (imported on first use)."""
    import attest
    import attest.daemon
    import attest.scheduler

    for package in (attest, attest.daemon, attest.scheduler):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
    assert attest.verify_envelope is importlib.import_module("attest.verify").verify_envelope
    assert "verify_envelope" in vars(attest)  # kept after the first use
    try:
        attest.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
    assert "cryptography" in _loaded_after("import attest; attest.SigningKey")
    # submodules as attributes, as when the package imported them eagerly
    assert "attest.model" in _loaded_after(
        "import attest; assert attest.model.WorkloadManifest; assert attest.hardware.PRESETS"
    )


def test_version_loads_no_verb(cli: Any) -> None:
    out = cli("--version", check_code=0)
    assert out.stdout.startswith("compute-attest ")
    assert out.stdout.splitlines()[1].startswith(("verifier: compiled (mypyc)", "verifier: pure Python ("))
    assert _choices(build_parser("--version")) == []
