"""The fast statement reader returns exactly what the strict one does, or leaves the input to it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from attest.errors import InputError
from attest.model import fastread
from attest.model.base import construct
from attest.model.manifest import ImageRef, Job, LicenseReference, WorkloadManifest
from attest.model.result import Finding, Severity
from attest.model.statement import Statement
from attest.sign import build_statement
from tests.conftest import NOW, trusted_node


def payload_of(manifest: WorkloadManifest) -> bytes:
    return build_statement(manifest).model_dump_json(by_alias=True, exclude_none=True).encode()


def manifests() -> list[WorkloadManifest]:
    out = []
    for preset in ("h100", "h200", "b200", "a100", "l40s", "rtx4090"):
        node = trusted_node()
        node.preset = preset
        out.append(node.manifest())
    node = trusted_node()
    base = node.manifest()
    out.append(
        base.model_copy(
            update={
                "job": Job(
                    id="k8s/train-7",
                    scheduler="kubernetes",
                    phase="end",
                    started_at=NOW,
                    ended_at=NOW,
                    spec_digest="sha256:" + "ab" * 32,
                    images=[ImageRef(name="registry.example/train:1 ünïcode", digest="sha256:" + "cd" * 32)],
                ),
                "licenses": [LicenseReference(kind="license", id="D1234567", valid_until=NOW)],
            }
        )
    )
    return out


def strict(payload: bytes) -> Statement | None:
    try:
        return Statement.from_json(payload, what="statement")
    except InputError:
        return None


def fast(payload: bytes) -> Statement | None:
    try:
        return fastread.read_statement(payload)
    except InputError:
        return None


def same(a: Statement | None, b: Statement | None) -> bool:
    if a is None or b is None:
        return a is b
    return (
        a == b
        and a.model_dump() == b.model_dump()
        and a.model_dump_json(by_alias=True) == b.model_dump_json(by_alias=True)
        and a.model_fields_set == b.model_fields_set
        and a.predicate.model_fields_set == b.predicate.model_fields_set
    )


def took_fast_path(payload: bytes) -> bool:
    try:
        fastread._read_fast(payload)
    except fastread._NotFast:
        return False
    return True


@pytest.fixture(autouse=True)
def _cold_cache() -> None:
    fastread.clear_cache()


def test_signed_payloads_take_the_fast_path_and_read_the_same() -> None:
    for m in manifests():
        p = payload_of(m)
        assert took_fast_path(p)
        for _ in range(2):  # cold, then from the member cache
            got = fastread.read_statement(p)
            assert same(got, strict(p))
            assert got.predicate == m


def test_members_repeat_from_the_cache_and_are_the_same_objects() -> None:
    node = trusted_node()
    a, b = node.manifest(), node.manifest()
    assert a.freshness.nonce != b.freshness.nonce
    sa, sb = fastread.read_statement(payload_of(a)), fastread.read_statement(payload_of(b))
    assert sa.predicate.gpus is sb.predicate.gpus  # validated once
    assert sa.predicate.freshness != sb.predicate.freshness


def test_large_members_are_kept_in_a_memory_of_their_own_and_the_largest_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A hardware-bound 8-GPU list (~150 KB with its evidence) repeats in every heartbeat: it is read once
    # per distinct byte string too, in a smaller memory; beyond the large limit it is read every time.
    node = trusted_node()
    a, b = node.manifest(), node.manifest()
    fastread.clear_cache()
    monkeypatch.setattr(fastread, "_CACHE_MAX_SPAN", 16)  # every GPU list is "large" now
    sa, sb = fastread.read_statement(payload_of(a)), fastread.read_statement(payload_of(b))
    assert sa.predicate.gpus is sb.predicate.gpus
    assert same(sa, strict(payload_of(a))) and same(sb, strict(payload_of(b)))
    fastread.clear_cache()
    monkeypatch.setattr(fastread, "_LARGE_MAX_SPAN", 16)  # and too large to keep
    sa, sb = fastread.read_statement(payload_of(a)), fastread.read_statement(payload_of(b))
    assert sa.predicate.gpus is not sb.predicate.gpus and sa.predicate.gpus == sb.predicate.gpus
    fastread.clear_cache()


MUTATIONS: list[tuple[bytes, bytes]] = [
    # duplicate keys at every level (the first spelling is the attacker's, the last the real one)
    (b'{"_type":', b'{"predicateType":"x","_type":'),
    (b'"predicate":{"job":', b'"predicate":{"licenses":[{"kind":"license","id":"1"}],"job":'),
    (b'"job":{"id":', b'"job":{"id":"evil","id":'),
    (b'"freshness":{"issued_at":', b'"freshness":{"sequence":5,"issued_at":'),
    (b'"gpus":[{"index":0,', b'"gpus":[{"index":7,"index":0,'),
    (b'"tenant":{"legal_name":', b'"tenant":{"legal_name":"Evil Corp","legal_name":'),
    # whitespace, unknown members, order
    (b'"job":{"id":', b'"job": {"id":'),
    (b'{"_type":', b'{ "_type":'),
    (b'"tenant":{', b'"tenant":{"x":1,'),
    (b'"predicate":{', b'"predicate":{"x":1,'),
    (b'{"_type":', b'{"x":1,"_type":'),
    # numbers: NaN, out of range, other spellings of the same value
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":NaN'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":Infinity'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":1e999'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":31e23'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":3.1E+24'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":-1.0'),
    (b'"declared_training_ops":3.1e+24', b'"declared_training_ops":"3.1e24"'),
    (b'"index":0,', b'"index":0.0,'),
    (b'"index":0,', b'"index":true,'),
    # strings: escapes, timestamps, types
    (b'"scheduler":"slurm"', b'"scheduler":"\\u0073lurm"'),
    (b'"scheduler":"slurm"', b'"scheduler":"\\ud800"'),
    (b'"started_at":"2026-11-28T09:00:00Z"', b'"started_at":"2026-11-28T09:00:00+00:00"'),
    (b'"started_at":"2026-11-28T09:00:00Z"', b'"started_at":"2026-11-28T09:00:00z"'),
    (b'"started_at":"2026-11-28T09:00:00Z"', b'"started_at":"2026-11-28 09:00:00Z"'),
    (b'"started_at":"2026-11-28T09:00:00Z"', b'"started_at":"2026-11-28T09:00:00"'),
    (b'"phase":"start"', b'"phase":"begin"'),
    (b'"country":"MY"', b'"country":"XX"'),
    # statement level
    (
        b'"predicateType":"https://compute-attest.dev/workload-manifest/v1"',
        b'"predicateType":"https://example/v2"',
    ),
    (b'"_type":"https://in-toto.io/Statement/v1"', b'"_type":"https://in-toto.io/Statement/v0.1"'),
    (b',"licenses":[]', b""),
]


def test_mutations_read_the_same_or_are_refused_alike() -> None:
    base = payload_of(trusted_node().manifest())
    for old, new in MUTATIONS:
        assert old in base, old
        p = base.replace(old, new, 1)
        s, f = strict(p), fast(p)
        assert same(f, s), new
        assert same(fast(p), s)  # and again, with whatever the first read cached


def test_other_spellings_at_the_two_split_levels_leave_the_fast_path() -> None:
    base = payload_of(trusted_node().manifest())
    for old, new in MUTATIONS[:2] + MUTATIONS[7:8] + MUTATIONS[9:11]:
        assert not took_fast_path(base.replace(old, new, 1)), new
    # inside a member, a repeated key is refused by the member's strict parse
    for old, new in MUTATIONS[2:6]:
        p = base.replace(old, new, 1)
        assert strict(p) is None and fast(p) is None, new


def test_duplicate_gpu_and_disordered_times_are_refused_by_both() -> None:
    m = trusted_node().manifest()
    p = payload_of(m)
    first, second = m.gpus[0].uuid.encode(), m.gpus[1].uuid.encode()
    twice = p.replace(second, first)
    assert strict(twice) is None and fast(twice) is None
    backwards = p.replace(
        b'"started_at":"2026-11-28T09:00:00Z"', b'"started_at":"2026-11-29T09:00:00Z"', 1
    ).replace(b'"phase":"start"', b'"phase":"end","ended_at":"2026-11-28T10:00:00Z"', 1)
    assert strict(backwards) is None and fast(backwards) is None


def test_random_byte_mutations_agree() -> None:
    rng = random.Random(20261128)
    payloads = [payload_of(m) for m in manifests()[:3]]
    alphabet = b'{}[]":,0123456789.eE+-aZ \\/tnfu\x80\xc3\xff'  # bytes that are not UTF-8 too
    agreed = accepted = 0
    for i in range(1500):
        p = bytearray(payloads[i % len(payloads)])
        for _ in range(rng.randrange(1, 3)):
            pos = rng.randrange(len(p))
            op = rng.randrange(3)
            if op == 0:
                p[pos] = rng.choice(alphabet)
            elif op == 1:
                p.insert(pos, rng.choice(alphabet))
            else:
                del p[pos]
        data = bytes(p)
        s, f = strict(data), fast(data)
        assert same(f, s), data[:200]
        agreed += 1
        accepted += s is not None
    assert agreed == 1500 and 0 < accepted < 1500  # both outcomes were exercised


def test_bad_utf8_and_deep_nesting_at_every_level_are_refused_by_both_never_raised() -> None:
    base = payload_of(trusted_node().manifest())
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = [
        base.replace(b'"_type":"', b'"_type":"\xff', 1),  # top level
        base.replace(b'"legal_name":"', b'"legal_name":"\xc3', 1),  # inside a cached member
        base.replace(b'"scheduler":"', b'"scheduler":"\x80', 1),  # inside a fresh member
        base.replace(b'"subject":', b'"subject":' + deep + b',"x":', 1),
        base.replace(b'"tenant":', b'"tenant":' + deep + b',"y":', 1),
        base.replace(b'"job":{', b'"job":{"z":' + deep + b",", 1),
    ]
    for p in cases:
        assert p != base
        assert strict(p) is None and fast(p) is None, p[:80]


def test_oversize_payloads_go_to_the_strict_reader_and_its_limit() -> None:
    p = payload_of(trusted_node().manifest())
    with pytest.raises(InputError, match="over the limit"):
        fastread.read_statement(p, max_bytes=len(p) - 1)


def test_construct_matches_model_construct_and_refuses_missing_fields() -> None:
    values: dict[str, Any] = {
        "rule": "x.y",
        "severity": Severity.INFO,
        "message": "m",
        "evidence": {"a": 1},
        "remedy": None,
    }
    a, b = construct(Finding, dict(values)), Finding.model_construct(**values)
    assert a == b and a.model_fields_set == b.model_fields_set and a.to_obj() == b.to_obj()
    with pytest.raises(TypeError, match="fields"):
        construct(Finding, {"rule": "x.y"})


def test_manifest_digests_assembled_per_member_are_the_whole_encoding() -> None:
    from attest.crypto.canonical import canonical_json, json_digest
    from attest.sign import manifest_canonical, manifest_digest

    for m in manifests():
        read = fastread.read_statement(payload_of(m)).predicate  # members shared with the cache
        for _ in range(2):  # the second time from the member memo
            assert manifest_canonical(read) == canonical_json(m.to_obj())
            assert manifest_digest(read) == json_digest(m.to_obj())


def test_manifests_with_gpu_evidence_and_landmark_receipts_read_the_same(tmp_path: Path) -> None:
    from attest.hardware.simulated_cc import SimulatedCcBackend
    from tests.hardware.test_binding import bound_manifest
    from tests.location.test_verify_location import honest, with_receipts

    node = trusted_node()
    bound = bound_manifest(node, SimulatedCcBackend(tmp_path / "vendor"))
    measured = with_receipts(bound, honest(bound))
    for m in (bound, measured):
        p = payload_of(m)
        assert took_fast_path(p)
        for _ in range(2):
            got = fastread.read_statement(p)
            assert same(got, strict(p)) and got.predicate == m
        # a flipped hex digit inside a GPU's report or a receipt's signature changes the member's
        # bytes: the cache cannot hand back the validated original for it
        i = p.index(b'"report":"') + 20
        flipped = p[:i] + (b"0" if p[i : i + 1] != b"0" else b"1") + p[i + 1 :]
        got = fastread.read_statement(flipped).predicate
        assert got.gpus != m.gpus and same(fastread.read_statement(flipped), strict(flipped))
