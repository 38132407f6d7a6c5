"""Every file a CLI command reads, replaced by bad files of many shapes: a clear error, never a traceback.

The real entry point (``attest.cli.main.main``) runs in this process with ``ATTEST_DEBUG=1``,
so an unexpected exception escapes instead of becoming the "internal error" message, and the
test fails naming the command, the argument and the file. Each bad file must give the usage
exit code (2) with an ``error:`` line, except where a bad *envelope* is the input under test:
that is a verdict (3, contraindicated), never a pass.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attest.cli.main import main
from attest.hardware.simulated_cc import SimulatedCcBackend

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"
SITE, TENANT = str(EXAMPLES / "johor-dc2.json"), str(EXAMPLES / "tenant-example-robotics.json")


def _bad_files(root: Path, envelope: bytes) -> dict[str, str]:
    rng = random.Random(7)
    files = {
        "empty": b"",
        "random-bytes": bytes(rng.randrange(256) for _ in range(3000)),
        "not-utf8": b'{"a": "\xff\xfe"}',
        "json-null": b"null",
        "json-list": b"[]",
        "json-other-object": b'{"a": 1}',
        "json-infinity": b"1e999",
        "deep-list": b"[" * 100_000 + b"]" * 100_000,
        "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "5000-digit-number": b'{"x": ' + b"9" * 5000 + b"}",
        "toml-garbage": b"[[[a\n= = =\n",
        "nul-bytes": b"\x00" * 100,
        "pem-garbage": b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "truncated-envelope": envelope[:200],
        "csv-open-quote": b'name,site\n"x,\r\ny\n',
        "sqlite-header-only": b"SQLite format 3\x00" + b"\x00" * 200,
    }
    out = {"missing": ""}  # a fresh path per test (a command may create it)
    (root / "a-directory").mkdir()
    out["directory"] = str(root / "a-directory")
    for name, data in files.items():
        (root / name).write_bytes(data)
        (root / name).chmod(0o600)  # so that keys are refused for their content, not their mode
        out[name] = str(root / name)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A kept ``attest demo`` directory (keys, trust store, envelopes, vendor root, landmarks) and the bad files."""
    root = tmp_path_factory.mktemp("bad-files")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--keep", str(root / "demo")]) == 0
    d = root / "demo"
    bad_dir = root / "bad"
    bad_dir.mkdir()
    envelope = d / "jhb-gpu-01-0.envelope.json"
    from joserfc.jwk import ECKey

    (d / "jwks.json").write_text(json.dumps({"keys": [ECKey.generate_key("P-384", parameters={"kid": "k"}).as_dict(private=False)]}))
    return {
        "d": d,
        "out": root / "out",
        "env": str(envelope),
        "key": str(d / "nodes" / "jhb-gpu-01" / "attest.key"),
        "pub": str(d / "nodes" / "jhb-gpu-01" / "attest.pub"),
        "trust": str(d / "trust.json"),
        "root": str(d / "sim-vendor" / "root.pem"),
        "upper": str(d / "sim-vendor" / "upper.pem"),
        "rimroot": str(d / "sim-vendor" / "rim_root.pem"),
        "jwks": str(d / "jwks.json"),
        "rootpin": SimulatedCcBackend(d / "sim-vendor").root_sha256,
        "rimpin": SimulatedCcBackend(d / "sim-vendor").rim_root_sha256,
        "bad": _bad_files(bad_dir, envelope.read_bytes()),
    }


# (argv, with X the argument under test; codes a bad file may give)
USAGE = {2}
VERDICT = {2, 3}
CREATED = {0}  # a missing file is created: only "missing" may give 0
CASES: list[tuple[list[str], set[int]]] = [
    (["verify", "X", "--trust", "{trust}"], VERDICT),
    (["verify", "{env}", "--trust", "X"], USAGE),
    (["verify", "{env}", "--trust", "{trust}", "--policy", "X"], USAGE),
    (["verify", "{env}", "--trust", "{trust}", "--landmarks", "X"], USAGE),
    (["verify", "{env}", "--trust", "{trust}", "--cc-root", "X"], USAGE),
    (["trust", "add", "X", "--trust", "{out}/trust-new.json"], USAGE),
    (["trust", "add", "{pub}", "--trust", "X"], USAGE | CREATED),
    (["trust", "list", "--trust", "X"], USAGE),
    (["trust", "revoke", "ab" * 32, "--trust", "X"], USAGE | CREATED),
    (["policy", "check", "X"], USAGE),
    (["policy", "show", "X"], USAGE),
    (["policy", "explain", "X", "--trust", "{trust}"], USAGE),
    (["policy", "explain", "{env}", "--trust", "{trust}", "--policy", "X"], USAGE),
    (["screen", "Acme Ltd", "--list", "X"], USAGE),
    (["lists", "import", "X", "--lists-dir", "{out}/lists"], USAGE),
    (["gpu", "verify-report", "--report", "X", "--chain", "{upper}", "--root", "{root}"], VERDICT),
    (["gpu", "verify-report", "--report", "00", "--chain", "X", "--root", "{root}"], USAGE),
    (["gpu", "verify-report", "--report", "00", "--chain", "{upper}", "--root", "X"], USAGE),
    (["gpu", "verify-report", "--nvattest", "X", "--root", "{root}"], USAGE),
    (["gpu", "verify-token", "X", "--jwks", "{jwks}"], VERDICT),
    (["gpu", "verify-token", "{env}", "--jwks", "X"], USAGE),
    (["verify", "{env}", "--trust", "{trust}", "--cc-root", "{root}", "--cc-root-sha256", "{rootpin}", "--rims", "X",
      "--rim-root", "{rimroot}", "--rim-root-sha256", "{rimpin}"], USAGE | {1}),  # an empty directory: RIMs missing
    (["verify", "{env}", "--trust", "{trust}", "--rims", "{d}/rims", "--rim-root", "X"], USAGE),
    (["verify", "{env}", "--trust", "{trust}", "--nras-jwks", "X"], USAGE),
    (["bind", "--pub", "{pub}", "--nvattest", "X", "--simulate", "h100"], USAGE),
    (["location", "check", "{env}", "--landmarks", "X", "--trust", "{trust}"], USAGE),
    (["location", "check", "X", "--landmarks", "{d}/landmarks.json"], VERDICT),
    (["admit", "--tenant", "X", "--evidence", "{d}", "--trust", "{trust}"], USAGE),
    (["admit", "--tenant", TENANT, "--evidence", "X", "--trust", "{trust}"], VERDICT),
    (["admit", "--tenant-map", "X", "--account", "x", "--evidence", "{d}", "--trust", "{trust}"], VERDICT),  # a map without the account: refused
    (["log", "append", "--log", "X", "{env}"], USAGE),
    (["log", "verify", "--log", "X"], USAGE),
    (["log", "proof", "--log", "X", "--inclusion", "0"], USAGE),
    (["log", "checkpoint", "--log", "X", "--key", "{key}"], USAGE),
    (["log", "init", "--log", "{out}/new.db", "--origin", "x.example/log", "--key", "X"], USAGE),
    (["audit", "X", "--trust", "{trust}"], USAGE),
    (["audit", "{d}", "--trust", "{trust}", "--registry", "X"], USAGE),
    (["audit", "{d}", "--trust", "{trust}", "--landmarks", "X"], USAGE),
    (["sign", "--key", "{key}", "X", "-o", "{out}/signed.json"], USAGE),
    (["sign", "--key", "X", SITE, "-o", "{out}/signed.json"], USAGE),
    (["manifest", "--site", "X", "--tenant", TENANT, "--job-id", "j", "--operator", "Op", "--pub", "{pub}", "--simulate", "h100"], USAGE),
    (["manifest", "--site", SITE, "--tenant", "X", "--job-id", "j", "--operator", "Op", "--pub", "{pub}", "--simulate", "h100"], USAGE),
    (["manifest", "--site", SITE, "--tenant", TENANT, "--job-id", "j", "--operator", "Op", "--pub", "X", "--simulate", "h100"], USAGE),
    (["collect", "--simulate", "X"], USAGE),
    (["locate", "--landmarks", "X", "--key", "{key}", "--nonce", "ab" * 16], USAGE),
    (["daemon", "--config", "X"], USAGE),
    (["collector", "serve", "--log", "X", "--trust", "{trust}", "--listen", "127.0.0.1:1"], USAGE),
    (["collector", "serve", "--log", "{out}/c.db", "--trust", "X", "--listen", "127.0.0.1:1"], USAGE),
    (["landmark", "serve", "--key", "X", "--id", "x", "--lat", "1", "--lon", "2", "--bind", "127.0.0.1:1"], USAGE),
]

@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """A command that accepted a bad file and went on to serve would hang: fail it instead."""

    def expired(*_: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # has .buffer, like sys.stdout
    err = io.StringIO()
    with _deadline(60), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, err.getvalue()


def _case_id(template: list[str]) -> str:
    return " ".join(Path(a).name if a.startswith("/") else a[:12] for a in template)


@pytest.mark.parametrize(("template", "allowed"), CASES, ids=[_case_id(c[0]) for c in CASES])
def test_bad_file_gives_a_clear_error(
    template: list[str], allowed: set[int], demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ATTEST_DEBUG", "1")  # an unexpected exception escapes main()
    monkeypatch.setenv("CI", "1")
    demo["out"].mkdir(exist_ok=True)
    fields = {k: str(v) for k, v in demo.items() if k != "bad"}
    failures = []
    for name, path in demo["bad"].items():
        path = path or str(tmp_path / "does-not-exist")
        argv = [path if a == "X" else a.format(**fields) for a in template]
        try:
            code, err = _run(argv)
        except BaseException as exc:  # every escape is the failure under test
            failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if code not in allowed or (code == 0 and name != "missing"):
            failures.append(f"{name}: exit {code} (allowed {sorted(allowed)}); stderr {err[:200]!r}")
        elif code == 2 and "error" not in err:
            failures.append(f"{name}: exit 2 without an error message")
    assert not failures, "\n".join(failures)
