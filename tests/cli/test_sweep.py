"""The sweep: every verb of the real ``attest`` command, run as a subprocess, given bad inputs.

The verbs are enumerated from the argparse parser itself, so a new verb fails
``test_every_verb_is_swept`` until it has a row here (or a reason it has no input to sweep).
Each row names one input of the verb (``X``) and, for verbs that write a file, one output
(``O``). Every input is replaced in turn by a missing path, a directory, an empty file,
garbage, a 50 MB file and an unreadable file (as a non-root user); every output by a
directory, a path in no directory and a read-only directory. Each run must end with the
documented exit code (2 usage or unreadable input; 3 where the input is a verdict's subject),
an ``error`` line on stderr for exit 2, and never "Traceback" nor "internal error".

Each run is a process of its own with its own stdin, stdout and stderr. One run of each verb is
a fresh ``python -m attest.cli.main``; the others are forks of a process that has imported the
CLI once and then calls the same ``main()`` (hundreds of interpreter start-ups would take ten
minutes on a loaded CI machine; this takes two). As root, the unreadable and read-only runs
drop to the user 'nobody', to whom the other inputs belong.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import attest
from attest.cli.main import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sites"
SITE, TENANT = str(EXAMPLES / "johor-dc2.json"), str(EXAMPLES / "tenant-example-robotics.json")
NONCE = "ab" * 16

USAGE = frozenset({2})
VERDICT = frozenset({2, 3})  # a bad envelope is judged contraindicated, not refused
INPUT_KINDS = ("missing", "directory", "empty", "garbage", "50MB", "unreadable")
OUTPUT_KINDS = ("out-directory", "out-no-parent", "out-readonly")


@dataclass(frozen=True)
class Row:
    """One input (``X``) or output (``O``) of one verb, and what a bad one may give."""

    argv: tuple[str, ...]
    codes: frozenset[int] = USAGE
    ok: frozenset[str] = frozenset()  # kinds that are good input for this argument (exit 0 allowed)
    kinds: tuple[str, ...] = field(default=())


def r(*argv: str, codes: frozenset[int] = USAGE, ok: tuple[str, ...] = (), directory: bool = False) -> Row:
    """A row; the kinds follow from whether it has an ``X`` or an ``O`` (and ``X`` is a directory)."""
    kinds = INPUT_KINDS if "X" in argv else OUTPUT_KINDS
    if directory:  # an input that is a directory: also one that cannot be listed
        kinds = (*kinds, "unreadable-dir")
    return Row(argv, codes, frozenset(ok), kinds)


# Verb -> rows. {name} fields come from the demo directory (see the fixture).
SWEEP: dict[str, list[Row]] = {
    "keygen": [
        r("keygen", "-o", "X", ok=("missing", "directory")),
        r("keygen", "-o", "O", ok=("out-directory", "out-no-parent")),  # a directory is what it writes into
    ],
    "collect": [r("collect", "--simulate", "X"), r("collect", "--simulate", "h100", "-o", "O")],
    "bind": [
        r("bind", "--pub", "{pub}", "--simulate", "h100", "--nvattest", "X"),
        r("bind", "--pub", "X", "--simulate", "h100", "--cc-sim", "{d}/sim-vendor"),
        r("bind", "--pub", "{pub}", "--simulate", "h100", "--cc-sim", "{d}/sim-vendor", "-o", "O"),
    ],
    "challenge issue": [
        r("challenge", "issue", "--key", "X"),
        r("challenge", "issue", "--key", "{chkey}", "-o", "O"),
    ],
    "manifest": [
        r(
            "manifest",
            "--site",
            "X",
            "--tenant",
            TENANT,
            "--job-id",
            "j",
            "--operator",
            "Op",
            "--pub",
            "{pub}",
            "--simulate",
            "h100",
        ),
        r(
            "manifest",
            "--site",
            SITE,
            "--tenant",
            TENANT,
            "--job-id",
            "j",
            "--operator",
            "Op",
            "--pub",
            "{pub}",
            "--simulate",
            "h100",
            "--receipts",
            "X",
        ),
        r(
            "manifest",
            "--site",
            SITE,
            "--tenant",
            TENANT,
            "--job-id",
            "j",
            "--operator",
            "Op",
            "--pub",
            "{pub}",
            "--simulate",
            "h100",
            "-o",
            "O",
        ),
    ],
    "sign": [
        r("sign", "X", "--key", "{key}"),
        r("sign", "{manifest}", "--key", "X"),
        r("sign", "{manifest}", "--key", "{key}", "-o", "O"),
    ],
    "verify": [
        r("verify", "X", "--trust", "{trust}", codes=VERDICT),
        r("verify", "{env}", "--trust", "X"),
        # An empty file is an empty SQLite database: a state to start from.
        r("verify", "{env}", "--trust", "{trust}", "--state", "X", codes=VERDICT, ok=("missing", "empty")),
        r("verify", "{env}", "--trust", "{trust}", "--landmarks", "{d}/landmarks.json", "--map", "O"),
        r("verify", "{env}", "--trust", "{trust}", "--log", "X"),
    ],
    "inspect": [r("inspect", "X"), r("inspect", "{env}", "--trust", "X")],
    "trust add": [
        r("trust", "add", "X", "--trust", "{out}/t-new.json"),
        r("trust", "add", "{pub}", "--trust", "X", ok=("missing",)),
        r("trust", "add", "{pub}", "--trust", "O"),
    ],
    "trust list": [r("trust", "list", "--trust", "X")],
    "trust revoke": [
        r("trust", "revoke", "ab" * 32, "--trust", "X", ok=("missing",)),
        r("trust", "revoke", "ab" * 32, "--trust", "O"),
    ],
    "policy show": [r("policy", "show", "X")],
    "policy check": [r("policy", "check", "X")],
    "policy explain": [
        r("policy", "explain", "X", "--trust", "{trust}"),
        r("policy", "explain", "{env}", "--trust", "{trust}", "--policy", "X"),
    ],
    "screen": [
        r("screen", "Acme Ltd", "--list", "X"),
        r("screen", "Acme Ltd", "--lists-dir", "X", ok=("missing", "directory"), directory=True),
    ],
    "lists status": [r("lists", "status", "--lists-dir", "X", ok=("missing", "directory"), directory=True)],
    "lists import": [
        r("lists", "import", "X", "--lists-dir", "{out}/lists"),
        r("lists", "import", "{csv}", "--lists-dir", "X", ok=("missing", "directory")),
    ],
    # No network in CI: the download fails first, and must say so.
    "lists update": [r("lists", "update", "--url", "http://127.0.0.1:9/", "--lists-dir", "X")],
    "lists show": [
        r("lists", "show", "seed", "--lists-dir", "X", ok=("missing", "directory"), directory=True)
    ],
    "gpu verify-report": [
        r("gpu", "verify-report", "--report", "X", "--chain", "{upper}", "--root", "{root}", codes=VERDICT),
        r("gpu", "verify-report", "--report", "00", "--chain", "X", "--root", "{root}"),
        r("gpu", "verify-report", "--nvattest", "X", "--root", "{root}"),
    ],
    "gpu verify-token": [
        r("gpu", "verify-token", "X", "--jwks", "{jwks}", codes=VERDICT),
        r("gpu", "verify-token", "{env}", "--jwks", "X"),
    ],
    "gpu time-report": [
        r(
            "gpu",
            "time-report",
            "--simulate",
            "h100",
            "--rounds",
            "1",
            "--cc-sim",
            "X",
            ok=("missing", "directory"),
        )
    ],
    "gpu revoke": [r("gpu", "revoke", "GPU-00000000-0000-0000-0000-000000000000", "--cc-sim", "X")],
    "gpu ocsp-serve": [r("gpu", "ocsp-serve", "--cc-sim", "X", "--listen", "127.0.0.1:0")],
    "chips show": [r("chips", "show", "X")],
    "chips classify": [r("chips", "classify", "--name", "X")],
    "landmark serve": [
        r(
            "landmark",
            "serve",
            "--key",
            "X",
            "--id",
            "x",
            "--lat",
            "1",
            "--lon",
            "2",
            "--listen",
            "127.0.0.1:0",
        )
    ],
    "landmark registry add": [
        r(
            "landmark",
            "registry",
            "add",
            "--registry",
            "{out}/reg.json",
            "--id",
            "a",
            "--lat",
            "1",
            "--lon",
            "2",
            "--key",
            "X",
            "--operator",
            "A",
        ),
        r(
            "landmark",
            "registry",
            "add",
            "--registry",
            "X",
            "--id",
            "a",
            "--lat",
            "1",
            "--lon",
            "2",
            "--key",
            "{chpub}",
            "--operator",
            "A",
            ok=("missing",),
        ),
        r(
            "landmark",
            "registry",
            "add",
            "--registry",
            "O",
            "--id",
            "a",
            "--lat",
            "1",
            "--lon",
            "2",
            "--key",
            "{chpub}",
            "--operator",
            "A",
        ),
    ],
    "locate": [
        r("locate", "--landmarks", "X", "--key", "{key}", "--nonce", NONCE),
        r("locate", "--landmarks", "{d}/landmarks.json", "--key", "X", "--nonce", NONCE),
        r("locate", "--landmarks", "{d}/landmarks.json", "--key", "{key}", "--nonce", NONCE, "-o", "O"),
    ],
    "location check": [
        r("location", "check", "X", "--landmarks", "{d}/landmarks.json", codes=VERDICT),
        r("location", "check", "{env}", "--landmarks", "X", "--trust", "{trust}"),
        r(
            "location",
            "check",
            "{env}",
            "--landmarks",
            "{d}/landmarks.json",
            "--trust",
            "{trust}",
            "--map",
            "O",
        ),
    ],
    "location region": [
        r("location", "region", "--disk", "X", "--prohibited", "CN"),
        r("location", "region", "--disk", "1.29,103.85,9.5", "--prohibited", "CN", "--map", "O"),
    ],
    "location simulate": [r("location", "simulate", "--site", "X", "--trials", "1")],
    "daemon sign-job": [
        r("daemon", "sign-job", "--phase", "start", "--config", "X"),
        r("daemon", "sign-job", "--phase", "start", "--tenant", "X", "--socket", "{out}/no.sock"),
        r(
            "daemon",
            "sign-job",
            "--phase",
            "start",
            "--tenant",
            TENANT,
            "--socket",
            "{out}/no.sock",
            "-o",
            "O",
        ),
    ],
    "daemon status": [r("daemon", "status", "--config", "X")],
    "daemon inventory": [r("daemon", "inventory", "--config", "X")],
    "daemon heartbeat": [r("daemon", "heartbeat", "--config", "X")],
    "daemon last": [r("daemon", "last", "--config", "X")],
    "admit": [
        r("admit", "--tenant", "X", "--evidence", "{d}", "--trust", "{trust}"),
        r("admit", "--tenant", TENANT, "--evidence", "{d}", "--trust", "X"),
        r(
            "admit",
            "--tenant",
            TENANT,
            "--evidence",
            "X",
            "--trust",
            "{trust}",
            codes=VERDICT,
            directory=True,
        ),
    ],
    "quarantine list": [r("quarantine", "list", "--record", "X", ok=("missing", "empty"))],  # no event yet
    "quarantine clear": [r("quarantine", "clear", "h", "--record", "X", "--by", "me", "--reason", "r")],
    "webhook serve": [
        r(
            "webhook",
            "serve",
            "--tenants",
            "X",
            "--evidence",
            "{d}",
            "--trust",
            "{trust}",
            "--listen",
            "127.0.0.1:0",
        )
    ],
    "log init": [
        r("log", "init", "--log", "{out}/new.db", "--origin", "x.example/log", "--key", "X"),
        r("log", "init", "--log", "O", "--origin", "x.example/log", "--key", "{key}", ok=("out-no-parent",)),
    ],
    # A file that is no envelope (empty, garbage, oversized) is refused whole: nothing is appended.
    "log append": [
        r("log", "append", "--log", "X", "{env}"),
        r("log", "append", "--log", "{log}", "X"),
    ],
    "log checkpoint": [r("log", "checkpoint", "--log", "X", "--key", "{key}")],
    "log proof": [r("log", "proof", "--log", "X", "--inclusion", "0")],
    "log verify": [r("log", "verify", "--log", "X")],
    "log monitor": [r("log", "monitor", "--log", "X", "--key", "{pub}", "--state", "{out}/monitor.json")],
    "log rejudge": [r("log", "rejudge", "--log", "X", "--trust", "{trust}")],
    "log index-evidence": [r("log", "index-evidence", "--log", "X")],
    "log witness serve": [
        r(
            "log",
            "witness",
            "serve",
            "--name",
            "w",
            "--key",
            "X",
            "--log-key",
            "{pub}",
            "--state",
            "{out}/w.db",
            "--listen",
            "127.0.0.1:0",
        )
    ],
    "collector serve": [
        r("collector", "serve", "--log", "X", "--trust", "{trust}", "--listen", "127.0.0.1:1"),
        r("collector", "serve", "--log", "{out}/c.db", "--trust", "X", "--listen", "127.0.0.1:1"),
    ],
    "audit": [
        r("audit", "X", "--trust", "{trust}", directory=True),
        r("audit", "{d}", "--trust", "X"),
        r("audit", "{d}", "--trust", "{trust}", "--report", "O"),
        r("audit", "{d}", "--trust", "{trust}", "--evidence-log", "X"),
    ],
}

# Verbs with no file to sweep, and why (each is still covered by its own tests).
NO_INPUT = {
    "chips list": "takes no input",
    "demo": "makes its own inputs; --keep DIR is swept below as an output",
}
SWEEP["demo"] = [Row(("demo", "--keep", "O"), USAGE, frozenset(), ("out-file",))]


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path)
    for action in subs:
        for name, sub in action.choices.items():
            yield from _leaves(sub, (*path, name))


def test_every_verb_is_swept() -> None:
    verbs = set(_leaves(build_parser()))
    missing = verbs - set(SWEEP) - set(NO_INPUT)
    assert not missing, (
        f"verbs with no sweep row (add one to SWEEP, or a reason to NO_INPUT): {sorted(missing)}"
    )
    assert not set(SWEEP) - verbs, f"rows for verbs that do not exist: {sorted(set(SWEEP) - verbs)}"


@dataclass
class Sandbox:
    """The demo directory and how the CLI is run (as 'nobody' for the unprivileged kinds when root)."""

    root: Path
    fields: dict[str, str]
    nobody: bool  # root: the unreadable/read-only rows run as 'nobody'


def _cli(*argv: str, codes: tuple[int, ...] = (0,)) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "attest.cli.main", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in codes, (argv, proc.returncode, proc.stderr[-2000:])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # A world-readable place (pytest's tmp dirs are 0700), so that 'nobody' can reach it.
    root = Path(tempfile.mkdtemp(prefix="attest-sweep-"))
    root.chmod(0o755)
    try:
        demo, out = root / "demo", root / "out"
        # The demo's files are the inputs; on a loaded machine its timed landmark case may come out
        # key-measured instead of measured (exit 1), which changes none of them.
        _cli("demo", "--keep", str(demo), codes=(0, 1))
        assert (demo / "trust.json").is_file() and (demo / "jhb-gpu-01-0.envelope.json").is_file()
        out.mkdir()
        (demo / "reg.csv").write_text("name,list\nAcme Ltd,x\n")
        node = demo / "nodes" / "jhb-gpu-01"
        _cli(
            "log",
            "init",
            "--log",
            str(out / "log.db"),
            "--origin",
            "x.example/log",
            "--key",
            str(node / "attest.key"),
        )
        manifest = out / "m.json"
        _cli(
            "manifest",
            "--site",
            SITE,
            "--tenant",
            TENANT,
            "--job-id",
            "j",
            "--operator",
            "Op",
            "--pub",
            str(node / "attest.pub"),
            "--simulate",
            "h100",
            "-o",
            str(manifest),
        )
        from joserfc.jwk import ECKey

        jwks = ECKey.generate_key("P-384", parameters={"kid": "k"}).as_dict(private=False)
        (demo / "jwks.json").write_text(json.dumps({"keys": [jwks]}))
        fields = {
            "d": str(demo),
            "env": str(demo / "jhb-gpu-01-0.envelope.json"),
            "key": str(node / "attest.key"),
            "pub": str(node / "attest.pub"),
            "chkey": str(demo / "challenger" / "attest.key"),
            "chpub": str(demo / "challenger" / "attest.pub"),
            "trust": str(demo / "trust.json"),
            "root": str(demo / "sim-vendor" / "root.pem"),
            "upper": str(demo / "sim-vendor" / "upper.pem"),
            "jwks": str(demo / "jwks.json"),
            "manifest": str(manifest),
            "log": str(out / "log.db"),
            "csv": str(demo / "reg.csv"),
        }
        root_user = os.geteuid() == 0
        if (
            root_user
        ):  # 'nobody' owns the inputs (keys stay 0600), so that only the file under test is unreadable
            for p in [root, *root.rglob("*")]:
                os.chown(p, 65534, 65534, follow_symlinks=False)
        yield Sandbox(root, fields, root_user)
    finally:
        for p in root.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o700)
        shutil.rmtree(root, ignore_errors=True)


def _make_bad(kind: str, where: Path) -> str:
    """A fresh bad input or output of this kind in ``where`` (a run's own directory)."""
    if kind == "missing":
        return str(where / "does-not-exist")
    if kind in ("directory", "out-directory"):
        (where / "a-directory").mkdir()
        return str(where / "a-directory")
    if kind == "unreadable-dir":  # holds an envelope-looking file nobody may list or open
        (where / "unreadable-dir").mkdir()
        (where / "unreadable-dir" / "x.json").write_text("{}")
        (where / "unreadable-dir").chmod(0o000)
        return str(where / "unreadable-dir")
    if kind == "out-no-parent":
        return str(where / "no-such-dir" / "out.json")
    if kind == "out-readonly":
        (where / "readonly").mkdir(mode=0o555)
        (where / "readonly").chmod(0o555)
        return str(where / "readonly" / "out.json")
    path = where / kind
    with path.open("wb") as fh:
        if kind in ("garbage", "out-file"):
            fh.write(b'{"\xff\x00 not json ]]' + bytes(range(256)) * 8)
        elif kind == "50MB":  # sparse: 50 MB that starts like JSON, written in no time
            fh.write(b'{"payload": "')
            fh.truncate(50 * 1024 * 1024)
        elif kind == "unreadable":
            fh.write(b'{"a": 1}\n')
    path.chmod(0o000 if kind == "unreadable" else 0o644)
    return str(path)


def _jobs(sandbox: Sandbox, kinds: set[str]) -> list[tuple[str, str, Row, dict[str, Any]]]:
    """(verb, kind, row, job) for every run: each in its own directory, with its own bad file."""
    jobs = []
    n = 0
    for verb, rows in SWEEP.items():
        first = True
        for row in rows:
            for kind in row.kinds:
                if kind not in kinds:
                    continue
                n += 1
                where = sandbox.root / "runs" / "-".join(sorted(kinds)) / str(n)
                where.mkdir(parents=True)
                target = _make_bad(kind, where)
                slot = "X" if "X" in row.argv else "O"
                fields = dict(sandbox.fields, out=str(where))
                argv = [target if a == slot else a.format(**fields) for a in row.argv]
                unprivileged = kind in ("unreadable", "unreadable-dir", "out-readonly") and sandbox.nobody
                if sandbox.nobody:
                    for p in [where, *where.rglob("*")]:
                        if p.name not in ("unreadable", "unreadable-dir", "readonly"):
                            os.chown(p, 65534, 65534)
                # One run of each verb goes through a fresh `python -m attest.cli.main`, the others
                # through a fork of a process that has already imported the CLI (the same main()).
                cold = first and kind == "garbage"
                first = first and not cold
                jobs.append(
                    (verb, kind, row, {"argv": argv, "cwd": str(where), "nobody": unprivileged, "cold": cold})
                )
    return jobs


# Forks one child per job from an interpreter that has imported the whole CLI: each child is a
# process of its own with its own stdin/stdout/stderr, running the real entry point, main().
RUNNER = r"""
import json, os, signal, sys, time, traceback
import importlib, pkgutil
import attest
import encodings.idna, encodings.latin_1, encodings.utf_8_sig  # 'nobody' may not read this Python's files
from attest.cli.main import build_parser, main
build_parser()
for m in pkgutil.walk_packages(attest.__path__, "attest."):  # lazily imported modules too ('nobody' cannot read them)
    try:
        importlib.import_module(m.name)
    except Exception:
        pass
parallel, timeout = int(sys.argv[1]), float(sys.argv[2])
jobs = [json.loads(line) for line in sys.stdin]
running, results = {}, {}
env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
env["CI"] = "1"
def start(i, job):
    out, err = os.path.join(job["cwd"], ".stdout"), os.path.join(job["cwd"], ".stderr")
    sys.stdout.flush(); sys.stderr.flush()
    pid = os.fork()
    if pid:
        running[pid] = (i, time.monotonic(), out, err)
        return
    try:
        os.chdir(job["cwd"])
        fd_in = os.open(os.devnull, os.O_RDONLY)
        fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd_in, 0); os.dup2(fd_out, 1); os.dup2(fd_err, 2)
        os.environ.clear(); os.environ.update(env)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if job["nobody"]:
            os.environ["HOME"] = job["cwd"]  # not root's: its files are not 'nobody's to read
            os.setgroups([]); os.setgid(65534); os.setuid(65534)
        try:
            code = main(job["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(70)
pending = list(enumerate(jobs))
while pending or running:
    while pending and len(running) < parallel:
        start(*pending.pop(0))
    pid, status = os.waitpid(-1, os.WNOHANG)
    if pid == 0:
        now = time.monotonic()
        for p, (i, began, out, err) in list(running.items()):
            if now - began > timeout:
                os.kill(p, signal.SIGKILL)
                os.waitpid(p, 0)
                del running[p]
                results[i] = (-1, "", f"TIMEOUT: still running after {timeout:.0f} s (served a bad input?)")
        time.sleep(0.005)
        continue
    i, _, out, err = running.pop(pid)
    code = os.waitstatus_to_exitcode(status)
    with open(out, errors="replace") as o, open(err, errors="replace") as e:
        results[i] = (code, o.read()[-2000:], e.read()[-4000:])
print(json.dumps([results[i] for i in range(len(jobs))]))
"""


def _run_cold(job: dict[str, Any]) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ATTEST_DEBUG"}
    env["CI"] = "1"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "attest.cli.main", *job["argv"]],
            cwd=job["cwd"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "", "TIMEOUT: still running after 90 s (served a bad input?)"
    return proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:]


def _judge(verb: str, kind: str, row: Row, argv: list[str], code: int, err: str) -> str | None:
    """What is wrong with this run, or None."""
    where = f"{verb} [{kind}] attest {' '.join(argv)}"
    if "Traceback" in err or "internal error" in err or "TIMEOUT" in err:
        return f"{where}: {err.strip()[-300:]}"
    allowed = row.codes | ({0} if kind in row.ok else set())
    if code not in allowed:
        return f"{where}: exit {code}, allowed {sorted(allowed)}; stderr {err.strip()[-200:]!r}"
    if code == 2 and "error" not in err:
        return f"{where}: exit 2 without an error line: {err.strip()[-200:]!r}"
    return None


def _sweep(sandbox: Sandbox, kinds: set[str]) -> None:
    if sandbox.nobody:  # what earlier runs made in the demo (a vendor's new devices) is 'nobody's too
        for p in [sandbox.root / "demo", *(sandbox.root / "demo").rglob("*")]:
            os.chown(p, 65534, 65534, follow_symlinks=False)
    jobs = _jobs(sandbox, kinds)
    warm = [j for _, _, _, j in jobs if not j["cold"]]
    parallel = max(2, min(8, 2 * (os.cpu_count() or 1)))
    with ThreadPoolExecutor(2) as pool:  # the cold runs beside the forks
        cold = pool.map(_run_cold, [j for _, _, _, j in jobs if j["cold"]])
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, str(parallel), "90"],
            input="".join(json.dumps(j) + "\n" for j in warm),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        cold_results = list(cold)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warm_results = iter(json.loads(proc.stdout))
    cold_iter = iter(cold_results)
    problems = []
    for verb, kind, row, job in jobs:
        code, _, err = next(cold_iter) if job["cold"] else next(warm_results)
        problem = _judge(verb, kind, row, job["argv"], code, err)
        if problem:
            problems.append(problem)
    assert not problems, f"{len(problems)} of {len(jobs)} runs:\n" + "\n".join(problems)


def test_sweep_every_verb_with_bad_inputs(sandbox: Sandbox) -> None:
    """Missing, directory, empty, garbage, 50 MB inputs; directory, file and no-directory outputs."""
    _sweep(
        sandbox,
        {"missing", "directory", "empty", "garbage", "50MB", "out-directory", "out-file", "out-no-parent"},
    )


def test_sweep_unreadable_inputs_and_read_only_outputs(sandbox: Sandbox) -> None:
    """An unreadable input file or directory, and an output in a read-only directory, as a user whom modes bind."""
    # As root, the forked runs drop to 'nobody' (the CLI is already imported, so 'nobody' need
    # not be able to read this Python's files); the inputs are 'nobody's but the file under test.
    # The package's data (the bundled policy, the chip catalog) is read when a command needs it, so
    # 'nobody' must be able to enter the checkout: not one cloned under `mktemp -d` (mode 0700).
    if sandbox.nobody:
        shut = [p for p in Path(attest.__file__).resolve().parents if not p.stat().st_mode & 0o001]
        if shut:
            pytest.skip(f"'nobody' cannot enter {shut[0]} (mode {shut[0].stat().st_mode & 0o777:o}), which holds the checkout")
    _sweep(sandbox, {"unreadable", "unreadable-dir", "out-readonly"})
