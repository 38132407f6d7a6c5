"""``attest demo``: the whole story on simulated GPUs, in a temporary directory, in seconds.

Three nodes of an operator (Johor, Singapore, Ashburn) get keys, and every
node's GPUs vouch for its key with attestation reports from a simulated GPU
vendor (NVIDIA's certificate shape, its own root), over a challenge the auditor
signed (so the binding is dated), with the vendor's OCSP answers attached. An
auditor trusts each key for its own site only and pins the vendor root. Each node signs a job
``start`` and a ``heartbeat`` manifest (chained by ``previous``); the auditor
verifies them all, graded ``hardware-bound``. The Johor node then measures
itself against two landmarks of independent operators (real UDP round trips):
its key answers each challenge, and so do its GPUs, each signing a report over
a nonce derived from the challenge (the simulated GPUs take 30 ms a report, as
real ones take tens of ms). With the report-time floor calibrated on these GPUs
(``attest gpu time-report``) its manifest is graded ``measured``: China, Hong
Kong and Macau are ruled out for the GPUs themselves by the speed of light;
with the bundled floor of 0 the 30 ms reach ~4,500 km and only the key's answers
rule the area out (``key-measured``). Then the attacks: one byte of an
envelope flipped, an envelope replayed, a node going back in its sequence, a
node claiming a site outside its key's scope, a node presenting another
node's GPUs and their evidence, H100s re-declared as H20s, one set of GPUs bound
to a second node's key under new UUIDs, landmark receipts moved to another
manifest, a copy of the Johor key answering next to the landmarks while the GPU
challenges are relayed to the real GPUs far away (refused by a policy that
requires ``measured``), and an expired manifest. Each must fail, with the
finding that says why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attest.build import build_manifest
from attest.cli.common import HelpFormatter, add_format
from attest.cli.keys import PRIVATE_NAME, PUBLIC_NAME, generate_key_pair
from attest.crypto.dsse import encode_envelope
from attest.crypto.keys import SigningKey, load_signing_key, load_verifying_key
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.hardware import SimulatedGpuSource
from attest.hardware.binding import NodeBinding, SimulatedCcSource, attach, bind
from attest.hardware.catalog import Catalog, bundled_catalog
from attest.hardware.cc import ChainCache
from attest.hardware.freshness import issue_challenge
from attest.hardware.rim import DirectoryRims, RimAppraiser
from attest.hardware.simulated_cc import DEFAULT_REPORT_MS, SimulatedCcBackend
from attest.hardware.timing import time_reports
from attest.location.landmark import LandmarkServer
from attest.location.prover import measure, measure_timed
from attest.model.location import Landmark, LandmarkRegistry
from attest.model.manifest import Gpu, Job, LocationEvidence, Operator, Site, Tenant, WorkloadManifest
from attest.model.result import Status, VerificationResult
from attest.policy.engine import load_policy
from attest.replay import SqliteVerifierState
from attest.sign import manifest_digest, sign_manifest
from attest.verify import VerifyOptions, verify_envelope, verify_many

OPERATOR = Operator(name="Example Cloud Sdn. Bhd.", country="MY")
TENANT = Tenant.from_obj(
    {
        "legal_name": "Example Robotics Inc.",
        "headquarters_country": "US",
        "ultimate_parent": {"legal_name": "Example Holdings Inc.", "headquarters_country": "US"},
    }
)
NODES = [
    (
        "jhb-gpu-01",
        "h100",
        Site(
            facility_id="jhb-2",
            name="Johor DC 2",
            country="MY",
            latitude=1.6561,
            longitude=103.6032,
            accuracy=500,
        ),
    ),
    (
        "sgp-gpu-07",
        "h200",
        Site(
            facility_id="sin-1",
            name="Singapore DC 1",
            country="SG",
            latitude=1.3521,
            longitude=103.8198,
            accuracy=500,
        ),
    ),
    (
        "iad-gpu-03",
        "b200",
        Site(
            facility_id="iad-4",
            name="Ashburn DC 4",
            country="US",
            latitude=39.0438,
            longitude=-77.4874,
            accuracy=500,
        ),
    ),
]


# us-ear, with every site required to reach measured: the grade a copy of the key cannot earn.
STRICT_POLICY = """id = "demo-measured"
version = "1"
title = "us-ear, measured location required everywhere"
effective = 2026-01-01
extends = ["us-ear"]

[[rules]]
id = "evidence_strength"
kind = "evidence_strength"
groups = ["*"]
min_grade = "measured"
override = "the demo requires measured everywhere: the grade a copy of the key cannot earn"
"""


class _Relayed(SimulatedCcSource):
    """GPUs reached over a relay: every report comes back ``delay_s`` later (the network there and back)."""

    def __init__(self, inner: SimulatedCcSource, *, delay_s: float) -> None:
        super().__init__(inner.backend)
        self.delay_s = delay_s

    def attest(self, gpu: Gpu, nonce: bytes) -> tuple[bytes, bytes]:
        """The real GPU's report, after the relay's round trip."""
        time.sleep(self.delay_s)
        return super().attest(gpu, nonce)


@dataclass
class Case:
    """One thing the demo shows, what it expects and what it got."""

    title: str
    expect: Status
    result: VerificationResult

    grade: str | None = None
    rule: str | None = None
    """The finding that must say why (an attack refused for another reason is not shown refused)."""

    @property
    def ok(self) -> bool:
        """Whether the result is the expected one, for the expected reason."""
        return (
            self.result.status is self.expect
            and (self.grade is None or self.result.location_grade == self.grade)
            and (self.rule is None or any(f.rule == self.rule for f in self.result.findings))
        )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the verb."""
    p = sub.add_parser(
        "demo",
        help="sign and verify manifests of a simulated fleet, then show attacks fail",
        description=__doc__,
        epilog="example:\n  attest demo\n  attest demo --keep ./demo-out   # keep keys, trust store and envelopes",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--keep", metavar="DIR", help="write the demo's files here and keep them")
    add_format(p)
    p.set_defaults(func=run_demo)


def _manifest(
    host: str,
    preset: str,
    site: Site,
    key_id: str,
    now: datetime,
    after: WorkloadManifest | None,
    phase: str,
    binding: NodeBinding | None = None,
) -> WorkloadManifest:
    evidence = SimulatedGpuSource(preset, seed=host, hostname=host).read()
    if binding is not None:
        evidence = evidence.model_copy(update={"gpus": attach(evidence.gpus, binding, key_id)})
    job = Job.from_obj(
        {
            "id": f"slurm-{48211 + len(host)}",
            "scheduler": "slurm",
            "phase": phase,
            "started_at": now,
            "declared_training_ops": 3.1e24,
        }
    )
    return build_manifest(
        evidence=evidence,
        site=site,
        tenant=TENANT,
        operator=OPERATOR,
        job=job,
        node_key_id=key_id,
        now=now,
        after=after,
    )


def run_scenario(workdir: Path, now: datetime) -> list[Case]:
    """Run the demo in ``workdir``; return every case with its result."""
    vendor = SimulatedCcBackend(workdir / "sim-vendor")  # plays NVIDIA: its root must be pinned
    # The auditor issues the challenge every binding names, so it knows how old each binding is.
    generate_key_pair(workdir / "challenger")
    challenger = load_signing_key(workdir / "challenger" / PRIVATE_NAME)
    trust = TrustStore().with_challenger(challenger.public, comment="the auditor's binding challenges")
    challenge = issue_challenge(challenger, now=now - timedelta(minutes=5))
    (workdir / "challenge.json").write_text(challenge.to_json())
    bindings: dict[str, NodeBinding] = {}
    last: dict[str, WorkloadManifest] = {}
    envelopes: list[tuple[str, bytes]] = []
    starts: dict[str, WorkloadManifest] = {}
    for host, preset, site in NODES:
        key_dir = workdir / "nodes" / host
        generate_key_pair(key_dir)
        key = load_signing_key(key_dir / PRIVATE_NAME)
        gpus = SimulatedGpuSource(preset, seed=host, hostname=host).read().gpus
        # Each GPU vouches for the key over the challenge; the vendor's OCSP answers ride along.
        bindings[host] = bind(gpus, key.public, SimulatedCcSource(vendor), challenge=challenge)
        (key_dir / "binding.json").write_text(bindings[host].to_json())
        trust = trust.with_key(
            load_verifying_key(key_dir / PUBLIC_NAME),
            operator=OPERATOR.name,
            sites=[site.facility_id],
            countries=[site.country],
            not_after=now + timedelta(days=365),
        )
        start = _manifest(host, preset, site, key.key_id, now, None, "start", bindings[host])
        starts[host] = start
        beat = _manifest(
            host, preset, site, key.key_id, now + timedelta(seconds=30), start, "heartbeat", bindings[host]
        )
        last[host] = beat
        for m in (start, beat):
            data = encode_envelope(sign_manifest(m, key))
            name = f"{host}-{m.freshness.sequence}.envelope.json"
            (workdir / name).write_bytes(data)
            envelopes.append((name, data))
    trust.save(workdir / "trust.json")
    vendor.publish_rims(workdir / "rims")  # the vendor's golden measurements, like NVIDIA's RIM service

    state = SqliteVerifierState(workdir / "verifier.db")
    at = now + timedelta(seconds=45)
    options = VerifyOptions(
        cc_root=vendor.root_pem,
        cc_root_sha256=vendor.root_sha256,
        cc_cache=ChainCache(),
        rims=RimAppraiser(
            DirectoryRims(workdir / "rims"), vendor.rim_root_pem, pinned_root_sha256=vendor.rim_root_sha256
        ),
    )
    cases = [
        Case(f"{name}: genuine, {r.location_grade}", Status.AFFIRMING, r, grade="hardware-bound")
        for (name, _), r in zip(
            envelopes,
            verify_many(envelopes, trust, now=at, nonces=state, chains=state, options=options, devices=state),
            strict=True,
        )
    ]

    # Location: two landmarks of independent operators next to the Johor site (real UDP on
    # loopback, so round trips of well under a millisecond: disks ~100 km wide). The Johor node
    # answers each with its key, and again with its GPUs (30 ms a report); the auditor trusts the
    # landmark registry and a chip catalog whose Hopper floor was calibrated on these GPUs.
    host, preset, site = NODES[0]
    key = load_signing_key(workdir / "nodes" / host / PRIVATE_NAME)
    gpus = SimulatedGpuSource(preset, seed=host, hostname=host).read().gpus
    gpu_time = SimulatedCcSource(SimulatedCcBackend(workdir / "sim-vendor", report_ms=DEFAULT_REPORT_MS))
    floor_ms = time_reports(gpus, gpu_time, rounds=3).suggested_floor_ms()
    calibrated = Catalog(
        bundled_catalog().document.model_copy(update={"report_time_floor_ms": {"Hopper": floor_ms}})
    )
    registry, addresses, stops = [], [], []
    located = _manifest(
        host, preset, site, key.key_id, now + timedelta(seconds=40), last[host], "heartbeat", bindings[host]
    )
    for lm_id, operator, dlat in (
        ("jhb-lm-a", "Landmark Operator A", 0.05),
        ("jhb-lm-b", "Landmark Operator B", -0.04),
    ):
        lm_key = SigningKey.generate()
        address, stop = LandmarkServer(lm_id, lm_key).serve_in_thread()
        stops.append(stop)
        addresses.append(address)
        registry.append(
            Landmark(
                id=lm_id,
                latitude=site.latitude + dlat,
                longitude=site.longitude,
                public_key=lm_key.public.spki_b64(),
                operator=operator,
                address=f"{address[0]}:{address[1]}",
            )
        )

    def locate(nonce: str, source: SimulatedCcSource, rounds: int) -> LocationEvidence:
        receipts, reports = [], []
        for address in addresses:
            receipts.append(measure(address, key, nonce, rounds=3))
            # The fastest of several rounds: a busy host's scheduling delay only ever adds.
            timed = measure_timed(address, key, nonce, gpus, source, rounds=rounds)
            receipts.append(timed.receipt)
            reports.extend(timed.timed_reports())
        return LocationEvidence(receipts=receipts, gpu_reports=reports)

    landmarks = LandmarkRegistry(landmarks=registry)
    (workdir / "landmarks.json").write_text(landmarks.to_json())
    options = replace(options, landmarks=landmarks)
    unlocated = located
    for _attempt in range(3):
        # A node whose host was too busy to answer in time measures again (as its daemon would):
        # scheduling delay only ever adds to a round trip, so a slow try proves less, never more.
        evidence = locate(unlocated.freshness.nonce, gpu_time, 20)
        located = unlocated.model_copy(update={"location_evidence": evidence})
        raw_located = encode_envelope(sign_manifest(located, key))
        probe = verify_envelope(raw_located, trust, now=at, options=options, catalog=calibrated)
        if probe.location_grade == "measured":
            break
    (workdir / f"{host}-{located.freshness.sequence}.envelope.json").write_bytes(raw_located)
    r = verify_envelope(
        raw_located,
        trust,
        now=at,
        nonces=state,
        chains=state,
        options=options,
        source=f"{host} (landmarks)",
        catalog=calibrated,
        devices=state,
    )
    cases.append(
        Case(
            f"{host}: its GPUs answered the landmarks (report floor {floor_ms} ms, calibrated): {r.location_grade}",
            Status.AFFIRMING,
            r,
            grade="measured",
        )
    )
    r = verify_envelope(raw_located, trust, now=at, options=options, source=f"{host} (landmarks, floor 0)")
    cases.append(
        Case(
            f"{host}: the same with the bundled floor of 0 ms (30 ms of report time reach ~4,500 km): "
            f"{r.location_grade}",
            Status.AFFIRMING,
            r,
            grade="key-measured",
        )
    )
    last[host] = located

    # A copy of the Johor key next to each landmark answers the key-only challenges at once and
    # relays the GPU challenges to the real GPUs, ~2,600 km away in Shenzhen (~40 ms of fibre
    # there and back): an auditor whose policy requires measured refuses it.
    far = _manifest(
        host, preset, site, key.key_id, now + timedelta(seconds=42), last[host], "heartbeat", bindings[host]
    )
    relayed = locate(far.freshness.nonce, _Relayed(gpu_time, delay_s=0.040), 3)
    far = far.model_copy(update={"location_evidence": relayed})
    raw_far = encode_envelope(sign_manifest(far, key))
    (workdir / "strict.toml").write_text(STRICT_POLICY)
    r = verify_envelope(
        raw_far,
        trust,
        now=at,
        nonces=state,
        chains=state,
        options=options,
        source=f"{host} (key copy relay)",
        catalog=calibrated,
        devices=state,
        policy=load_policy(str(workdir / "strict.toml")),
    )
    why = next((f.message for f in r.findings if f.rule == "location.key_measured"), "")
    cases.append(
        Case(
            f"a copy of the {host} key answers next to the landmarks, the GPUs are far: {r.location_grade} "
            f"(location.key_measured: {why[:110]}…)",
            Status.WARNING,
            r,
            grade="key-measured",
            rule="location.key_measured",
        )
    )
    last[host] = far
    for stop in stops:
        stop.set()
    receipts = list(evidence.receipts)

    def attack(title: str, raw: bytes, source: str, rule: str) -> None:
        """Judge an attacker's envelope against the same auditor state; it must fail, with ``rule``."""
        result = verify_envelope(
            raw, trust, now=at, nonces=state, chains=state, source=source, options=options, devices=state
        )
        cases.append(Case(title, Status.CONTRAINDICATED, result, rule=rule))

    name, data = envelopes[0]
    flipped = bytearray(data)
    # One payload character for another base64 character: the envelope still decodes, and only the
    # signature can tell (flipping a bit could make it undecodable, which is refused for another reason).
    middle = len(flipped) // 2
    flipped[middle] = ord("B") if flipped[middle] != ord("B") else ord("C")
    attack("one byte flipped in an envelope", bytes(flipped), f"{name} (tampered)", "signature.invalid")
    # A replay: another manifest reusing a nonce the node already used. (The same bytes again are
    # the same manifest, not a replay: verified again, they keep the verdict they had.)
    reused = _manifest(host, preset, site, key.key_id, at, None, "heartbeat")
    reused = reused.model_copy(
        update={"freshness": reused.freshness.model_copy(update={"nonce": starts[host].freshness.nonce})}
    )
    attack(
        "a nonce replayed in another manifest",
        encode_envelope(sign_manifest(reused, key)),
        f"{host} (replayed nonce)",
        "freshness.nonce_reused",
    )

    rollback = _manifest(host, preset, site, key.key_id, at, None, "start")
    attack(
        f"{host} signs sequence 0 again",
        encode_envelope(sign_manifest(rollback, key)),
        f"{host} (rollback)",
        "chain.sequence_rollback",
    )

    far_site = NODES[2][2]
    claim = _manifest(host, preset, far_site, key.key_id, at, None, "start")
    chained = claim.freshness.model_copy(update={"sequence": 2, "previous": manifest_digest(rollback)})
    claim = claim.model_copy(update={"freshness": chained})
    attack(
        f"{host} claims to be in {far_site.country}",
        encode_envelope(sign_manifest(claim, key)),
        f"{host} (false site)",
        "trust.scope_site",
    )

    thief_host, _, thief_site = NODES[1]
    thief_key = load_signing_key(workdir / "nodes" / thief_host / PRIVATE_NAME)
    taken = _manifest(thief_host, "h100", thief_site, thief_key.key_id, at, last[thief_host], "heartbeat")
    taken = taken.model_copy(update={"gpus": last[host].gpus})  # another node's GPUs, with their evidence
    attack(
        f"{thief_host} shows {host}'s GPU evidence",
        encode_envelope(sign_manifest(taken, thief_key)),
        f"{thief_host} (borrowed GPUs)",
        "hardware.cc.nonce_mismatch",
    )

    # Genuine H100 reports, the GPUs re-declared as H20s (a chip with lighter controls).
    as_h20 = _manifest(host, preset, site, key.key_id, at, claim, "heartbeat", bindings[host])
    h20_gpus = [
        g.model_copy(
            update={
                "name": "NVIDIA H20",
                "pci": g.pci.model_copy(update={"device_id": "0x232910de"}),
                "classification": None,
            }
        )
        for g in as_h20.gpus
    ]
    as_h20 = as_h20.model_copy(update={"gpus": h20_gpus})
    attack(
        f"{host} declares its H100s as H20s",
        encode_envelope(sign_manifest(as_h20, key)),
        f"{host} (re-declared chips)",
        "hardware.model_mismatch",
    )

    # The same GPUs bound to a second node's key, declared there under new UUIDs.
    johor_gpus = SimulatedGpuSource(preset, seed=host, hostname=host).read().gpus
    second = bind(johor_gpus, thief_key.public, SimulatedCcSource(vendor), challenge=challenge)
    renamed = {
        g.uuid: f"GPU-{hashlib.sha256(g.uuid.encode()).hexdigest()[:8]}-0000-4000-8000-{g.uuid[-12:]}"
        for g in johor_gpus
    }
    second = second.model_copy(
        update={"gpus": [b.model_copy(update={"uuid": renamed[b.uuid]}) for b in second.gpus]}
    )
    shared = _manifest(thief_host, "h100", thief_site, thief_key.key_id, at, taken, "heartbeat")
    shared = shared.model_copy(
        update={
            "gpus": attach(
                [g.model_copy(update={"uuid": renamed[g.uuid]}) for g in johor_gpus], second, thief_key.key_id
            )
        }
    )
    attack(
        f"{thief_host} is bound to {host}'s GPUs too",
        encode_envelope(sign_manifest(shared, thief_key)),
        f"{thief_host} (one set of GPUs, two nodes)",
        "hardware.gpu_two_nodes",
    )

    moved = _manifest(host, preset, site, key.key_id, at, as_h20, "heartbeat", bindings[host])
    moved = moved.model_copy(update={"location_evidence": LocationEvidence(receipts=receipts)})
    attack(
        f"{host} reuses its landmark receipts in a later manifest",
        encode_envelope(sign_manifest(moved, key)),
        f"{host} (moved receipts)",
        "location.receipt_binding",
    )

    # A GPU put in debug mode still signs a genuine report over the node key, but its
    # measurements are not the vendor's golden values: appraisal refuses it.
    debug_host, debug_preset, debug_site = NODES[1]
    debug_key = load_signing_key(workdir / "nodes" / debug_host / PRIVATE_NAME)
    debug_gpus = SimulatedGpuSource(debug_preset, seed=debug_host, hostname=debug_host).read().gpus
    vendor.set_debug(debug_gpus[0].uuid)
    debug_binding = bind(debug_gpus, debug_key.public, SimulatedCcSource(vendor), challenge=challenge)
    vendor.set_debug(debug_gpus[0].uuid, False)
    debugged = _manifest(
        debug_host,
        debug_preset,
        debug_site,
        debug_key.key_id,
        at,
        last[debug_host],
        "heartbeat",
        debug_binding,
    )
    attack(
        f"{debug_host}'s GPU 0 in debug mode vouches for the node key",
        encode_envelope(sign_manifest(debugged, debug_key)),
        f"{debug_host} (debug-mode GPU)",
        rule="hardware.measurement_mismatch",
    )

    late = verify_envelope(
        envelopes[-1][1], trust, now=now + timedelta(hours=2), source=envelopes[-1][0] + " (2 h later)"
    )
    cases.append(
        Case("a manifest verified after it expired", Status.CONTRAINDICATED, late, rule="freshness.expired")
    )
    state.close()
    return cases


def run_demo(args: argparse.Namespace) -> int:
    """Run the scenario and print what happened; exit 0 only if every case came out as expected."""
    now = datetime.now(UTC).replace(microsecond=0)
    if args.keep:
        workdir = Path(args.keep)
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot make --keep {args.keep}: {exc.strerror}") from None
        cases = run_scenario(workdir, now)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="attest-demo-"))
        try:
            cases = run_scenario(tmp, now)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    ok = all(c.ok for c in cases)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "ok": ok,
                    "cases": [
                        {"title": c.title, "expected": c.expect.value, "result": c.result.to_obj()}
                        for c in cases
                    ],
                }
            )
        )
        return 0 if ok else 1
    print(
        f"compute-attest demo: {len(NODES)} simulated nodes of {OPERATOR.name}, tenant {TENANT.legal_name}\n"
    )
    for c in cases:
        mark = "ok " if c.ok else "BAD"
        decisive = [f for f in c.result.findings if f.rule == c.rule] or [
            f for f in c.result.findings if f.severity.value != "info"
        ]
        why = f"  ({decisive[0].rule}: {decisive[0].message})" if decisive else ""
        print(f"[{mark}] {c.result.status.value:<15} {c.title}{why}")
    print(
        f"\n{sum(c.ok for c in cases)}/{len(cases)} cases as expected."
        + (f" Files kept in {args.keep}." if args.keep else "")
    )
    if args.keep:
        kept = SimulatedCcBackend(Path(args.keep) / "sim-vendor")
        pin, rim_pin = kept.root_sha256, kept.rim_root_sha256
        print(
            "(attest verify uses the bundled chip catalog, whose report floor is 0 ms: there the Johor landmark "
            "manifest is key-measured.)"
        )
        print(
            f"Verify the kept files yourself:\n  attest verify {args.keep}/*.envelope.json --trust {args.keep}/trust.json"
            f" --cc-root {args.keep}/sim-vendor/root.pem --cc-root-sha256 {pin} --landmarks {args.keep}/landmarks.json"
            f" --rims {args.keep}/rims --rim-root {args.keep}/sim-vendor/rim_root.pem --rim-root-sha256 {rim_pin}"
        )
    else:
        print("Keep the files and verify them yourself: attest demo --keep DIR")
    return 0 if ok else 1
