"""``attest daemon`` client verbs and ``attest admit`` as real subprocesses against a real daemon."""

from __future__ import annotations

import json
from pathlib import Path

from attest.crypto.trust import TrustStore
from tests.conftest import CliRunner
from tests.daemon.fixtures import TENANT, MakeDaemon


def test_client_verbs(cli: CliRunner, make_daemon: MakeDaemon, tmp_path: Path) -> None:
    dp = make_daemon()
    dp.start()
    (tmp_path / "tenant.json").write_text(json.dumps(TENANT))
    sock = ["--socket", dp.sock]
    out = cli("daemon", "sign-job", "--phase", "start", "--job-id", "48211", "--tenant", "tenant.json", "--gpus", "0,1",
              "-o", "start.json", *sock, check_code=0).stdout
    assert out.startswith("signed start manifest #0 for job 48211")
    assert json.loads((tmp_path / "start.json").read_text())["payloadType"] == "application/vnd.in-toto+json"
    status = json.loads(cli("daemon", "status", "--format", "json", *sock, check_code=0).stdout)
    assert status["sequence"] == 0 and status["gpus"] == 8 and status["node"] == "gpu-a17"
    assert "job 48211" in cli("daemon", "last", "-n", "3", *sock, check_code=0).stdout
    assert len(json.loads(cli("daemon", "inventory", *sock, check_code=0).stdout)["gpus"]) == 8
    beat = json.loads(cli("daemon", "heartbeat", "--format", "json", *sock, check_code=0).stdout)
    assert beat["phase"] == "heartbeat" and beat["sequence"] == 1
    # The socket path can come from the config file too.
    assert json.loads(cli("daemon", "status", "--format", "json", "--config", str(dp.config), check_code=0).stdout)["sequence"] == 1
    # Errors: a GPU the node lacks, no job id, no daemon, no config.
    assert "no GPU '9'" in cli("daemon", "sign-job", "--phase", "end", "--job-id", "1", "--tenant", "tenant.json",
                               "--gpus", "9", *sock, check_code=2).stderr
    assert "no job id" in cli("daemon", "sign-job", "--phase", "end", "--tenant", "tenant.json", *sock, check_code=2).stderr
    assert "needs --config" in cli("daemon", check_code=2).stderr
    dp.stop()
    assert "no daemon socket" in cli("daemon", "status", *sock, check_code=2).stderr
    # attest admit over the spool the daemon left.
    TrustStore().with_key(dp.key.public).save(tmp_path / "trust.json")
    spool = str(dp.dir / "state" / "spool")
    out = json.loads(cli("admit", "--tenant", "tenant.json", "--evidence", spool, "--trust", "trust.json", "--nodes",
                         "gpu-a17", "--gpus", "8", "--gpu-type", "H100", "--format", "json", check_code=0).stdout)
    assert out["allowed"] and out["allowed_nodes"] == ["gpu-a17"]
    out = cli("admit", "--tenant", "tenant.json", "--evidence", spool, "--trust", "trust.json", "--nodes", "gpu-[01-02]",
              check_code=3).stdout
    assert out.startswith("REFUSED") and "gpu-01: no-evidence" in out
    assert "--tenant-map needs --account" in cli("admit", "--tenant-map", "tenant.json", "--evidence", spool, "--trust",
                                                 "trust.json", check_code=2).stderr
    assert "does not exist" in cli("admit", "--tenant", "tenant.json", "--evidence", "nowhere", "--trust", "trust.json",
                                   check_code=2).stderr


def test_a_collector_without_the_logs_key_or_over_http_is_a_config_error(cli: CliRunner, make_daemon: MakeDaemon) -> None:
    """Without log_key the daemon's 'verified inclusion proof' proves nothing (the collector makes up
    the tree): refused at start, as is an http:// collector, unless said explicitly."""
    from attest.crypto.keys import SigningKey
    from attest.log.checkpoint import verifier_key

    vkey = verifier_key("example.com/log", SigningKey.generate().public)
    cases = [
        ('url = "https://c.example/v1/manifests"\n', "needs log_key"),
        (f'url = "http://c.example/v1/manifests"\nlog_key = "{vkey}"\n', "allow_insecure_http"),
        ('url = "https://c.example/v1/manifests"\nlog_key = "not a key"\n', "log_key"),
    ]
    for body, message in cases:
        dp = make_daemon(tail=f"\n[collector]\n{body}")
        proc = cli("daemon", "--config", str(dp.config), check_code=2)
        assert message in proc.stderr, proc.stderr
