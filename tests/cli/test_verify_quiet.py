"""``attest verify --quiet``: one line per envelope, like cosign; exit codes unchanged."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import CliRunner, make_envelope


def test_quiet_prints_one_line_per_envelope(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    raw = bytearray((workspace / "m.env.json").read_bytes())
    at = raw.index(b'"payload":"') + 40
    raw[at] = ord("A") if raw[at] != ord("A") else ord("B")
    (workspace / "bad.env.json").write_bytes(bytes(raw))
    out = cli("verify", "m.env.json", "bad.env.json", "--trust", "trust.json", "--quiet", check_code=3)
    assert out.stdout.splitlines() == [
        "m.env.json: AFFIRMING declared",
        "bad.env.json: CONTRAINDICATED - (signature.invalid)",
    ]
    # The full output of the same run says far more.
    assert len(cli("verify", "m.env.json", "--trust", "trust.json", check_code=0).stdout.splitlines()) > 1
    # Unreadable files still go to stderr, with the usual exit code.
    out = cli("verify", "m.env.json", "missing.json", "--trust", "trust.json", "-q", check_code=2)
    assert out.stdout.splitlines() == ["m.env.json: AFFIRMING declared"] and "missing.json" in out.stderr


def test_quiet_is_text_only(workspace: Path, cli: CliRunner) -> None:
    make_envelope(cli)
    out = cli("verify", "m.env.json", "--trust", "trust.json", "--quiet", "--format", "json", check_code=2)
    assert "--quiet" in out.stderr and out.stdout == ""


def test_text_verdict_escapes_what_the_manifest_says(node) -> None:  # type: ignore[no-untyped-def]
    """A node may sign any host name: it must not forge a line of the auditor's verdict."""
    from attest.cli.verify import render_text
    from attest.verify import verify_envelope
    from tests.conftest import NOW

    result = verify_envelope(node.envelope(), node.trust, now=NOW)
    forged = result.model_copy(update={"node": "gpu-01\nother.env.json: AFFIRMING\x1b[2K", "source": "m\rX"})
    text = render_text(forged)
    assert len(text.splitlines()) == len(render_text(result).splitlines())
    assert "\x1b" not in text and "\r" not in text and "\nother.env.json: AFFIRMING" not in text
