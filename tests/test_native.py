"""The compiled verifier (setup.py, attest._internal.native): used only while current, and judging as the source does.

When this run's verifier is compiled, the verifier's own tests are run again as pure Python
(``ATTEST_PURE=1``) and a corpus of envelopes — a chain, re-signed attacks, byte-level mutants —
is verified by both builds in subprocesses, whose results must be equal field for field.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest._internal import native
from attest.crypto.keys import SigningKey
from attest.model.manifest import Freshness, Tenant
from tests.conftest import COMPILED, NOW, REPO, trusted_node
from tests.test_heartbeat_path import chained, envelopes

LATER = NOW + timedelta(minutes=12)  # after the 24 heartbeats of the corpus (30 s apart), before any expires


def _setup_list() -> tuple[str, ...]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return value
    raise AssertionError("setup.py has no COMPILED")


def test_setup_compiles_exactly_the_modules_the_finder_guards() -> None:
    assert _setup_list() == native.COMPILED
    for name in native.COMPILED:
        assert (REPO / Path(*name.split("."))).with_suffix(".py").is_file(), name


def _record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: Any) -> None:
    path = tmp_path / "compiled.json"
    path.write_text(json.dumps(record))
    monkeypatch.setattr(native, "RECORD", path)
    monkeypatch.delenv("ATTEST_PURE", raising=False)


def _digests() -> dict[str, str]:
    return {
        name: hashlib.sha256((REPO / Path(*name.split("."))).with_suffix(".py").read_bytes()).hexdigest()
        for name in native.COMPILED
    }


def test_the_compiled_unit_is_used_only_while_every_source_is_the_one_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _record(tmp_path, monkeypatch, {"group": None, "modules": _digests()})
    assert native._decide() == (True, "compiled (mypyc)")

    edited = {**_digests(), "attest.sign": "0" * 64}  # one source edited since it was compiled
    _record(tmp_path, monkeypatch, {"group": None, "modules": edited})
    native_ok, reason = native._decide()
    assert not native_ok and "attest.sign changed since it was compiled" in reason

    fewer = dict(list(_digests().items())[1:])
    _record(tmp_path, monkeypatch, {"group": None, "modules": fewer})
    assert native._decide()[0] is False

    _record(tmp_path, monkeypatch, {"group": "no_such_unit__mypyc", "modules": _digests()})
    native_ok, reason = native._decide()
    assert not native_ok and "not importable" in reason

    # A unit of that name found elsewhere first (another tree's build on the path) is not this build's.
    _record(tmp_path, monkeypatch, {"group": "pytest", "modules": _digests()})
    native_ok, reason = native._decide()
    assert not native_ok and "another build's" in reason

    _record(tmp_path, monkeypatch, {"group": None, "modules": _digests()})
    monkeypatch.setenv("ATTEST_PURE", "1")
    assert native._decide() == (False, "pure Python (ATTEST_PURE=1)")


@pytest.mark.parametrize("text", ["", "{", "[]", '{"modules": 5}', '{"modules": {"attest.verify": 1}}'])
def test_a_damaged_record_runs_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "compiled.json"
    path.write_text(text)
    monkeypatch.setattr(native, "RECORD", path)
    monkeypatch.delenv("ATTEST_PURE", raising=False)
    native_ok, reason = native._decide()
    assert not native_ok and reason.startswith("pure Python (")


def test_no_record_runs_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "RECORD", tmp_path / "absent.json")
    monkeypatch.delenv("ATTEST_PURE", raising=False)
    assert native._decide() == (
        False,
        "pure Python (not compiled: no C compiler or mypyc when it was installed)",
    )


def _python(code: str, *, pure: bool) -> str:
    env = {**os.environ, "ATTEST_PURE": "1" if pure else "0"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_attest_pure_loads_every_module_from_its_source() -> None:
    code = (
        "import importlib, attest\nfrom attest._internal import native\n"
        "files = [importlib.import_module(n).__file__ for n in native.COMPILED]\n"
        "print(native.status()); print(all(f.endswith('.py') for f in files))"
    )
    assert _python(code, pure=True).split("\n")[:2] == ["pure Python (ATTEST_PURE=1)", "True"]
    status, every_py = _python(code, pure=False).split("\n")[:2]
    assert status == "compiled (mypyc)" or status.startswith("pure Python (")
    assert every_py == str(
        not status.startswith("compiled")
    )  # compiled: every one an extension module; else source


compiled_only = pytest.mark.skipif(
    not COMPILED,
    reason=f"this run is pure Python already ({native.status()}): there is no compiled build to compare",
)


@compiled_only
def test_the_verifiers_own_tests_pass_as_pure_python() -> None:
    """The tests this run ran against the compiled build, run again against the source."""
    files = [
        "tests/test_heartbeat_path.py",
        "tests/test_frames.py",
        "tests/test_tamper_property.py",
        "tests/test_verify.py",
        "tests/model/test_fastread.py",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "ATTEST_PURE": "1"},
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout.splitlines()[-1], done.stdout[-500:]


_VERIFY = """
import json, sys
from datetime import datetime
from pathlib import Path
from attest import TrustStore, Verifier
from attest._internal import native
folder = Path(sys.argv[1])
trust = TrustStore.load(folder / "trust.json")
now = datetime.fromisoformat(sys.argv[2])
files = sorted(folder.glob("e*.json"))
one = Verifier(trust)
singly = [one.verify(f.read_bytes(), now=now, source=f.name).model_dump(mode="json") for f in files]
batch = Verifier(trust).verify_many([(f.name, f.read_bytes()) for f in files], now=now, threads=2)
print(json.dumps({"status": native.status(), "singly": singly, "batch": [r.model_dump(mode="json") for r in batch]}))
"""


@compiled_only
def test_compiled_and_pure_give_the_same_results_on_attacks_and_mutants(tmp_path: Path) -> None:
    rng = random.Random(23)
    node = trusted_node()
    good = chained(node, 24)
    manifests = list(good)
    # Attacks signed by the node key: a rollback, a replayed nonce, a broken chain, an expired one, a tenant in China.
    manifests.append(
        good[5].model_copy(update={"freshness": good[5].freshness.model_copy(update={"sequence": 2})})
    )
    manifests.append(
        good[7].model_copy(update={"freshness": good[6].freshness.model_copy(update={"sequence": 30})})
    )
    manifests.append(
        good[8].model_copy(
            update={
                "freshness": good[8].freshness.model_copy(
                    update={"previous": "sha256:" + "ab" * 32, "sequence": 31}
                )
            }
        )
    )
    stale = Freshness(
        issued_at=NOW - timedelta(days=2),
        expires_at=NOW - timedelta(days=1),
        nonce="cd" * 16,
        sequence=40,
        previous="sha256:" + "ef" * 32,
    )
    manifests.append(good[9].model_copy(update={"freshness": stale}))
    china = Tenant(legal_name="Huawei Technologies Co., Ltd.", headquarters_country="CN")
    manifests.append(good[10].model_copy(update={"tenant": china}))
    raws = envelopes(node, manifests)
    raws.append(node.envelope(good[11], key=SigningKey.generate()))  # signed by a key nobody trusts
    raws.append(raws[3])  # the same envelope again
    for _ in range(40):  # byte-level mutants of heartbeats step 0 would take
        raw = bytearray(rng.choice(raws[:24]))
        at = rng.randrange(len(raw))
        action = rng.randrange(3)
        if action == 0:
            raw[at] ^= 1 << rng.randrange(8)
        elif action == 1:
            del raw[at : at + rng.randrange(1, 4)]
        else:
            raw[at:at] = bytes([rng.randrange(256)])
        raws.append(bytes(raw))
    for i, raw in enumerate(raws):
        (tmp_path / f"e{i:03d}.json").write_bytes(raw)
    node.trust.save(tmp_path / "trust.json")

    code = _VERIFY + "\n"
    runs = [
        json.loads(
            _python(
                code.replace("sys.argv[1]", repr(str(tmp_path))).replace(
                    "sys.argv[2]", repr(LATER.isoformat())
                ),
                pure=pure,
            )
        )
        for pure in (False, True)
    ]
    assert runs[0]["status"] == "compiled (mypyc)" and runs[1]["status"] == "pure Python (ATTEST_PURE=1)"
    assert runs[0]["singly"] == runs[1]["singly"]
    assert runs[0]["batch"] == runs[1]["batch"]
    assert {"affirming", "contraindicated"} <= {r["status"] for r in runs[0]["singly"]}
    assert sum(r["status"] == "affirming" for r in runs[0]["singly"]) >= 20  # the chain itself


def test_the_build_compiled_where_it_must() -> None:
    """``.ci/run`` sets ATTEST_REQUIRE_COMPILED=1: an edit that stops the build compiling must not pass as pure Python."""
    if os.environ.get("ATTEST_REQUIRE_COMPILED") != "1":
        pytest.skip(f"ATTEST_REQUIRE_COMPILED is not set; this run: {native.status()}")
    assert COMPILED, native.status()


def test_the_compiled_modules_type_check_as_the_build_reads_them(tmp_path: Path) -> None:
    """The build's mypy (setup.py's MYPY_CONFIG: the rest of the package as Any) accepts the compiled modules."""
    tree = ast.parse((REPO / "setup.py").read_text())
    config = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "MYPY_CONFIG" for t in n.targets)
    )
    (tmp_path / "mypy.ini").write_text(config)
    files = [str(Path(*name.split(".")).with_suffix(".py")) for name in native.COMPILED]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            *files,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
