"""Fleet analytics: what no single manifest shows.

* ``fleet.gpu_two_places`` — one GPU (by UUID or serial) attested at two sites further apart
  than travel allows in the time between (default 1,000 km/h): a cloned identity or a lie.
* ``fleet.gpu_cloned`` — one GPU in the manifests of two different nodes at the same time.
* ``fleet.gpu_silent`` — a GPU that has not been attested for longer than allowed.
* ``fleet.chain_gap`` / ``fleet.chain_fork`` — sequence numbers a node skipped, or two
  different manifests a node signed under one sequence number.
* ``fleet.host_two_keys`` — one host name in the manifests of two node keys over the same
  time: a host name is only a claim, and one of the keys is not that machine (a key
  rotation hands over from one key to the next without overlap).
* ``fleet.gpu_identity_changed`` / ``fleet.gpu_identity_reused`` — a verified GPU device (its
  device certificate, :mod:`attest.hardware.devices`) listed under more than one declared UUID or
  serial, or one declared UUID or serial worn by two devices: one device is one chip.
* ``registry.identity_mismatch`` — a GPU listed with one registered chip's UUID and another's serial.
* ``registry.wrong_site`` / ``registry.not_seen`` / ``registry.unregistered`` — the chip
  registry (expected serial → authorized site) against what is attested. A registered UUID or
  serial counts as seen only when no device wore it beside another identity; where only declared
  manifests list it, the finding says "declared" and ``registry.declared_only`` (warning: a
  registry check that rests on the operator's word cannot affirm) counts them.

Each finding is mapped to the reportable events of the Chip Security Act draft: an item
*not at its licensed location*, *diverted*, or *tampered with / spoofed*.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from attest._internal.memo import ByIdentity
from attest.errors import InputError
from attest.hardware.catalog import bundled_catalog
from attest.model.manifest import WorkloadManifest
from attest.model.result import Severity, Status, VerificationResult
from attest.sign import manifest_digest

CSA_NOT_AT_LOCATION = "not at the licensed location"
CSA_DIVERTED = "diverted"
CSA_TAMPERED = "tampered with or spoofed"


class GpuSeen(NamedTuple):
    """One GPU as a manifest lists it."""

    uuid: str
    serial: str | None
    name: str


_GPUS_SEEN: ByIdentity[tuple[tuple[GpuSeen, ...], tuple[str, ...]]] = ByIdentity(256)


class BoundGpuSeen(NamedTuple):
    """One GPU of a hardware-bound manifest: what the node declared it is, and the device that vouched."""

    uuid: str
    serial: str | None
    device: str
    """The device identity (:mod:`attest.hardware.devices`) of the certificate the verifier checked."""


_DEVICES: ByIdentity[tuple[tuple[BoundGpuSeen, datetime | None], ...]] = ByIdentity(256)


def _digest(m: WorkloadManifest, result: VerificationResult) -> str:
    """The manifest's digest, or its payload's when it has no canonical form (an integer beyond 2**53).

    Such a manifest was refused (``envelope.malformed``) and no successor can name it; the audit
    still summarises it as the branch it is, instead of stopping.
    """
    try:
        return manifest_digest(m)
    except InputError:
        return f"payload {result.subject}"


def _bound(m: WorkloadManifest) -> tuple[tuple[BoundGpuSeen, datetime | None], ...]:
    """Each GPU with a device certificate: its declared UUID and serial, its device identity, its binding date."""
    from attest.hardware.devices import gpu_devices

    found = _DEVICES.get(m.gpus)
    if found is None:
        by_index = {g.index: g for g in m.gpus}
        found = tuple(
            (BoundGpuSeen(by_index[i].uuid, by_index[i].serial, device), since)
            for i, device, since in gpu_devices(m.gpus)
        )
        _DEVICES.put(found, m.gpus)
    return found


def _bound_devices(m: WorkloadManifest) -> tuple[tuple[str, datetime, datetime], ...]:
    """Each GPU's device identity (its BROM certificate's key) and claim period, from a verified binding."""
    from attest.hardware.devices import claim_period

    return tuple((g.device, *claim_period(m, since)) for g, since in _bound(m))


class ManifestSummary(NamedTuple):
    """What analytics need from one authenticated manifest (a named tuple: crosses process boundaries cheaply)."""

    name: str
    key_id: str
    node: str
    sequence: int
    previous: str | None
    digest: str
    issued_at: datetime
    site: str
    country: str
    lat: float
    lon: float
    tenant: str
    phase: str
    gpus: tuple[GpuSeen, ...]
    chip_classes: tuple[str, ...]
    status: str
    receipts: int
    """Landmark receipts the manifest carries (the audit report maps the newest per node)."""
    devices: tuple[tuple[str, datetime, datetime], ...] = ()
    """(device identity, binding date, end of the claim) of each GPU, when the result was hardware-bound
    or better: the manifest asserts the GPUs from its binding's challenge until it expires."""
    bound: tuple[BoundGpuSeen, ...] = ()
    """Each GPU's declared UUID and serial beside its verified device identity, when the result was
    hardware-bound or better (empty otherwise: then every GPU is only declared)."""

    @classmethod
    def of(
        cls,
        name: str,
        m: WorkloadManifest,
        result: VerificationResult,
        hardware: WorkloadManifest | None = None,
    ) -> ManifestSummary:
        """Summarize a manifest whose signatures verified.

        ``hardware``: the same manifest with its GPU evidence references resolved
        (:meth:`attest.verify.Verifier.verify_and_resolve`); the bound devices are read from it,
        so a heartbeat naming its binding by digest still counts in the fleet's one-GPU-one-node check.
        """
        catalog = bundled_catalog()
        # A node's manifests share one validated GPU list (the fast reader caches it): its
        # summary is made once, and the summaries share it (pickle then sends it once per batch).
        seen = _GPUS_SEEN.get(m.gpus, catalog)
        if seen is None:
            seen = (
                tuple(GpuSeen(g.uuid, g.serial, g.name) for g in m.gpus),
                tuple(catalog.classify_gpu(g).eccn or "EAR99" for g in m.gpus),
            )
            _GPUS_SEEN.put(seen, m.gpus, catalog)
        gpus, classes = seen
        verified = result.location_grade not in (None, "declared")
        bound = _bound(hardware or m) if verified else ()
        return cls(
            name=name,
            key_id=m.node.key_id,
            node=m.node.hostname,
            sequence=m.freshness.sequence,
            previous=m.freshness.previous,
            digest=_digest(m, result),
            issued_at=m.freshness.issued_at,
            site=m.site.facility_id,
            country=m.site.country,
            lat=m.site.latitude,
            lon=m.site.longitude,
            tenant=m.tenant.legal_name,
            phase=m.job.phase,
            gpus=gpus,
            chip_classes=classes,
            status=result.status.value,
            receipts=len(m.location_evidence.receipts),
            devices=_bound_devices(hardware or m) if verified else (),
            bound=tuple(g for g, _ in bound),
        )


@dataclass(frozen=True)
class RegistryEntry:
    """One chip as the registry expects it."""

    serial: str | None
    uuid: str | None
    site: str


@dataclass
class FleetFinding:
    """One anomaly across manifests."""

    rule: str
    severity: Severity
    message: str
    csa: str | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_obj(self) -> dict[str, Any]:
        """JSON."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "csa_event": self.csa,
            "evidence": self.evidence,
        }


def load_registry(text: str, *, what: str = "chip registry") -> list[RegistryEntry]:
    """A CSV with columns ``serial``, ``uuid`` (either may be empty, not both) and ``site``."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
        rows = list(reader)
    except csv.Error as exc:  # a quote left open, a field over the csv module's size limit, ...
        raise InputError(f"{what} does not parse as CSV: {exc} (line {reader.reader.line_num})") from None
    if header is None or "site" not in header or not {"serial", "uuid"} & set(header):
        raise InputError(f"{what}: the header must have 'site' and 'serial' and/or 'uuid' columns")
    out = []
    for n, row in enumerate(rows, start=2):
        serial = (row.get("serial") or "").strip() or None
        uuid = (row.get("uuid") or "").strip() or None
        site = (row.get("site") or "").strip()
        if not site or not (serial or uuid):
            raise InputError(f"{what} line {n}: needs a site and a serial or a UUID")
        out.append(RegistryEntry(serial, uuid, site))
    return out


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    from attest.location.region import geodesic_km

    return float(geodesic_km(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))[0])


def analyze(
    summaries: Sequence[ManifestSummary],
    *,
    now: datetime,
    registry: Sequence[RegistryEntry] = (),
    max_silence: timedelta = timedelta(hours=1),
    max_speed_kmh: float = 1000.0,
) -> list[FleetFinding]:
    """Every fleet finding, most serious first."""
    out: list[FleetFinding] = []
    # A GPU's sightings can only raise a finding when they come from more than one node
    # (a clone) or more than one site (travel). A node's summaries share one GPU tuple, so
    # each GPU is placed once per (GPU tuple, node, site), not once per manifest; only the
    # GPUs seen at two places get their sightings compared one by one.
    latest: dict[tuple[int, str, str], tuple[tuple[GpuSeen, ...], ManifestSummary]] = {}
    for s in summaries:
        combo = (id(s.gpus), s.key_id, s.site)  # the summaries keep each tuple (and its id) alive
        held = latest.get(combo)
        if held is None or _later(s, held[1]):
            latest[combo] = (s.gpus, s)
    places: dict[str, set[tuple[str, str]]] = defaultdict(set)
    last: dict[str, ManifestSummary] = {}
    for (_, key_id, site), (gpus, newest) in latest.items():
        for g in gpus:
            for ident in (f"uuid:{g.uuid}", f"serial:{g.serial}" if g.serial else None):
                if ident is None:
                    continue
                places[ident].add((key_id, site))
                if ident not in last or _later(newest, last[ident]):
                    last[ident] = newest
    moved = {ident for ident, where in places.items() if len(where) > 1}
    sightings: dict[str, list[tuple[datetime, ManifestSummary]]] = {
        ident: [] for ident in places if ident in moved
    }
    if moved:
        for s in summaries:
            for g in s.gpus:
                for ident in (f"uuid:{g.uuid}", f"serial:{g.serial}" if g.serial else None):
                    if ident in sightings:
                        sightings[ident].append((s.issued_at, s))
    for ident, seen in sightings.items():
        seen.sort(key=lambda x: (x[0], x[1].name))
        for (t1, a), (t2, b) in itertools.pairwise(seen):
            if a.key_id != b.key_id and abs((t2 - t1).total_seconds()) < 60:
                out.append(
                    FleetFinding(
                        "fleet.gpu_cloned",
                        Severity.CONTRAINDICATED,
                        f"GPU {ident} is in the manifests of two nodes at once ({a.node} and {b.node})",
                        CSA_TAMPERED,
                        {"gpu": ident, "nodes": [a.node, b.node], "manifests": [a.name, b.name]},
                    )
                )
            if a.site == b.site:
                continue
            km = _km((a.lat, a.lon), (b.lat, b.lon))
            hours = max((t2 - t1).total_seconds() / 3600, 1e-9)
            if km / hours > max_speed_kmh:
                out.append(
                    FleetFinding(
                        "fleet.gpu_two_places",
                        Severity.CONTRAINDICATED,
                        f"GPU {ident} was attested at {a.site} ({a.country}) and {km:.0f} km away at {b.site} "
                        f"({b.country}) {hours * 60:.0f} min later: faster than {max_speed_kmh:.0f} km/h",
                        CSA_DIVERTED,
                        {
                            "gpu": ident,
                            "from": a.site,
                            "to": b.site,
                            "km": round(km, 1),
                            "minutes": round(hours * 60, 1),
                            "manifests": [a.name, b.name],
                        },
                    )
                )
    for ident, newest in last.items():
        if not ident.startswith("uuid:"):
            continue
        last_t = newest.issued_at
        if now - last_t > max_silence:
            out.append(
                FleetFinding(
                    "fleet.gpu_silent",
                    Severity.WARNING,
                    f"GPU {ident[5:]} was last attested {(now - last_t).total_seconds() / 3600:.1f} h ago on {newest.node} "
                    f"at {newest.site}: longer than {max_silence.total_seconds() / 3600:g} h",
                    CSA_DIVERTED,
                    {
                        "gpu": ident[5:],
                        "last_seen": last_t.isoformat(),
                        "node": newest.node,
                        "site": newest.site,
                    },
                )
            )
    by_key: dict[str, list[ManifestSummary]] = defaultdict(list)
    for s in summaries:
        by_key[s.key_id].append(s)
    for key, items in by_key.items():
        by_seq: dict[int, set[str]] = defaultdict(set)
        for s in items:
            by_seq[s.sequence].add(s.digest)
        node = items[0].node
        for seq, digests in sorted(by_seq.items()):
            if len(digests) > 1:
                out.append(
                    FleetFinding(
                        "fleet.chain_fork",
                        Severity.CONTRAINDICATED,
                        f"node {node} signed {len(digests)} different manifests as sequence {seq}",
                        CSA_TAMPERED,
                        {"node": node, "key_id": key, "sequence": seq},
                    )
                )
        seqs = sorted(by_seq)
        missing = sorted(set(range(seqs[0], seqs[-1] + 1)) - set(seqs))
        if missing:
            out.append(
                FleetFinding(
                    "fleet.chain_gap",
                    Severity.WARNING,
                    f"node {node} has no manifest for {len(missing)} sequence numbers between {seqs[0]} and {seqs[-1]} "
                    f"(first missing: {missing[0]})",
                    None,
                    {"node": node, "key_id": key, "missing": missing[:50]},
                )
            )
    out.extend(_hosts_of_two_keys(summaries))
    out.extend(_devices_of_two_keys(summaries))
    identities = _identities(summaries)
    out.extend(identities.findings)
    out.extend(_registry(summaries, registry, identities))
    order = {Severity.CONTRAINDICATED: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(out, key=lambda f: (order.get(f.severity, 3), f.rule))


def _hosts_of_two_keys(summaries: Sequence[ManifestSummary]) -> list[FleetFinding]:
    """Host names whose manifests come from two node keys with overlapping periods of use."""
    spans: dict[str, dict[str, tuple[datetime, datetime]]] = defaultdict(dict)
    for s in summaries:
        first, last = spans[s.node].get(s.key_id, (s.issued_at, s.issued_at))
        spans[s.node][s.key_id] = (min(first, s.issued_at), max(last, s.issued_at))
    out = []
    for host, keys in spans.items():
        ordered = sorted(keys.items(), key=lambda kv: (kv[1][0], kv[0]))
        for (ka, (fa, la)), (kb, (fb, lb)) in itertools.combinations(ordered, 2):
            if fb < la and fa < lb:  # a handover (one key's last before the next one's first) is fine
                out.append(
                    FleetFinding(
                        "fleet.host_two_keys",
                        Severity.CONTRAINDICATED,
                        f"host {host} was attested by two node keys over the same time ({ka[:16]}… until "
                        f"{la.isoformat()}, {kb[:16]}… from {fb.isoformat()}): one of them is not this machine",
                        CSA_TAMPERED,
                        {
                            "node": host,
                            "keys": [ka, kb],
                            "from": fb.isoformat(),
                            "until": min(la, lb).isoformat(),
                        },
                    )
                )
    return out


def _devices_of_two_keys(summaries: Sequence[ManifestSummary]) -> list[FleetFinding]:
    """GPU devices that vouched for two node keys over overlapping periods, and keys whose GPUs changed."""
    spans: dict[str, dict[str, tuple[datetime, datetime, str]]] = defaultdict(dict)
    bindings: dict[str, dict[datetime, set[str]]] = defaultdict(lambda: defaultdict(set))
    for s in summaries:
        for device, since, until in s.devices:
            first, last, _ = spans[device].get(s.key_id, (since, until, s.node))
            spans[device][s.key_id] = (min(first, since), max(last, until), s.node)
            bindings[s.key_id][since].add(device)
    out = []
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    periods: dict[tuple[str, str], tuple[tuple[datetime, datetime, str], tuple[datetime, datetime, str]]] = {}
    for device, keys in spans.items():
        for (ka, a), (kb, b) in itertools.combinations(sorted(keys.items()), 2):
            if a[0] <= b[1] and b[0] <= a[1]:
                pairs[(ka, kb)].append(device)
                periods[(ka, kb)] = (a, b)
    for (ka, kb), devices in pairs.items():
        a, b = periods[(ka, kb)]
        out.append(
            FleetFinding(
                "fleet.gpu_two_nodes",
                Severity.CONTRAINDICATED,
                f"{len(devices)} GPU device(s) ({', '.join(d[:16] + '…' for d in devices[:4])}"
                f"{', …' if len(devices) > 4 else ''}) vouched for node key {ka[:16]}… (host {a[2]}, "
                f"{a[0].isoformat()} .. {a[1].isoformat()}) and node key {kb[:16]}… (host {b[2]}, "
                f"{b[0].isoformat()} .. {b[1].isoformat()}) over the same time: one set of GPUs cannot back two nodes",
                CSA_TAMPERED,
                {"devices": devices, "keys": [ka, kb], "hosts": [a[2], b[2]]},
            )
        )
    for key_id, by_date in bindings.items():
        dates = sorted(by_date)
        for d1, d2 in itertools.pairwise(dates):
            before, after = by_date[d1], by_date[d2]
            if before != after:
                out.append(
                    FleetFinding(
                        "fleet.gpu_swapped",
                        Severity.WARNING,
                        f"node key {key_id[:16]}… was bound to other GPUs on {d2.isoformat()} than on "
                        f"{d1.isoformat()}: {len(before - after)} device(s) left, {len(after - before)} arrived",
                        CSA_DIVERTED,
                        {"key": key_id, "removed": sorted(before - after), "added": sorted(after - before)},
                    )
                )
    return out


def _later(a: ManifestSummary, b: ManifestSummary) -> bool:
    """Whether ``a`` is a GPU's newer sighting than ``b`` (the earlier name wins a tie)."""
    return a.issued_at > b.issued_at or (a.issued_at == b.issued_at and a.name < b.name)


@dataclass
class _Identities:
    """How the declared UUIDs and serials of hardware-bound GPUs map onto verified devices."""

    findings: list[FleetFinding]
    conflicted: dict[str, list[str]]
    """Declared identities (``uuid:…``/``serial:…``) whose device also wore another UUID or serial, or
    that several devices wore: what proves them present is in doubt -> the devices involved."""
    proven: set[str]
    """Declared identities that a verified device wore, and only that device, under only that identity."""


def _identities(summaries: Sequence[ManifestSummary]) -> _Identities:
    """One device, one chip: a device seen under changing UUIDs or serials, or one UUID or serial on two devices.

    A UUID or serial in a manifest is the node's word; the device certificate is the GPU's. Eight
    GPUs bound once can be listed under sixteen declared serials in two manifests; their devices
    show that they are eight chips, so each device that wore more than one UUID or serial (and
    each UUID or serial that more than one device wore) is contraindicated, and none of those
    declared identities counts as seen for the chip registry.
    """
    names: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # device -> kind -> values
    wearers: dict[str, set[str]] = defaultdict(set)  # uuid:/serial: -> devices
    where: dict[str, list[str]] = defaultdict(list)  # device -> manifests (a few)
    for s in summaries:
        for g in s.bound:
            names[g.device]["uuid"].add(g.uuid)
            wearers[f"uuid:{g.uuid}"].add(g.device)
            if g.serial:
                names[g.device]["serial"].add(g.serial)
                wearers[f"serial:{g.serial}"].add(g.device)
            if len(where[g.device]) < 4 and s.name not in where[g.device]:
                where[g.device].append(s.name)
    out: list[FleetFinding] = []
    conflicted: dict[str, list[str]] = {}
    for device, kinds in names.items():
        uuids, serials = sorted(kinds["uuid"]), sorted(kinds["serial"])
        if len(uuids) > 1 or len(serials) > 1:
            for ident in [*(f"uuid:{u}" for u in uuids), *(f"serial:{n}" for n in serials)]:
                conflicted.setdefault(ident, []).append(device)
            out.append(
                FleetFinding(
                    "fleet.gpu_identity_changed",
                    Severity.CONTRAINDICATED,
                    f"GPU device {device[:16]}… (verified device certificate) was listed under "
                    f"{len(uuids)} declared UUID(s) ({', '.join(uuids[:4])}{', …' if len(uuids) > 4 else ''}) and "
                    f"{len(serials)} declared serial(s) ({', '.join(serials[:4])}{', …' if len(serials) > 4 else ''}): "
                    "one device is one chip, so the declared identities of the other chips are not shown present",
                    CSA_TAMPERED,
                    {"device": device, "uuids": uuids, "serials": serials, "manifests": where[device]},
                )
            )
    for ident, devices in sorted(wearers.items()):
        if len(devices) > 1:
            conflicted.setdefault(ident, []).extend(sorted(devices - set(conflicted.get(ident, []))))
            out.append(
                FleetFinding(
                    "fleet.gpu_identity_reused",
                    Severity.CONTRAINDICATED,
                    f"declared {ident} was worn by {len(devices)} different GPU devices (verified device "
                    f"certificates {', '.join(d[:16] + '…' for d in sorted(devices)[:4])}): a UUID or serial names one chip",
                    CSA_TAMPERED,
                    {"gpu": ident, "devices": sorted(devices)},
                )
            )
    proven = {ident for ident in wearers if ident not in conflicted}
    return _Identities(out, conflicted, proven)


def _registry(
    summaries: Sequence[ManifestSummary], registry: Iterable[RegistryEntry], identities: _Identities
) -> list[FleetFinding]:
    """The registry against what is attested; a chip is seen through its verified device where one was bound.

    A registered UUID or serial that only a declared-grade manifest lists is the node's word: the
    findings about it say "declared", and a ``warning`` counts the registered chips seen that way
    (eight real GPUs listed again under eight more serials, without a binding, would otherwise
    show sixteen chips present). A UUID or serial whose device wore another identity (:func:`_identities`) is not
    counted as seen at all.
    """
    entries = list(registry)
    if not entries:
        return []
    out = []
    # A GPU listed with one registered chip's UUID and another's serial (the UUID its device
    # certificate carries, another chip's serial beside it) would show both chips present: it is
    # one chip, it contradicts the registry, and neither of those identities counts as seen.
    chip_of: dict[str, int] = {}
    for i, e in enumerate(entries):
        for k in (f"serial:{e.serial}" if e.serial else None, f"uuid:{e.uuid}" if e.uuid else None):
            if k:
                chip_of[k] = i
    mixed: set[str] = set()
    for s in summaries:
        for g in s.gpus:
            keys = [k for k in (f"uuid:{g.uuid}", f"serial:{g.serial}" if g.serial else None) if k in chip_of]
            if len({chip_of[k] for k in keys}) > 1 and not mixed.issuperset(keys):
                mixed.update(keys)
                out.append(
                    FleetFinding(
                        "registry.identity_mismatch",
                        Severity.CONTRAINDICATED,
                        f"GPU {g.uuid} at {s.site} ({s.name}) is listed with the UUID of one registered chip and "
                        f"the serial {g.serial} of another: one GPU is one chip, so neither is shown present",
                        CSA_TAMPERED,
                        {"uuid": g.uuid, "serial": g.serial, "manifest": s.name, "site": s.site},
                    )
                )
    seen_at: dict[str, set[str]] = defaultdict(set)
    for s in summaries:
        for g in s.gpus:
            for ident in (f"uuid:{g.uuid}", f"serial:{g.serial}" if g.serial else None):
                if ident is not None and ident not in identities.conflicted and ident not in mixed:
                    seen_at[ident].add(s.site)
    registered = set()
    declared_only: list[str] = []
    for e in entries:
        keys = [
            k for k in (f"serial:{e.serial}" if e.serial else None, f"uuid:{e.uuid}" if e.uuid else None) if k
        ]
        registered.update(keys)
        sites = set().union(*(seen_at.get(k, set()) for k in keys))
        label = e.serial or e.uuid
        grade = "device" if any(k in identities.proven for k in keys) else "declared"
        doubtful = sorted({d for k in keys for d in identities.conflicted.get(k, [])})
        if not sites:
            what = (
                f"is not shown present: it is listed only on GPU device(s) "
                f"{', '.join(d[:16] + '…' for d in doubtful[:4])} that also wore other UUIDs or serials, "
                "which proves no chip of its own"
                if doubtful
                else "is listed only on a GPU that carries another registered chip's UUID or serial too"
                if any(k in mixed for k in keys)
                else "is in no manifest"
            )
            out.append(
                FleetFinding(
                    "registry.not_seen",
                    Severity.WARNING,
                    f"registered chip {label} (authorized at {e.site}) {what}",
                    CSA_DIVERTED,
                    {"chip": label, "site": e.site, **({"devices": doubtful} if doubtful else {})},
                )
            )
            continue
        if grade == "declared":
            declared_only.append(str(label))
        if sites - {e.site}:
            how = "attested" if grade == "device" else "declared (no verified device certificate)"
            out.append(
                FleetFinding(
                    "registry.wrong_site",
                    Severity.CONTRAINDICATED,
                    f"chip {label} is authorized at {e.site} but {how} at {', '.join(sorted(sites - {e.site}))}",
                    CSA_NOT_AT_LOCATION,
                    {"chip": label, "authorized": e.site, "seen": sorted(sites), "grade": grade},
                )
            )
    if declared_only:
        out.append(
            FleetFinding(
                "registry.declared_only",
                Severity.WARNING,
                f"{len(declared_only)} registered chip(s) ({', '.join(declared_only[:4])}"
                f"{', …' if len(declared_only) > 4 else ''}) are seen only under declared serials or UUIDs, "
                "in manifests no verified device certificate backs: their presence is the operator's word, not proof",
                None,
                {"chips": declared_only[:50], "count": len(declared_only), "grade": "declared"},
            )
        )
    for s in summaries:
        for g in s.gpus:
            if f"uuid:{g.uuid}" not in registered and not (g.serial and f"serial:{g.serial}" in registered):
                out.append(
                    FleetFinding(
                        "registry.unregistered",
                        Severity.WARNING,
                        f"GPU {g.serial or g.uuid} (declared) at {s.site} is not in the chip registry",
                        None,
                        {"gpu": g.uuid, "serial": g.serial, "site": s.site},
                    )
                )
                registered.add(f"uuid:{g.uuid}")
    return out


_CSA_BY_RULE = {
    "signature.invalid": CSA_TAMPERED,
    "signature.unknown_key": CSA_TAMPERED,
    "statement.subject_mismatch": CSA_TAMPERED,
    "manifest.node_key_mismatch": CSA_TAMPERED,
    "freshness.nonce_reused": CSA_TAMPERED,
    "chain.fork": CSA_TAMPERED,
    "chain.previous_mismatch": CSA_TAMPERED,
    "chain.sequence_rollback": CSA_TAMPERED,
    "location.claim_impossible": CSA_NOT_AT_LOCATION,
    "location.receipt_signature": CSA_TAMPERED,
    "location.receipt_binding": CSA_TAMPERED,
    "trust.scope_site": CSA_NOT_AT_LOCATION,
    "trust.scope_country": CSA_NOT_AT_LOCATION,
}


def csa_events(results: Sequence[VerificationResult], fleet: Sequence[FleetFinding]) -> dict[str, list[str]]:
    """Chip Security Act reportable events: event -> the findings (and where) that indicate it."""
    events: dict[str, list[str]] = defaultdict(list)
    for r in results:
        if r.status is not Status.CONTRAINDICATED:
            continue
        for f in r.findings:
            if f.severity is not Severity.CONTRAINDICATED:
                continue
            event = _CSA_BY_RULE.get(f.rule) or (CSA_TAMPERED if f.rule.startswith("hardware.cc.") else None)
            if event:
                events[event].append(f"{r.source}: {f.rule}")
    for ff in fleet:
        if ff.csa and ff.severity is Severity.CONTRAINDICATED:
            events[ff.csa].append(ff.rule + ": " + ff.message)
    return dict(events)
