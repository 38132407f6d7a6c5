"""``attest log``: the transparency log of envelopes (RFC 9162), signed checkpoints, proofs."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

from attest.cli.common import (
    HelpFormatter,
    add_evidence_args,
    add_format,
    add_policy_arg,
    evidence_options,
    policy_from_args,
    read_input,
    stderr,
)
from attest.crypto.canonical import DEFAULT_MAX_BYTES
from attest.crypto.dsse import parse_envelope
from attest.crypto.keys import load_signing_key
from attest.errors import AttestError, InputError
from attest.log import Checkpoint, Log, is_url
from attest.log.checkpoint import verifier_key
from attest.log.monitor import (
    LogKey,
    LogMisbehaviour,
    check_consistent,
    inclusion_ok,
    state_from_json,
    state_to_json,
    verify_checkpoint,
)
from attest.log.witness import WitnessKey

EXIT_OK, EXIT_WARN, EXIT_BAD = 0, 1, 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb group."""
    p = sub.add_parser(
        "log",
        help="append envelopes to a Merkle log, sign checkpoints, prove inclusion and consistency",
        description="An append-only RFC 9162 Merkle log whose leaves are envelope files' bytes as received "
        "(leaf hash = SHA-256(0x00 || bytes)); checkpoints are C2SP signed notes (Ed25519). Stored in SQLite "
        "(WAL, synchronous=FULL) with the envelopes' bytes beside it in PATH-entries (keep the two files "
        "together), or in PostgreSQL; proofs are read from stored subtree hashes.",
        epilog="examples:\n"
        "  attest log init --log audit.db --origin example.com/attest/log --key log.key\n"
        "  attest log append spool/*.json --log audit.db\n"
        "  attest log checkpoint --log audit.db --key log.key > checkpoint.txt\n"
        "  attest log proof --log audit.db --inclusion 17 --format json\n"
        "  attest log proof --log audit.db --consistency 10 20\n"
        "  attest log verify --log audit.db\n"
        "  attest log monitor --log https://collector.example.net --key log.pub --state monitor.json\n"
        "  attest log witness serve --name witness.example/w1 --key w1.key --log-key log.pub --state w1.db",
        formatter_class=HelpFormatter,
    )
    verbs = p.add_subparsers(
        dest="log_verb",
        required=True,
        metavar="{init,append,checkpoint,proof,verify,monitor,rejudge,index-evidence,witness}",
    )

    def log_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--log",
            required=True,
            metavar="PATH_OR_URL",
            help="the log: a SQLite file, postgresql://..., or a collector http(s):// URL (append, checkpoint, proof)",
        )

    i = verbs.add_parser(
        "init",
        help="create a log",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log init --log audit.db --origin example.com/attest/log --key log.key",
    )
    log_arg(i)
    i.add_argument("--origin", required=True, help="the log's name in its checkpoints (no spaces)")
    i.add_argument("--key", required=True, metavar="KEY", help="Ed25519 key that signs checkpoints")
    add_format(i)
    i.set_defaults(func=run_init)
    a = verbs.add_parser(
        "append",
        help="append envelope files",
        formatter_class=HelpFormatter,
        description="Appends each file's bytes, whole, as one leaf. The log is append-only, so every file is "
        "checked first and nothing is appended unless all pass: each must be a well-formed DSSE envelope (strict "
        "JSON, canonical encoding) of at most 1 MiB. Nothing is verified here: signatures and trust are judged "
        "by attest verify or audit, and by a collector when it logs.",
        epilog="exit codes: 0 appended, 2 a file missing, unreadable, over 1 MiB, empty or not an envelope "
        "(nothing appended).\n\n"
        "examples:\n  attest log append spool/*.json --log audit.db --format json\n"
        "  attest log append odd.bin --log audit.db --allow-non-envelope   # said on stderr for each such file",
    )
    a.add_argument("envelopes", nargs="+", metavar="ENVELOPE")
    a.add_argument(
        "--allow-non-envelope",
        action="store_true",
        help="append files that are not well-formed envelopes too (each is named on stderr); never empty files",
    )
    log_arg(a)
    add_format(a)
    a.set_defaults(func=run_append)
    c = verbs.add_parser(
        "checkpoint",
        help="sign a checkpoint of the current size",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log checkpoint --log audit.db --key log.key",
    )
    log_arg(c)
    c.add_argument(
        "--key",
        metavar="KEY",
        help="a log file: the log's private key, to sign; a collector URL: the log's verifier key "
        "(LOG.pub, as attest log init prints it), to check the checkpoint's signature before printing it",
    )
    add_witness_args(c)
    add_format(c)
    c.set_defaults(func=run_checkpoint)
    pr = verbs.add_parser(
        "proof",
        help="an inclusion or consistency proof",
        formatter_class=HelpFormatter,
        epilog="examples:\n  attest log proof --log audit.db --inclusion 17\n"
        "  attest log proof --log audit.db --consistency 10 20 --format json",
    )
    log_arg(pr)
    which = pr.add_mutually_exclusive_group(required=True)
    which.add_argument("--inclusion", type=int, metavar="N", help="leaf index")
    which.add_argument("--consistency", type=int, nargs=2, metavar=("OLD", "NEW"))
    pr.add_argument("--size", type=int, metavar="SIZE", help="tree size for --inclusion (default: current)")
    pr.add_argument(
        "--key",
        metavar="LOG.pub",
        help="the log's verifier key: the proof is checked against the log's newest signed checkpoint "
        "(required for a collector URL)",
    )
    pr.add_argument(
        "--since",
        metavar="CHECKPOINT",
        help="with --consistency: a signed checkpoint you hold; the proof must start from its root (needs --key)",
    )
    add_witness_args(pr)
    add_format(pr)
    pr.set_defaults(func=run_proof)
    v = verbs.add_parser(
        "verify",
        help="recompute the tree from its entries and check every checkpoint",
        formatter_class=HelpFormatter,
        description="Recomputes the Merkle tree from the entries, checks every stored checkpoint and each "
        "entry's integration time against the checkpoints' time lines. Exit 0: sound; 3: damaged, or "
        "signed by another key than --log-key; 2: unreadable. With --cosignatures N, entries whose time no "
        "checkpoint with N cosignatures by the --witness keys confirms are listed as unconfirmed (exit 1).",
        epilog="example:\n  attest log verify --log audit.db --log-key log.pub",
    )
    log_arg(v)
    add_log_pin_args(v)
    add_format(v)
    v.set_defaults(func=run_verify)
    m = verbs.add_parser(
        "monitor",
        help="check the log's newest checkpoint against the last one verified (run it periodically)",
        description="Verifies the newest signed checkpoint (and, with --cosignatures, its witness cosignatures) "
        "and a consistency proof from the checkpoint stored in --state, then stores the new one. Exit 0: "
        "consistent (or the first checkpoint, stored); 3: a bad signature, too few cosignatures, a log that "
        "shrank, two roots for one size or a failed consistency proof (a rewrite or a split view), with both "
        "roots named; 2: unreachable or unreadable. The state is kept on 3, so the next run fails again.",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log monitor --log https://collector.example.net --key log.pub --state monitor.json",
    )
    log_arg(m)
    m.add_argument("--key", required=True, metavar="LOG.pub", help="the log's note verifier key")
    m.add_argument("--state", required=True, metavar="FILE", help="the last verified checkpoint (JSON)")
    add_witness_args(m)
    add_format(m)
    m.set_defaults(func=run_monitor)
    rj = verbs.add_parser(
        "rejudge",
        help="judge every entry again, as of the log's time for it, and replace stored verdicts that differ",
        description="A collector stores the verdict it reached when an envelope arrived, under its own clock "
        "(verified_at). After a clock was fixed, a trust store or policy changed, or a bug was found, this "
        "verifies every entry again in log order, as of its integration time (the log's clock; entries of "
        "older logs: now), with replay and chain state rebuilt from the log itself, and replaces the stored "
        "verdicts that differ. Each stored result says when it was judged (verified_at).",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log rejudge --log audit.db --trust trust.json --policy us-ear --dry-run",
    )
    log_arg(rj)
    rj.add_argument("--trust", required=True, metavar="TRUST")
    add_policy_arg(rj)
    add_evidence_args(rj)
    rj.add_argument("--dry-run", action="store_true", help="report what would change; store nothing")
    add_format(rj)
    rj.set_defaults(func=run_rejudge)
    ix = verbs.add_parser(
        "index-evidence",
        help="index the GPU evidence of entries logged before the log had an evidence index",
        description="A log keeps an index of the GPU evidence its entries carry (by digest), so that a "
        "verifier resolves a heartbeat naming its node's binding by digest from the entry that carried it "
        "(attest verify --log, a second collector on the same log). A log created before the index gets an "
        "empty one when first opened for writing, covering the entries from then on; this reads the entries "
        "before that (unverified: the index only says where to look; every entry used is verified in full).",
        formatter_class=HelpFormatter,
        epilog="exit codes: 0 indexed, 2 the log unreadable or read-only.\n\n"
        "example:\n  attest log index-evidence --log audit.db",
    )
    log_arg(ix)
    add_format(ix)
    ix.set_defaults(func=run_index_evidence)
    w = verbs.add_parser(
        "witness",
        help="a C2SP tlog-witness: cosign checkpoints consistent with the last one cosigned",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log witness serve --name witness.example/w1 --key w1.key --log-key log.pub "
        "--state w1.db",
    )
    wverbs = w.add_subparsers(dest="witness_verb", required=True, metavar="{serve}")
    ws = wverbs.add_parser(
        "serve",
        help="serve POST /add-checkpoint until interrupted",
        description="C2SP tlog-witness add-checkpoint: 200 with a timestamped cosignature (C2SP "
        "tlog-cosignature, Ed25519), 404 unknown log, 403 bad signature, 400 malformed, 409 (text/x.tlog.size) "
        "when the old size is not the last cosigned one or one size has two roots, 422 when the consistency "
        "proof fails. Prints its vkey (give it to logs and verifiers: --witness FILE).",
        formatter_class=HelpFormatter,
        epilog="example:\n  attest log witness serve --name witness.example/w1 --key w1.key --log-key log.pub "
        "--state w1.db --listen 127.0.0.1:8090",
    )
    ws.add_argument("--name", required=True, help="the witness's key name (e.g. witness.example/w1)")
    ws.add_argument("--key", required=True, metavar="KEY", help="the witness's Ed25519 private key")
    ws.add_argument(
        "--log-key", required=True, action="append", metavar="LOG.pub", help="a log it follows (repeatable)"
    )
    ws.add_argument(
        "--state", required=True, metavar="DB", help="the last cosigned checkpoint per log (SQLite)"
    )
    ws.add_argument("--listen", default="127.0.0.1:8090", metavar="HOST:PORT")
    ws.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="connections at once, kept below the descriptor limit (default 256; at the cap idle "
        "connections and trickled bodies are closed first, else the new one)",
    )
    ws.add_argument(
        "--max-per-network",
        type=int,
        default=16,
        metavar="N",
        help="connections at once from one IPv4 /24 or IPv6 /64 (default 16; 0: no such cap)",
    )
    ws.set_defaults(func=run_witness_serve)


def add_witness_args(q: argparse.ArgumentParser) -> None:
    """``--witness VKEY_FILE`` (repeatable) and ``--cosignatures N``."""
    q.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness's vkey file (as attest log witness serve prints it); repeatable",
    )
    q.add_argument(
        "--cosignatures",
        type=int,
        default=0,
        metavar="N",
        help="require N valid cosignatures by the --witness keys on the checkpoint (default 0)",
    )


def add_log_pin_args(q: argparse.ArgumentParser) -> None:
    """``--log-key LOG.pub`` (the log's verifier key, pinned) and the witness arguments."""
    q.add_argument(
        "--log-key",
        metavar="LOG.pub",
        help="the log's note verifier key (as attest log init prints it): the database's own is checked "
        "against it. Without it the log's checkpoints and times are the database's word",
    )
    add_witness_args(q)


def log_pin(args: argparse.Namespace) -> tuple[LogKey | None, list[WitnessKey], int]:
    """The pinned log key (or None), the witness keys and the cosignatures required, from the arguments."""
    key = LogKey.load(Path(args.log_key)) if args.log_key else None
    return key, _witnesses(args), args.cosignatures


def _is_http(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _open(text: str) -> Log:
    if "://" in text and not is_url(text):
        raise InputError("this verb needs the log itself: a file path or a postgresql:// URL")
    return Log.open(text)


def run_init(args: argparse.Namespace) -> int:
    """Create a log."""
    if "://" in args.log and not is_url(args.log):
        raise InputError("a log is a file path or a postgresql:// URL")
    log = Log.init(args.log, args.origin, load_signing_key(Path(args.key)))
    info = {"log": args.log, "origin": log.origin, "verifier_key": log.store.meta("verifier_key")}
    if args.format == "json":
        print(json.dumps(info))
    else:
        print(f"created log {args.log}\norigin        {info['origin']}\nverifier key  {info['verifier_key']}")
    return EXIT_OK


def _print_checkpoint(note: str, args: argparse.Namespace) -> None:
    """The signed note as it is (text), or its parts beside it (json)."""
    if args.format != "json":
        print(note, end="")
        return
    lines = note.split("\n")
    size = int(lines[1]) if len(lines) > 2 and lines[1].isdigit() else None
    print(
        json.dumps(
            {
                "origin": lines[0],
                "size": size,
                "root_hash": lines[2] if size is not None else None,
                "checkpoint": note,
            }
        )
    )


def run_append(args: argparse.Namespace) -> int:
    """Append envelopes; print each one's index and leaf hash."""
    data = [read_input(p, what="envelope", max_bytes=DEFAULT_MAX_BYTES) for p in args.envelopes]
    for path, raw in zip(args.envelopes, data, strict=True):
        if not raw:
            raise InputError(f"envelope {path} is empty; nothing was appended")
        try:
            parse_envelope(raw)
        except AttestError as exc:
            if not args.allow_non_envelope:
                raise InputError(
                    f"{path} is not a well-formed envelope ({exc.message}); nothing was appended",
                    hint="the log keeps every leaf for good: append envelopes as signed, or say "
                    "--allow-non-envelope to log other bytes on purpose",
                ) from None
            stderr(f"warning: {path} is not a well-formed envelope ({exc.message}); appended as it is")
    if _is_http(args.log):
        from attest.log.remote import RemoteLog

        placed = RemoteLog(args.log).append(data)
        size = None
    else:
        log = _open(args.log)
        placed = log.append(data)
        size = log.size
    for path, a in zip(args.envelopes, placed, strict=True):
        if args.format == "json":
            print(
                json.dumps(
                    {"file": path, "leaf_index": a.index, "leaf_hash": a.leaf_hash.hex(), "new": a.new}
                )
            )
        else:
            print(f"{a.index}\t{a.leaf_hash.hex()}\t{path}" + ("" if a.new else "\t(already logged)"))
    if size is not None:
        stderr(f"log size {size}")
    return EXIT_OK


def _witnesses(args: argparse.Namespace) -> list[WitnessKey]:
    if args.cosignatures < 0:
        raise InputError("--cosignatures must be 0 or more")
    keys = [WitnessKey.load(Path(p)) for p in args.witness]
    if args.cosignatures > len(keys):
        raise InputError(f"--cosignatures {args.cosignatures} needs at least as many --witness keys")
    return keys


def _signed(note: str, args: argparse.Namespace) -> Checkpoint:
    return verify_checkpoint(
        note, LogKey.load(Path(args.key)), witnesses=_witnesses(args), cosignatures=args.cosignatures
    )


def _refused(exc: LogMisbehaviour) -> int:
    stderr(exc.diagnostics())
    return EXIT_BAD


def run_checkpoint(args: argparse.Namespace) -> int:
    """Sign a checkpoint (a log file), or fetch and verify one (a collector URL)."""
    if _is_http(args.log):
        from attest.log.remote import RemoteLog

        if not args.key:
            raise InputError(
                "a collector's checkpoint is printed only once its signature is checked: --key LOG.pub"
            )
        note = RemoteLog(args.log).checkpoint()
        try:
            _signed(note, args)
        except LogMisbehaviour as exc:
            return _refused(exc)
        _print_checkpoint(note, args)
        return EXIT_OK
    if args.witness or args.cosignatures:
        raise InputError("--witness and --cosignatures check a collector's checkpoint (a URL)")
    if not args.key:
        raise InputError("signing a checkpoint needs the log's key: --key KEY")
    log = _open(args.log)
    head = read_input(args.key, what="key", max_bytes=4096)
    if not head.lstrip().startswith(b"-----BEGIN"):
        raise InputError(
            f"{args.key} is not a private key: signing a log file's checkpoint needs the log's private key "
            "(a log.pub verifier key checks a collector's checkpoints: --log URL)"
        )
    _print_checkpoint(log.checkpoint(load_signing_key(Path(args.key))), args)
    return EXIT_OK


def _source(text: str) -> Any:
    if _is_http(text):
        from attest.log.remote import RemoteLog

        return RemoteLog(text)
    return _open(text)


def _newest_note(source: Any) -> str:
    if isinstance(source, Log):
        kept = source.store.checkpoints()
        if not kept:
            raise InputError(
                "the log has signed no checkpoint yet", hint="attest log checkpoint --log ... --key KEY"
            )
        return kept[-1][2]
    return str(source.checkpoint())


def run_proof(args: argparse.Namespace) -> int:
    """Print a proof (checked against the log's signed checkpoint with --key)."""
    if _is_http(args.log) and not args.key:
        raise InputError("a collector's proofs are checked against its signed checkpoint: --key LOG.pub")
    if args.since and (not args.key or args.consistency is None):
        raise InputError("--since goes with --consistency and --key")
    source = _source(args.log)
    try:
        proof = _checked_proof(source, args) if args.key else None
    except LogMisbehaviour as exc:
        return _refused(exc)
    if proof is None and args.inclusion is not None:
        proof = source.inclusion(args.inclusion, args.size)
    elif proof is None:
        proof = source.consistency(*args.consistency)
    if args.format == "json":
        print(json.dumps(proof))
    else:
        for k, v in proof.items():
            print(f"{k}: {' '.join(v) if isinstance(v, list) else v}")
    return EXIT_OK


def _checked_proof(source: Any, args: argparse.Namespace) -> dict[str, Any]:
    """A proof bound to the newest signed checkpoint (and to --since): its roots are the signed ones."""
    cp = _signed(_newest_note(source), args)
    if args.inclusion is not None:
        size = cp.size if args.size is None else args.size
        if size != cp.size:
            raise InputError(f"the signed checkpoint is of size {cp.size}: --size must be that (or left out)")
        proof: dict[str, Any] = source.inclusion(args.inclusion, size)
        path = [bytes.fromhex(h) for h in proof["path"]]
        if not inclusion_ok(bytes.fromhex(proof["leaf_hash"]), args.inclusion, cp, path):
            raise LogMisbehaviour(
                f"the inclusion proof of entry {args.inclusion} does not lead to the signed root "
                f"{base64.b64encode(cp.root).decode()} at size {cp.size}"
            )
        return proof
    old_size, new_size = args.consistency
    if new_size != cp.size:
        raise InputError(f"the signed checkpoint is of size {cp.size}: prove consistency to that size")
    old = None
    if args.since:
        old = _signed(read_input(args.since, what="checkpoint").decode("utf-8", "replace"), args)
        if old.size != old_size:
            raise InputError(f"the checkpoint in {args.since} is of size {old.size}, not {old_size}")
    proof = source.consistency(old_size, new_size)
    old_root = old.root if old is not None else bytes.fromhex(proof["old_root"])
    held = Checkpoint(cp.origin, old_size, old_root)
    check_consistent(held, cp, lambda a, b: [bytes.fromhex(h) for h in proof["path"]])
    proof["old_root"], proof["new_root"] = old_root.hex(), cp.root.hex()
    if old is None:
        stderr("note: the old root is the log's word; give the checkpoint you hold with --since to check it")
    return proof


def run_monitor(args: argparse.Namespace) -> int:
    """Verify the newest checkpoint and its consistency with the stored one; store it."""
    key = LogKey.load(Path(args.key))
    witnesses = _witnesses(args)
    state = Path(args.state)
    stored = None
    if state.exists():
        stored = state_from_json(read_input(str(state), what="monitor state").decode("utf-8", "replace"), key)
    source = _source(args.log)
    note = _newest_note(source)
    try:
        cp = verify_checkpoint(note, key, witnesses=witnesses, cosignatures=args.cosignatures)
        if stored is not None:
            check_consistent(
                stored[1], cp, lambda a, b: [bytes.fromhex(h) for h in source.consistency(a, b)["path"]]
            )
    except LogMisbehaviour as exc:
        if args.format == "json":
            print(json.dumps({"ok": False, "problem": exc.message}))
        return _refused(exc)
    tmp = state.with_name(state.name + ".tmp")
    try:
        tmp.write_text(state_to_json(note, cp))
        tmp.replace(state)
    except OSError as exc:
        raise InputError(f"cannot write the monitor state {state}: {exc.strerror or exc}") from None
    root = base64.b64encode(cp.root).decode()
    first = stored is None
    if args.format == "json":
        print(json.dumps({"ok": True, "size": cp.size, "root": root, "first": first}))
    else:
        print(f"OK: size {cp.size}, root {root}" + (" (first checkpoint seen, stored)" if first else ""))
    return EXIT_OK


def run_rejudge(args: argparse.Namespace) -> int:
    """Judge every entry again as of its integration time; replace the stored verdicts that differ."""
    from datetime import UTC, datetime

    from attest.crypto.trust import TrustStore
    from attest.hardware.cc import BindingCache
    from attest.replay import MemoryChainStore, MemoryNonceStore
    from attest.verify import verify_and_open

    log = _open(args.log)
    trust = TrustStore.load(Path(args.trust))
    policy, options = policy_from_args(args), evidence_options(args)
    nonces, chains = MemoryNonceStore(), MemoryChainStore()
    # One binding cache for the whole log, and the log itself to resolve evidence named by digest
    # (a heartbeat whose binding lies before it, or in an entry this pass judged otherwise).
    bindings = BindingCache()
    changed: dict[str, int] = {}
    for index in range(log.size):
        at = log.store.integrated_at(index)
        when = datetime.fromtimestamp(at, UTC) if at is not None else datetime.now(UTC)
        result, _ = verify_and_open(
            log.store.entry(index),
            trust,
            now=when,
            nonces=nonces,
            chains=chains,
            policy=policy,
            options=options,
            bindings=bindings,
            evidence_log=log,
        )
        kept = log.store.result(index)
        before = json.loads(kept).get("status") if kept else None
        if before != result.status.value:
            key = f"{before or 'unjudged'} -> {result.status.value}"
            changed[key] = changed.get(key, 0) + 1
            if not args.dry_run:
                log.store.put_result(index, result.status.value, json.dumps(result.to_obj()))
    if args.format == "json":
        print(json.dumps({"entries": log.size, "changed": changed, "stored": not args.dry_run}))
    else:
        print(
            f"{log.size} entries judged again; {sum(changed.values())} verdicts differ"
            + ("" if args.dry_run else ", replaced")
        )
        for k, v in sorted(changed.items()):
            print(f"  {k}: {v}")
    return EXIT_OK


def run_index_evidence(args: argparse.Namespace) -> int:
    """Index the evidence of the entries logged before the log's evidence index."""
    log = _open(args.log)
    before = log.evidence_indexed_from
    carrying = log.index_evidence()
    if args.format == "json":
        print(json.dumps({"entries_read": before, "carrying_evidence": carrying, "size": log.size}))
    else:
        print(
            f"{before} entries read, {carrying} carrying GPU evidence indexed; the index covers all {log.size}"
        )
    return EXIT_OK


def run_witness_serve(args: argparse.Namespace) -> int:
    """Serve a witness."""
    from attest.log.witness import Witness, witness_app

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--listen {args.listen!r} is not HOST:PORT")
    if not (args.max_connections > 0 and args.max_per_network >= 0):
        raise InputError("--max-connections must be positive and --max-per-network 0 (off) or positive")
    witness = Witness(
        args.name,
        load_signing_key(Path(args.key)),
        [LogKey.load(Path(p)) for p in args.log_key],
        Path(args.state),
    )
    from attest.log.frontend import Limits, serve_app

    limits = Limits(max_connections=args.max_connections, max_per_network=args.max_per_network)
    serve_app(witness_app(witness, limits), host or "127.0.0.1", int(port), {"witness": witness.vkey}, limits)
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    """Check the whole log."""
    log = _open(args.log)
    pinned, witnesses, cosignatures = log_pin(args)
    named = verifier_key(log.key_name, log.public)
    if pinned is not None and verifier_key(pinned.name, pinned.public) != named:
        stderr(
            f"error: the log is signed by another key than the one pinned: its database names {named}, "
            f"--log-key is {verifier_key(pinned.name, pinned.public)}"
        )
        return EXIT_BAD
    if pinned is None:
        stderr(
            "note: no --log-key: the checkpoints are checked against the key the database names, so their "
            "times are not confirmed (whoever can write the database can re-sign them)"
        )
    problems = log.verify()
    unconfirmed = log.uncosigned_times(witnesses, cosignatures)
    checkpoints = len(log.store.checkpoints())
    if args.format == "json":
        print(
            json.dumps(
                {
                    "ok": not problems,
                    "size": log.size,
                    "root_hash": log.root().hex(),
                    "checkpoints": checkpoints,
                    "problems": problems,
                    "key_pinned": pinned is not None,
                    "times_unconfirmed": unconfirmed,
                }
            )
        )
    else:
        print(
            ("OK" if not problems else "DAMAGED")
            + f": {log.size} entries, root {log.root().hex()}, {checkpoints} checkpoints"
        )
        for p in problems:
            print(f"  {p}")
        if unconfirmed:
            print(
                f"  {len(unconfirmed)} entries' integration times are not confirmed by a checkpoint with "
                f"{cosignatures} witness cosignature(s) (first: entry {unconfirmed[0]})"
            )
    if problems:
        return EXIT_BAD
    return EXIT_WARN if unconfirmed else EXIT_OK
