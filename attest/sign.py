"""Turn a workload manifest into a signed in-toto statement in a DSSE envelope.

The statement's subjects are the workload: the job specification digest and
the container image digests in ``job``; a job that declares neither is named
by the digest of its canonical ``job`` object, so a statement is never about
nothing. The verifier re-derives the subjects and rejects a mismatch.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from attest._internal.memo import ByIdentity
from attest.crypto.canonical import SAFE_INTEGER, canonical_json, encode_string, encode_utf8, es6_number
from attest.crypto.dsse import pae, sign_payload
from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.model.base import construct, field_adapter, format_timestamp
from attest.model.manifest import PREDICATE_TYPE, Freshness, Job, LocationEvidence, WorkloadManifest
from attest.model.statement import PAYLOAD_TYPE_INTOTO, STATEMENT_TYPE, Envelope, Statement, Subject


def workload_subjects(manifest: WorkloadManifest, *, job_canonical: bytes | None = None) -> list[Subject]:
    """Return the in-toto subjects that name this manifest's workload.

    ``job_canonical``, when given, is ``canonical_job(manifest.job)`` already computed by the caller.
    """
    # Names and digests come from the validated job (ids and image names are within a
    # subject's limits, digests are lowercase hex), so no re-validation here.
    return [
        construct(Subject, {"name": name, "digest": {"sha256": digest}})
        for name, digest in workload_names(manifest, job_canonical=job_canonical)
    ]


def workload_names(
    manifest: WorkloadManifest, *, job_canonical: bytes | None = None
) -> list[tuple[str, str]]:
    """The (name, SHA-256 hex) pairs of :func:`workload_subjects`, without building the subjects."""
    return job_names(manifest.job, job_canonical=job_canonical)


def job_names(job: Job, *, job_canonical: bytes | None = None) -> list[tuple[str, str]]:
    """:func:`workload_names` of a manifest whose job is ``job`` (the names depend on it alone)."""
    named: list[tuple[str, str]] = []
    if job.spec_digest:
        named.append((f"job/{job.id}", job.spec_digest.removeprefix("sha256:")))
    for image in job.images:
        named.append((image.name, image.digest.removeprefix("sha256:")))
    if not named:
        encoded = job_canonical if job_canonical is not None else canonical_job(job)
        named.append((f"job/{job.id}", hashlib.sha256(encoded).hexdigest()))
    return named


def subjects_name_workload(
    subjects: Sequence[Subject], manifest: WorkloadManifest, *, job_canonical: bytes | None = None
) -> bool:
    """Whether ``subjects`` are exactly :func:`workload_subjects` of ``manifest``, in order.

    Each subject's digest must be that one SHA-256 and nothing else (as list equality with
    the built subjects says), compared without building them.
    """
    return subjects_name_job(subjects, manifest.job, job_canonical=job_canonical)


def subjects_name_job(subjects: Sequence[Subject], job: Job, *, job_canonical: bytes | None = None) -> bool:
    """:func:`subjects_name_workload` of a manifest whose job is ``job``."""
    named = job_names(job, job_canonical=job_canonical)
    if len(subjects) != len(named):
        return False
    for subject, (name, digest) in zip(subjects, named, strict=True):
        d = subject.digest
        if subject.name != name or len(d) != 1 or d.get("sha256") != digest:
            return False
    return True


def manifest_digest(manifest: WorkloadManifest, *, job: bytes | None = None) -> str:
    """Return ``sha256:<hex>`` of the manifest's canonical JSON: the next manifest's ``previous``.

    ``job``, when given, is ``canonical_job(manifest.job)`` already computed by the caller.
    """
    digest = _DIGESTS.get(manifest)
    if digest is None:
        job_bytes = job if job is not None else canonical_job(manifest.job)
        digest = framed_digest(manifest_frame(manifest), manifest.freshness, job_bytes)
        _DIGESTS.put(digest, manifest)
    return digest


def framed_digest(
    frame: tuple[bytes, bytes, bytes], freshness: Freshness, job: bytes, *, wire: Any = None
) -> str:
    """:func:`manifest_digest` of the manifest whose text around freshness and job is ``frame``.

    ``frame`` is :func:`manifest_frame` of a manifest with the same other members; ``job`` is
    ``canonical_job`` of its job; ``wire`` is the Struct ``freshness`` was read from, if any.
    """
    h = hashlib.sha256(frame[0])
    h.update(canonical_freshness(freshness, wire))
    h.update(frame[1])
    h.update(job)
    h.update(frame[2])
    return "sha256:" + h.hexdigest()


def manifest_canonical(manifest: WorkloadManifest, *, job: bytes | None = None) -> bytes:
    """The manifest's RFC 8785 encoding: ``canonical_json(manifest.to_obj())``, assembled per member.

    Every member of a manifest is always present (none is optional), so the encoding is the
    members' encodings in sorted order: ``{"freshness":…,"gpus":…,"job":…,"licenses":…,…}``.
    Around the two members that change in every manifest (freshness and job) the text is a
    frame kept per set of member objects (the verifier's fast reader shares a node's repeating
    members between its manifests, so a node's frame is written once).
    """
    frame = manifest_frame(manifest)
    job_bytes = job if job is not None else canonical_job(manifest.job)
    return frame[0] + canonical_freshness(manifest.freshness) + frame[1] + job_bytes + frame[2]


def manifest_frame(manifest: WorkloadManifest) -> tuple[bytes, bytes, bytes]:
    """The manifest's canonical text around its freshness and job: (before, between, after).

    Kept by the identity of every other member object (each one in the key: a frame is a
    function of all of them), which the memo holds so that no other object takes their ids.
    """
    members = _FRAMED_MEMBERS(manifest)
    frame = _FRAMES.get(*members)
    if frame is None:
        pieces: list[bytes] = []
        text = b"{"
        for name, wire in _MEMBERS:
            text += (b"" if text == b"{" else b",") + b'"' + wire + b'":'
            if name in _VARYING:
                pieces.append(text)
                text = b""
            else:
                text += _member_canonical(name, getattr(manifest, name))
        pieces.append(text + b"}")
        frame = (pieces[0], pieces[1], pieces[2])
        _FRAMES.put(frame, *members)
    return frame


def _member_canonical(name: str, value: object) -> bytes:
    """RFC 8785 of one manifest member other than job and freshness (kept per member object)."""
    cached = _ENCODED.get(value)
    if cached is None:
        cached = canonical_json(
            _MEMBER_ADAPTERS[name].dump_python(value, mode="json", by_alias=True, exclude_none=True)
        )
        _ENCODED.put(cached, value)
    return cached


# The two members that change in every manifest, encoded straight from their fields in
# RFC 8785 form (what ``canonical_json(member.to_obj())`` gives; a differential test over
# random members says so). A model whose fields are not the ones written for here is
# encoded the general way.
_JOB_FIELDS = (
    "id",
    "scheduler",
    "phase",
    "started_at",
    "ended_at",
    "declared_training_ops",
    "spec_digest",
    "images",
)
_FRESHNESS_FIELDS = ("issued_at", "expires_at", "nonce", "sequence", "previous")
_JOB_KEYS = frozenset(_JOB_FIELDS)
_FRESHNESS_KEYS = frozenset(_FRESHNESS_FIELDS)
_IMAGE_KEYS = frozenset(("name", "digest"))


def _number(value: object) -> str:
    if type(value) is float and math.isfinite(value):
        return _es6(value)
    if type(value) is int and -SAFE_INTEGER <= value <= SAFE_INTEGER:
        return str(value)
    raise _General


# A node's manifests repeat their declared operations; equal finite doubles format alike (0.0 and -0.0: "0").
_es6 = functools.lru_cache(maxsize=256)(es6_number)


class _General(Exception):
    """A value the direct encoders do not write; the general encoder decides."""


def _stamp(value: datetime, text: object) -> str:
    """``format_timestamp(value)``; ``text`` when it is that already (read from the wire, in the one UTC form)."""
    if type(text) is str and len(text) == 20 and text[10] == "T" and text[19] == "Z":
        return text  # the value was parsed from this text, which is what format_timestamp writes for it
    return format_timestamp(value)


def canonical_job(job: Job, wire: Any = None) -> bytes:
    """``canonical_json(job.to_obj())``: the job's RFC 8785 encoding, written from its fields.

    ``wire``: the decoded Struct the job was read from, whose timestamp texts are reused.
    """
    d = job.__dict__
    if d.keys() != _JOB_KEYS or type(d["phase"]) is not str:
        return canonical_json(job.to_obj())
    try:
        ops, ended, spec, started = (
            d["declared_training_ops"],
            d["ended_at"],
            d["spec_digest"],
            d["started_at"],
        )
        images = []
        for image in d["images"]:
            if image.__dict__.keys() != _IMAGE_KEYS:
                raise _General
            images.append(f'{{"digest":{encode_string(image.digest)},"name":{encode_string(image.name)}}}')
        text = (
            ("{" if ops is None else f'{{"declared_training_ops":{_number(ops)},')
            + ("" if ended is None else f'"ended_at":"{_stamp(ended, wire and wire.ended_at)}",')
            + f'"id":{encode_string(d["id"])},"images":[{",".join(images)}],"phase":{encode_string(d["phase"])},'
            + f'"scheduler":{encode_string(d["scheduler"])}'
            + ("" if spec is None else f',"spec_digest":{encode_string(spec)}')
            + ("}" if started is None else f',"started_at":"{_stamp(started, wire and wire.started_at)}"}}')
        )
    except (_General, TypeError, AttributeError):  # not what a validated job holds
        return canonical_json(job.to_obj())
    return encode_utf8(text)


def canonical_freshness(freshness: Freshness, wire: Any = None) -> bytes:
    """``canonical_json(freshness.to_obj())``, written from its fields.

    ``wire``: the decoded Struct the freshness was read from, whose timestamp texts are reused.
    """
    d = freshness.__dict__
    if d.keys() != _FRESHNESS_KEYS:
        return canonical_json(freshness.to_obj())
    try:
        previous = d["previous"]
        text = (
            f'{{"expires_at":"{_stamp(d["expires_at"], wire and wire.expires_at)}",'
            f'"issued_at":"{_stamp(d["issued_at"], wire and wire.issued_at)}"'
            f',"nonce":{encode_string(d["nonce"])}'
            + ("" if previous is None else f',"previous":{encode_string(previous)}')
            + f',"sequence":{_number(d["sequence"])}}}'
        )
    except (_General, TypeError):  # not what a validated freshness holds
        return canonical_json(freshness.to_obj())
    return encode_utf8(text)


_DIGESTS: ByIdentity[str] = ByIdentity(1024)
_ENCODED: ByIdentity[bytes] = ByIdentity(1024)
_FRAMES: ByIdentity[tuple[bytes, bytes, bytes]] = ByIdentity(256)


def clear_digests() -> None:
    """Forget the remembered manifest digests, member encodings and frames (they never change a result)."""
    _DIGESTS.clear()
    _ENCODED.clear()
    _FRAMES.clear()


_MEMBER_ADAPTERS = {name: field_adapter(info) for name, info in WorkloadManifest.model_fields.items()}
# RFC 8785 orders members by UTF-16 code units; these names are ASCII, so by their bytes.
_MEMBERS = sorted(
    ((name, (info.alias or name).encode("ascii")) for name, info in WorkloadManifest.model_fields.items()),
    key=lambda item: item[1],
)
# The members that change in every manifest, in that order; the frame around them is kept.
_VARYING = ("freshness", "job")
_FRAMED = tuple(name for name, _ in _MEMBERS if name not in _VARYING)
assert tuple(name for name, _ in _MEMBERS if name in _VARYING) == _VARYING
_FRAMED_MEMBERS = operator.attrgetter(*_FRAMED)  # more than one name: a tuple


def build_statement(manifest: WorkloadManifest) -> Statement:
    """Wrap a manifest into an in-toto Statement v1 about its workload."""
    return Statement(
        type=STATEMENT_TYPE,
        subject=workload_subjects(manifest),
        predicate_type=PREDICATE_TYPE,
        predicate=manifest,
    )


def sign_manifest(manifest: WorkloadManifest, keys: SigningKey | Sequence[SigningKey]) -> Envelope:
    """Sign a manifest; the first key must be the node key the manifest names.

    Raises:
        InputError: when ``manifest.node.key_id`` is not the first key's id, which
            the verifier would reject anyway.
    """
    key_list = [keys] if isinstance(keys, SigningKey) else list(keys)
    if not key_list:
        raise InputError("at least one signing key is needed")
    if manifest.node.key_id != key_list[0].key_id:
        raise InputError(
            f"manifest names node key {manifest.node.key_id[:16]}… but is signed with {key_list[0].key_id[:16]}…",
            hint="build the manifest with the same key (attest manifest --key KEY)",
        )
    payload = build_statement(manifest).model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
    return sign_payload(payload, PAYLOAD_TYPE_INTOTO, key_list)


class TemplateSigner:
    """Signs many manifests that differ only in ``job``, ``freshness`` and ``location_evidence``.

    A node daemon signs thousands of manifests whose tenant, site, node and GPU blocks
    repeat. The template is validated once; each manifest is the template with a
    validated job and freshness swapped in (no re-validation of the rest), and its
    canonical digest is assembled from the cached RFC 8785 encodings of the members
    that did not change — byte for byte what :func:`manifest_digest` computes.
    """

    def __init__(self, template: WorkloadManifest, key: SigningKey) -> None:
        if template.node.key_id != key.key_id:
            raise InputError("the template names another node key than the signing key")
        self.template = template
        self.key = key
        # (member name, its '"name":', the template's value, that value's encoding), in RFC 8785 order
        self._members = [
            (
                name,
                b'"' + wire + b'":',
                getattr(template, name),
                b"" if name in ("job", "freshness") else _member_canonical(name, getattr(template, name)),
            )
            for name, wire in _MEMBERS
        ]
        self._head = b'{"_type":"' + STATEMENT_TYPE.encode() + b'","predicate":'
        self._middle = b',"predicateType":"' + PREDICATE_TYPE.encode() + b'","subject":'
        # between the payload's and the signature's base64 in the envelope file
        self._between = (
            b'","payloadType":"'
            + PAYLOAD_TYPE_INTOTO.encode()
            + b'","signatures":[{"keyid":"'
            + key.key_id.encode("ascii")
            + b'","sig":"'
        )

    def manifest(
        self,
        job: Job,
        freshness: Freshness,
        location_evidence: LocationEvidence | None = None,
    ) -> WorkloadManifest:
        """The template with this job and freshness (both already validated models)."""
        update: dict[str, object] = {"job": job, "freshness": freshness}
        if location_evidence is not None:
            update["location_evidence"] = location_evidence
        return self.template.model_copy(update=update)

    def _canonical(self, manifest: WorkloadManifest) -> tuple[bytes, bytes]:
        """(canonical manifest, canonical job); the template's members are encoded once.

        ``manifest_canonical(manifest)`` exactly: job and freshness are encoded for each
        manifest, and a member that is not the template's own object (location evidence
        with fresh receipts) is encoded like any other.
        """
        job = canonical_job(manifest.job)
        parts = []
        for name, prefix, fixed, encoded in self._members:
            if name == "job":
                parts.append(prefix + job)
            elif name == "freshness":
                parts.append(prefix + canonical_freshness(manifest.freshness))
            else:
                value = getattr(manifest, name)
                parts.append(prefix + (encoded if value is fixed else _member_canonical(name, value)))
        return b"{" + b",".join(parts) + b"}", job

    def digest(self, manifest: WorkloadManifest) -> str:
        """``manifest_digest(manifest)``, from the cached parts."""
        return "sha256:" + hashlib.sha256(self._canonical(manifest)[0]).hexdigest()

    def sign(self, manifest: WorkloadManifest) -> Envelope:
        """Sign like :func:`sign_manifest` (same statement; its payload is the canonical encoding)."""
        return self.sign_with_digest(manifest)[0]

    def sign_with_digest(self, manifest: WorkloadManifest) -> tuple[Envelope, str]:
        """The envelope and the manifest digest, sharing one canonical encoding of the manifest.

        The payload is the statement's RFC 8785 encoding, assembled from the manifest's:
        ``{"_type":…,"predicate":<manifest>,"predicateType":…,"subject":[…]}``. Subjects are
        :func:`workload_subjects` exactly (the job's canonical digest when it names no spec
        or image).
        """
        payload, digest = self._payload(manifest)
        return sign_payload(payload, PAYLOAD_TYPE_INTOTO, [self.key]), digest

    def encode_with_digest(self, manifest: WorkloadManifest) -> tuple[bytes, str]:
        """``encode_envelope(envelope)`` and the digest of :meth:`sign_with_digest`, written directly.

        The envelope file is assembled as bytes (RFC 8785: ``payload``, ``payloadType``,
        ``signatures`` with ``keyid`` and ``sig``; every value plain ASCII) instead of
        through the envelope models and the JSON encoder: what the daemon writes per request.
        """
        payload, digest = self._payload(manifest)
        sig = self.key.sign(pae(PAYLOAD_TYPE_INTOTO, payload))
        return (
            b'{"payload":"' + base64.b64encode(payload) + self._between + base64.b64encode(sig) + b'"}]}\n',
            digest,
        )

    def _payload(self, manifest: WorkloadManifest) -> tuple[bytes, str]:
        canon, job = self._canonical(manifest)
        if manifest.job.spec_digest or manifest.job.images:
            subjects = canonical_json([s.to_obj() for s in workload_subjects(manifest)])
        else:  # [{"digest":{"sha256":…},"name":"job/<id>"}], keys in RFC 8785 order
            subjects = encode_utf8(
                '[{"digest":{"sha256":"'
                + hashlib.sha256(job).hexdigest()
                + '"},"name":'
                + encode_string("job/" + manifest.job.id)
                + "}]"
            )
        payload = self._head + canon + self._middle + subjects + b"}"
        return payload, "sha256:" + hashlib.sha256(canon).hexdigest()
