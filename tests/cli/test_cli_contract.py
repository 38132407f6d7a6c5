"""The command line's contract, issue 21 part B: inputs refused when given, one name per flag,
``--format json`` on every verb, and what used to be internal errors said in one line."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest

from attest.cli.main import build_parser
from attest.crypto.keys import SigningKey
from attest.location.landmark import LandmarkServer
from tests.conftest import CLI_OPERATOR, CliRunner, make_envelope

# Servers print one JSON line when they listen and log as they serve: no report to format.
SERVERS = {"gpu ocsp-serve", "landmark serve", "webhook serve", "log witness serve", "collector serve"}
NONCE = "ab" * 16


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(" ".join(path), parser)]
    return [leaf for a in subs for name, sub in a.choices.items() for leaf in _leaves(sub, (*path, name))]


def test_every_verb_has_format_json() -> None:
    leaves = _leaves(build_parser())
    assert len(leaves) > 50
    missing = []
    for verb, parser in leaves:
        fmt = [a for a in parser._actions if "--format" in a.option_strings]
        if verb in SERVERS:
            continue
        if not fmt or "json" not in (fmt[0].choices or ()):
            missing.append(verb)
    assert not missing, f"verbs without --format json: {missing}"


def test_old_flag_spellings_work_but_are_hidden(cli: CliRunner, tmp_path: Path) -> None:
    assert (
        "--out " not in cli("keygen", "--help", check_code=0).stdout
        and "--out DIR" not in cli("keygen", "--help").stdout
    )
    assert "-o DIR, --output DIR" in cli("keygen", "--help", check_code=0).stdout
    cli("keygen", "--out", "old", check_code=0)
    new = json.loads(cli("keygen", "-o", "new", "--format", "json", check_code=0).stdout)
    assert Path(new["private_key"]).parent.name == "new" and (tmp_path / "old" / "attest.key").exists()
    assert "-o/--output DIR is required" in cli("keygen", check_code=2).stderr
    serve = cli("landmark", "serve", "--help", check_code=0).stdout
    assert "--listen" in serve and "--bind" not in serve
    report = cli("gpu", "verify-report", "--help", check_code=0).stdout
    assert "--cc-root PEM" in report and "--cc-root-sha256" in report and "--root " not in report
    assert (
        "--cc-root PEM is required"
        in cli("gpu", "verify-report", "--report", "x", "--chain", "y", check_code=2).stderr
    )
    audit = cli("audit", "--help", check_code=0).stdout
    assert "--log PATH_OR_URL" in audit
    assert "give what to audit once" in cli("audit", "a", "--log", "b", "--trust", "t", check_code=2).stderr


def test_manifest_refuses_what_verify_would(workspace: Path, cli: CliRunner) -> None:
    base = [
        "manifest",
        "--site",
        "site.json",
        "--tenant",
        "tenant.json",
        "--job-id",
        "j",
        "--key",
        "node/attest.key",
        "--simulate",
        "h100",
    ]
    out = cli(*base, "--operator", CLI_OPERATOR, "--valid-for", "999999", check_code=2)
    assert "--valid-for 999999: must be between 1 and 86400" in out.stderr
    assert "--operator" in cli(*base, check_code=2).stderr  # no silent use of the site's name
    assert "--operator is empty" in cli(*base, "--operator", " ", check_code=2).stderr
    out = cli(*base, "--operator", CLI_OPERATOR, "--nonce", "xyz", check_code=2)
    assert "--nonce 'xyz' is not a nonce" in out.stderr and "[0-9a-f]" not in out.stderr
    # Upper-case hex is the same nonce, written as the manifest writes it.
    cli(*base, "--operator", CLI_OPERATOR, "--nonce", NONCE.upper(), "-o", "m.json", check_code=0)
    assert json.loads((workspace / "m.json").read_text())["freshness"]["nonce"] == NONCE
    assert json.loads((workspace / "m.json").read_text())["operator"]["name"] == CLI_OPERATOR


def test_documents_written_with_o_are_reported_in_either_format(workspace: Path, cli: CliRunner) -> None:
    base = [
        "manifest",
        "--site",
        "site.json",
        "--tenant",
        "tenant.json",
        "--job-id",
        "j7",
        "--operator",
        CLI_OPERATOR,
        "--key",
        "node/attest.key",
        "--simulate",
        "h100",
    ]
    doc = json.loads(cli(*base, "--format", "json", check_code=0).stdout)  # no -o: the manifest itself
    assert doc["job"]["id"] == "j7"
    obj = json.loads(cli(*base, "-o", "m.json", "--format", "json", check_code=0).stdout)
    assert obj["output"] == "m.json" and obj["job"] == "j7" and obj["sequence"] == 0
    assert cli(*base, "-o", "m2.json", check_code=0).stdout.startswith("wrote m2.json: job j7")
    obj = json.loads(
        cli(
            "sign", "m.json", "--key", "node/attest.key", "-o", "e.json", "--format", "json", check_code=0
        ).stdout
    )
    assert obj["output"] == "e.json" and len(obj["key_id"]) == 64


def test_log_init_prints_text_or_json(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "-o", "logkey", check_code=0)
    out = cli(
        "log",
        "init",
        "--log",
        "a.db",
        "--origin",
        "example.com/a",
        "--key",
        "logkey/attest.key",
        check_code=0,
    )
    assert out.stdout.startswith(
        "created log a.db\norigin        example.com/a\nverifier key  example.com/a+"
    )
    obj = json.loads(
        cli(
            "log",
            "init",
            "--log",
            "b.db",
            "--origin",
            "example.com/b",
            "--key",
            "logkey/attest.key",
            "--format",
            "json",
            check_code=0,
        ).stdout
    )
    assert obj["origin"] == "example.com/b" and obj["verifier_key"].startswith("example.com/b+")
    cp = json.loads(
        cli(
            "log",
            "checkpoint",
            "--log",
            "b.db",
            "--key",
            "logkey/attest.key",
            "--format",
            "json",
            check_code=0,
        ).stdout
    )
    assert (
        cp["origin"] == "example.com/b"
        and cp["size"] == 0
        and cp["checkpoint"].startswith("example.com/b\n0\n")
    )


def test_policy_and_lists_speak_json(workspace: Path, cli: CliRunner) -> None:
    obj = json.loads(cli("policy", "check", "us-ear", "--format", "json", check_code=0).stdout)
    assert obj["ok"] is True and obj["id"] == "us-ear" and obj["rules"] > 0
    make_envelope(cli)
    out = cli("policy", "explain", "m.env.json", "--trust", "trust.json", "--format", "json")
    obj = json.loads(out.stdout)
    assert obj["policy"]["id"] == "us-ear" and obj["status"] in ("affirming", "warning")
    assert obj["facts"]["tenant"]["legal_name"] == "Example Robotics Inc." and obj["findings"]
    (workspace / "l.csv").write_text("name,source\nAcme Ltd,Entity List\n")
    obj = json.loads(
        cli(
            "lists",
            "import",
            "l.csv",
            "--name",
            "mine",
            "--lists-dir",
            "lists",
            "--format",
            "json",
            check_code=0,
        ).stdout
    )
    assert obj["imported"] == 1 and obj["name"] == "mine" and obj["path"].endswith("mine.json")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
def test_chips_classify_refuses_numbers_that_are_not(cli: CliRunner, value: str) -> None:
    assert "is not a finite number" in cli("chips", "classify", "--tpp", value, check_code=2).stderr


def test_negative_tpp_and_die_area(cli: CliRunner) -> None:
    assert "--tpp must not be negative" in cli("chips", "classify", "--tpp", "-1", check_code=2).stderr


def test_southern_and_western_coordinates_parse(cli: CliRunner) -> None:
    spaced = cli(
        "location",
        "region",
        "--disk",
        "-6.2,106.8,9.5",
        "--prohibited",
        "CN",
        "--format",
        "json",
        check_code=0,
    ).stdout
    joined = cli(
        "location", "region", "--disk=-6.2,106.8,9.5", "--prohibited", "CN", "--format", "json", check_code=0
    ).stdout
    assert spaced == joined and json.loads(spaced)["disks"][0]["lat"] == -6.2
    west = json.loads(
        cli(
            "location",
            "region",
            "--disk",
            "-12.05,-77.04,3",
            "--prohibited",
            "CN",
            "--format",
            "json",
            check_code=0,
        ).stdout
    )
    assert west["disks"][0]["lon"] == -77.04 and west["excluded"] is True


def test_outputs_that_cannot_be_files_are_refused_before_the_work(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    (workspace / "adir").mkdir()
    for argv in (
        ["sign", "m.json", "--key", "node/attest.key", "-o", "adir"],
        ["collect", "--simulate", "h100", "-o", "adir"],
        [
            "manifest",
            "--site",
            "site.json",
            "--tenant",
            "tenant.json",
            "--job-id",
            "j",
            "--operator",
            "Op",
            "--key",
            "node/attest.key",
            "--simulate",
            "h100",
            "-o",
            "adir",
        ],
        ["audit", ".", "--glob", "m.env.json", "--trust", "trust.json", "--report", "adir"],
        ["location", "region", "--disk", "1.29,103.85,9.5", "--prohibited", "CN", "--map", "adir"],
    ):
        out = cli(*argv, check_code=2)
        assert "cannot write adir: it is a directory" in out.stderr, argv
        assert "internal error" not in out.stderr
    out = cli(
        "audit",
        ".",
        "--glob",
        "m.env.json",
        "--trust",
        "trust.json",
        "--report",
        "nodir/r.html",
        check_code=2,
    )
    assert "directory nodir does not exist" in out.stderr and out.stdout == ""  # nothing audited
    out = cli("trust", "add", "node/attest.pub", "--trust", "adir", check_code=2)
    assert "trust store adir" in out.stderr and "directory" in out.stderr


def test_audit_names_an_input_it_cannot_read_and_audits_the_rest(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    spool = workspace / "spool"
    spool.mkdir()
    (spool / "m.env.json").write_bytes((workspace / "m.env.json").read_bytes())
    (spool / "gone.json").symlink_to(
        workspace / "nowhere.json"
    )  # root reads every file; a dangling link it cannot
    out = cli("audit", "spool", "--trust", "trust.json", check_code=2)
    assert "cannot read gone.json in spool: a broken symbolic link; not audited" in out.stderr
    assert out.stdout.startswith("UNREADABLE: 1 input(s), not audited\n  gone.json: a broken symbolic link")
    assert "1 envelope" in out.stdout  # the readable one was audited
    obj = json.loads(cli("audit", "spool", "--trust", "trust.json", "--format", "json", check_code=2).stdout)
    assert obj["unreadable"] == [{"source": "gone.json", "reason": "a broken symbolic link"}]
    # 3 wins: a contraindicated envelope beside the unreadable one.
    (spool / "bad.json").write_text("{}")
    cli("audit", "spool", "--trust", "trust.json", check_code=3)


def test_screen_refuses_a_lists_dir_that_is_a_file(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert (
        "lists directory f is not a directory"
        in cli("screen", "Acme", "--lists-dir", "f", check_code=2).stderr
    )


def test_landmark_serve_on_a_port_in_use(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "-o", "lm", check_code=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        out = cli(
            "landmark",
            "serve",
            "--key",
            "lm/attest.key",
            "--id",
            "x",
            "--lat",
            "1",
            "--lon",
            "2",
            "--listen",
            f"127.0.0.1:{port}",
            check_code=2,
        )
    assert f"cannot listen on 127.0.0.1:{port} (UDP)" in out.stderr
    assert "internal error" not in out.stderr and "Exception in thread" not in out.stderr


def test_locate_refuses_a_bad_nonce_and_says_a_landmark_is_dead(cli: CliRunner, tmp_path: Path) -> None:
    cli("keygen", "-o", "node", check_code=0)
    assert (
        "is not a nonce"
        in cli(
            "locate", "--landmarks", "x.json", "--key", "node/attest.key", "--nonce", "xyz", check_code=2
        ).stderr
    )
    live_key, dead_key = SigningKey.generate(), SigningKey.generate()
    server = LandmarkServer("live", live_key)
    (host, port), stop = server.serve_in_thread("127.0.0.1", 0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a port with nobody behind it
            probe.bind(("127.0.0.1", 0))
            dead_port = probe.getsockname()[1]
        registry = {
            "landmarks": [
                {
                    "id": "live",
                    "latitude": 1.29,
                    "longitude": 103.85,
                    "public_key": live_key.public.spki_b64(),
                    "operator": "A",
                    "address": f"{host}:{port}",
                },
                {
                    "id": "dead",
                    "latitude": 1.3,
                    "longitude": 103.8,
                    "public_key": dead_key.public.spki_b64(),
                    "operator": "B",
                    "address": f"127.0.0.1:{dead_port}",
                },
            ]
        }
        (tmp_path / "lm.json").write_text(json.dumps(registry))
        out = cli(
            "locate",
            "--landmarks",
            "lm.json",
            "--key",
            "node/attest.key",
            "--nonce",
            NONCE,
            "--rounds",
            "1",
            "-o",
            "r.json",
            "--format",
            "json",
            check_code=2,
        )
    finally:
        stop.set()
    assert "1 of 2 landmarks could not be measured (dead)" in out.stderr
    assert json.loads(out.stdout)["unmeasured"] == ["dead"]
    receipts = json.loads((tmp_path / "r.json").read_text())["receipts"]
    assert [r["landmark_id"] for r in receipts] == ["live"]


def test_audit_names_a_directory_named_like_an_envelope(workspace: Path, cli: CliRunner) -> None:
    """A directory matching the glob (spool/dir.json) is listed as unreadable, exit 2, not skipped in silence."""
    make_envelope(cli)
    spool = workspace / "spool"
    spool.mkdir()
    (spool / "m.env.json").write_bytes((workspace / "m.env.json").read_bytes())
    (spool / "dir.json").mkdir()
    out = cli("audit", "spool", "--trust", "trust.json", check_code=2)
    assert out.stdout.startswith("UNREADABLE: 1 input(s), not audited\n  dir.json: a directory")
    assert "1 envelope" in out.stdout  # the readable one was audited
    obj = json.loads(cli("audit", "spool", "--trust", "trust.json", "--format", "json", check_code=2).stdout)
    assert obj["unreadable"] == [{"source": "dir.json", "reason": "a directory"}]
