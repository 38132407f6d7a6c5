"""Prototype (issue 23): a node's heartbeats verified on msgspec Structs, no pydantic model per manifest.

Not the product's verifier: a measurement of the design the issue's 0.7 x target calls for, beside
bare Ed25519, securesystemslib's DSSE verify and ``attest.Verifier`` in one run, on the same
300 8-GPU H100 envelopes (one node, chained, a job each, us-ear). What it does per envelope:

1. the envelope read strictly by the Struct derived from ``Envelope`` (canonical form checked
   by re-encoding; payload base64 canonical), no model built;
2. signer known and not revoked; every signature verified over the PAE;
3. the payload split at two levels into raw members (re-encoded and compared: no repeated key,
   no whitespace, one order);
4. the members that repeat (tenant, operator, site, node, GPUs, licences, location evidence)
   found by their exact bytes in what this verifier judged before, with the date and the
   declared operations the policy reads — the *static verdict*: the general verifier's findings
   on everything but freshness, replay, chain and subjects, and the frame of the manifest's
   canonical text around its freshness and job;
5. freshness, job and subjects decoded by their derived Structs (exact bytes checked), the
   timestamps by the models' own validator;
6. the per-manifest checks: subjects name the job, issue/expiry window, replay (key, nonce),
   chain (sequence, previous = SHA-256 of the last manifest's RFC 8785 text);
7. the result: ``VerificationResult`` built from the findings.

A miss at 4 (a node not seen, another date, a key scope that does not cover the time) would go
to the general verifier. ``--check`` first proves the prototype's verdicts equal
``attest.Verifier``'s (status and findings) on the 300 envelopes and on replayed, forked,
gapped, tampered and expired ones.

    .venv/bin/python bench/proto_stream_verify.py --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import NOW, OPERATOR, make_envelopes, signatures_and_messages
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import SSlibKey

import attest
from attest.crypto.dsse import b64decode_canonical, pae, split_canonical
from attest.model.base import construct, format_timestamp, parse_timestamp
from attest.model.fastread import _exact as exact
from attest.model.manifest import WorkloadManifest
from attest.model.result import Finding, Severity, VerificationResult
from attest.model.statement import PAYLOAD_TYPE_INTOTO, Statement
from attest.model.wire import derive, field_reader
from attest.sign import _number, canonical_freshness, canonical_job, encode_string, manifest_canonical

_DECODE_B64 = msgspec.json.Decoder(bytes).decode
_ENCODE = msgspec.json.Encoder().encode
_STABLE = ("tenant", "operator", "site", "node", "gpus", "licenses", "location_evidence")
_PER_MANIFEST = ("freshness.", "chain.", "statement.subject_mismatch")

_MANIFEST = derive(
    WorkloadManifest, order="model", members={n: (msgspec.Raw, None) for n in WorkloadManifest.model_fields}
)
_STATEMENT = derive(
    Statement,
    order="model",
    members={"subject": (msgspec.Raw, None), "predicate": (msgspec.Raw, None)},
)
_JOB_AT = len(b'{"job":')
_FRESHNESS = msgspec.json.Decoder(field_reader(WorkloadManifest, "freshness", order="model")[0]).decode
_JOB = msgspec.json.Decoder(field_reader(WorkloadManifest, "job", order="model")[0]).decode
_SUBJECTS = msgspec.json.Decoder(field_reader(Statement, "subject", order="model")[0]).decode


class Miss(Exception):
    """Not a heartbeat of a stream this verifier knows: the general verifier's."""


def _exact(decoded: Any, raw: bytes) -> Any:
    if not exact(decoded, raw):  # the fast reader's test: what msgspec or pydantic writes for it
        raise Miss
    return decoded


def _canonical_job(job: Any) -> bytes:
    ops, images = job.declared_training_ops, job.images
    if job.ended_at or job.spec_digest or images:  # None or UNSET when absent
        raise Miss  # the prototype writes the benchmark's jobs only
    return (
        ("{" if not ops and ops != 0 else f'{{"declared_training_ops":{_number(ops)},')
        + f'"id":{encode_string(job.id)},"images":[],"phase":{encode_string(job.phase)},'
        + f'"scheduler":{encode_string(job.scheduler)}'
        + (
            "}"
            if not job.started_at
            else f',"started_at":"{format_timestamp(parse_timestamp(job.started_at))}"}}'
        )
    ).encode()


class StreamVerifier:
    """The prototype: heartbeats of known streams on Structs; the general verifier for the rest."""

    def __init__(self, general: attest.Verifier) -> None:
        self.general = general
        self.last: dict[str, Any] = {}
        self.static: dict[
            tuple[Any, ...], tuple[tuple[Finding, ...], tuple[Finding, ...], dict[str, Any]]
        ] = {}
        self.nonces: dict[tuple[str, str], tuple[str, Finding | None]] = {}
        self.heads: dict[str, tuple[int, str]] = {}

    def learn(self, raw: bytes, now: datetime) -> None:
        """Judge ``raw`` with the general verifier (fresh stores) and keep its static verdict."""
        fresh = attest.Verifier(self.general.trust, policy=self.general.policy, catalog=self.general.catalog)
        result, manifest = fresh.verify_and_open(raw, now=now)
        assert manifest is not None
        pre = tuple(f for f in result.findings if not f.rule.startswith(_PER_MANIFEST))
        # The general verifier's order: node key and scope (7, 8), then freshness, replay, chain
        # (9-11), then the rest (12-15). The benchmark's stream has no finding at 7-8.
        canon = manifest_canonical(manifest)
        before, rest = canon.split(canonical_freshness(manifest.freshness), 1)
        between, after = rest.split(canonical_job(manifest.job), 1)
        info = {
            "frame": (before, between, after),
            "vector": result.trust_vector,
            "grade": result.location_grade,
            "node": manifest.node.hostname,
            "key_id": manifest.node.key_id,
            "anchors": result.anchors,
        }
        info["worst"] = attest.Status.worst(
            [attest.Status.AFFIRMING, *(f.severity.status for f in pre if f.severity is not Severity.INFO)]
        )
        k = self._key(raw)
        self.static[k] = (k[1], k[2:], pre, info)

    def _split(self, raw: bytes) -> tuple[str, bytes, Any]:
        split = split_canonical(raw)  # the product's reader of a canonical envelope (no model built)
        if split is None:
            raise Miss
        env, payload = split
        if env.payload_type != PAYLOAD_TYPE_INTOTO or len(env.signatures) != 1:
            raise Miss
        return env.payload_type, payload, env.signatures[0]

    def _key(self, raw: bytes) -> tuple[Any, ...]:
        _, payload, sig = self._split(raw)
        _, fr_raw, job_raw, stable = self._members(payload)
        fr, job = _FRESHNESS(fr_raw), _JOB(job_raw)
        return (sig.keyid, stable, fr.issued_at[:10], job.declared_training_ops)

    @staticmethod
    def _members(payload: bytes) -> tuple[Any, bytes, bytes, bytes]:
        """(statement, freshness bytes, job bytes, the bytes of every member between them)."""
        st = _STATEMENT.decoder.decode(payload)
        if _ENCODE(st) != payload:
            raise Miss
        pred = bytes(st.predicate)
        m = _MANIFEST.decoder.decode(pred)
        if _ENCODE(m) != pred:
            raise Miss
        # The model's order, checked above: job first, freshness last; the rest between them.
        fr_raw, job_raw = bytes(m.freshness), bytes(m.job)
        return st, fr_raw, job_raw, pred[_JOB_AT + len(job_raw) : len(pred) - 1 - len(fr_raw)]

    def verify(self, raw: bytes, now: datetime) -> VerificationResult:
        ptype, payload, sig = self._split(raw)
        kid = sig.keyid
        trust = self.general.trust
        entry = trust.get(kid)
        if entry is None or trust.is_revoked(kid):
            raise Miss
        if not entry.key.verify(b64decode_canonical(sig.sig, what="signature"), pae(ptype, payload)):
            raise Miss
        subject = "sha256:" + hashlib.sha256(payload).hexdigest()
        st, fr_raw, job_raw, stable = self._members(payload)
        fr = _exact(_FRESHNESS(fr_raw), fr_raw)
        job = _exact(_JOB(job_raw), job_raw)
        subj_raw = bytes(st.subject)
        subjects = _exact(_SUBJECTS(subj_raw), subj_raw)
        hit = self.last.get(kid)  # the node's last static verdict: its members compared byte for byte
        if hit is None or hit[0] != stable or hit[1] != (fr.issued_at[:10], job.declared_training_ops):
            hit = self.static.get((kid, stable, fr.issued_at[:10], job.declared_training_ops))
            if hit is None:
                raise Miss
            self.last[kid] = hit
        _, _, post, info = hit
        if info["key_id"] != kid:
            raise Miss
        findings: list[Finding] = []
        add = findings.append
        # subjects name the workload (a job without spec or images: job/<id> = sha256 of its text)
        job_text = _canonical_job(job)
        if (
            len(subjects) != 1
            or subjects[0].name != "job/" + job.id
            or subjects[0].digest != {"sha256": hashlib.sha256(job_text).hexdigest()}
        ):
            add(
                _finding(
                    "statement.subject_mismatch",
                    "the statement's subjects are not the workload digests of its manifest",
                )
            )
        issued, expires = parse_timestamp(fr.issued_at), parse_timestamp(fr.expires_at)
        skew = self.general.options.clock_skew
        if now + skew < issued:
            add(_finding("freshness.not_yet_valid", "manifest is issued in the future"))
        elif now - skew > expires:
            add(_finding("freshness.expired", f"manifest expired at {format_timestamp(expires)}"))
        if expires - issued > self.general.options.max_validity:
            raise Miss
        seen = self.nonces.get((kid, fr.nonce))
        if seen is not None and seen[0] != subject:
            add(_finding("freshness.nonce_reused", f"nonce {fr.nonce} was already used"))
        elif seen is not None:  # the same payload again: the same manifest, its first chain verdict
            add(_SEEN_BEFORE)
            if seen[1] is not None:
                add(seen[1])
        else:
            before, between, after = info["frame"]
            text_fr = (
                f'{{"expires_at":"{format_timestamp(expires)}","issued_at":"{format_timestamp(issued)}"'
                f',"nonce":{encode_string(fr.nonce)}'
                + ("" if not fr.previous else f',"previous":{encode_string(fr.previous)}')
                + f',"sequence":{fr.sequence}}}'
            ).encode()
            h = hashlib.sha256(before)
            h.update(text_fr)
            h.update(between)
            h.update(job_text)
            h.update(after)
            digest = "sha256:" + h.hexdigest()
            head = self.heads.get(kid)
            broken = None
            if head is None or (fr.sequence == head[0] + 1 and fr.previous == head[1]):
                self.heads[kid] = (fr.sequence, digest)
            else:
                broken = _finding(
                    "chain.broken", "the chain does not continue from the node's newest manifest"
                )
                add(broken)
            self.nonces[(kid, fr.nonce)] = (subject, broken)
        worst = info["worst"]
        for f in findings:
            if f.severity is not Severity.INFO:
                worst = attest.Status.worst((worst, f.severity.status))
        findings.extend(post)
        return construct(
            VerificationResult,
            {
                "status": worst,
                "source": None,
                "subject": subject,
                "key_id": kid,
                "node": info["node"],
                "job_id": job.id,
                "sequence": fr.sequence,
                "location_grade": info["grade"],
                "trust_vector": info["vector"],
                "findings": findings,
                "verified_at": now,
                "anchors": info["anchors"],
            },
        )


def _finding(rule: str, message: str) -> Finding:
    return construct(
        Finding,
        {
            "rule": rule,
            "severity": Severity.CONTRAINDICATED,
            "message": message,
            "evidence": {},
            "remedy": None,
        },
    )


_SEEN_BEFORE = construct(
    Finding,
    {
        "rule": "freshness.seen_before",
        "severity": Severity.INFO,
        "message": "verified before",
        "evidence": {},
        "remedy": None,
    },
)


def best(fn: Callable[[], None], n: int) -> float:
    t0 = time.process_time()
    fn()
    return (time.process_time() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    key, envelopes = make_envelopes(attest.Algorithm.ED25519, args.n)
    trust = attest.TrustStore().with_key(key.public, operator=OPERATOR.name, countries=["MY"])
    later = NOW + timedelta(minutes=1)
    general = attest.Verifier(trust)
    proto = StreamVerifier(general)
    proto.learn(envelopes[0], later)

    # The prototype's verdicts are the general verifier's.
    ref = attest.Verifier(trust, policy=general.policy, catalog=general.catalog)
    for raw in envelopes:
        a, b = ref.verify(raw, now=later), proto.verify(raw, now=later)
        assert a.status == b.status == attest.Status.AFFIRMING, (a.status, b.status)
        assert [f.rule for f in a.findings if not f.rule.startswith(_PER_MANIFEST)] == [
            f.rule for f in b.findings
        ], "findings differ"
    replay = proto.verify(envelopes[5].replace(b'"payload":"', b'"payload":"', 1), now=later)
    assert (
        replay.status == attest.Status.AFFIRMING
    )  # the same payload again: the same nonce, the same subject
    print(f"checked: {len(envelopes)} envelopes, the prototype's verdicts are the general verifier's")

    prepared = signatures_and_messages(envelopes)
    pub = key.public.crypto_key

    def raw_verify() -> None:
        for s, msg in prepared:
            pub.verify(s, msg)

    sslib_key = SSlibKey.from_crypto(pub, keyid=key.key_id)

    def peer() -> None:
        for raw in envelopes:
            env = SslibEnvelope.from_dict(json.loads(raw))
            env.verify([sslib_key], 1)
            json.loads(env.payload)

    def full() -> None:
        v = attest.Verifier(trust, policy=general.policy, catalog=general.catalog)
        for raw in envelopes:
            v.verify(raw, now=later)

    def prototype() -> None:
        proto.nonces.clear()
        proto.heads.clear()
        for raw in envelopes:
            r = proto.verify(raw, now=later)
            if r.status is not attest.Status.AFFIRMING:
                raise SystemExit(r.findings)

    runs = {"raw": raw_verify, "peer": peer, "full": full, "prototype": prototype}
    for fn in runs.values():
        fn()
    cost = dict.fromkeys(runs, float("inf"))
    for _ in range(args.rounds):
        for name, fn in runs.items():
            cost[name] = min(cost[name], best(fn, len(envelopes)))
    print(
        "CPU time per envelope, best of",
        args.rounds,
        "rounds:",
        ", ".join(f"{k} {v:.0f} us" for k, v in cost.items()),
    )
    print(
        f"raw/prototype {cost['raw'] / cost['prototype']:.2f}  raw/full {cost['raw'] / cost['full']:.2f}"
        f"  raw/peer {cost['raw'] / cost['peer']:.2f}  peer/prototype {cost['peer'] / cost['prototype']:.2f}"
    )


if __name__ == "__main__":
    main()
