"""The newest verified evidence per node, from signed envelopes (a spool, a collector's store).

Also what keeps that evidence honest across envelopes: which key may speak for which host
(:func:`key_may_speak`, :class:`HostPins`), and the quarantine of hosts whose evidence
contradicted itself (:mod:`attest.scheduler.quarantine`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from pathlib import Path

import msgspec

from attest.crypto.trust import TrustStore
from attest.errors import InputError, InputTooLarge
from attest.hardware.devices import chain_device
from attest.model.base import format_timestamp, require_aware
from attest.model.manifest import WorkloadManifest
from attest.model.result import Status, VerificationResult
from attest.replay import MemoryChainStore, MemoryDeviceStore, MemoryNonceStore
from attest.scheduler.admission import NodeEvidence
from attest.scheduler.quarantine import FILE_NAME as QUARANTINE_FILE
from attest.scheduler.quarantine import (
    Contradiction,
    FileLock,
    QuarantineRecord,
    cleared_marks,
    contradictions,
    is_cleared,
    quarantined_hosts,
)
from attest.verify import (
    PolicyEvaluator,
    VerifyOptions,
    _claimed_hostname,
    _recheck_devices,
    chain_order_key,
    verify_and_open,
)

INVENTORY_SUFFIX = ".heartbeat.envelope.json"
#: What the collector checked when it chose each key's newest envelope (see :func:`evidence_checks`).
CHECKS_FILE = "checks.jsonl"  # one line; not *.json, which is read as envelopes


def evidence_checks(options: VerifyOptions) -> dict[str, str | None]:
    """The evidence checks ``options`` make, by what they check against (digests; None: not made).

    A collector's evidence directory keeps only each node key's newest envelope: a contradiction
    the collector could not see (it had no landmark registry, say) is gone once a clean manifest
    replaces it. The collector records these checks in the directory (:data:`CHECKS_FILE`), and
    admission refuses to read a directory whose collector did not make the checks it makes
    (:func:`unmade_checks`).
    """
    rims = options.rims
    return {
        "landmarks_sha256": hashlib.sha256(options.landmarks.to_json().encode()).hexdigest()
        if options.landmarks is not None
        else None,
        "cc_root_sha256": options.cc_root_sha256 if options.cc_root is not None else None,
        "rim_root_sha256": str(getattr(rims, "pinned_root_sha256", "") or "set")
        if rims is not None
        else None,
        "nras": "set" if options.nras_jwks else None,
    }


def unmade_checks(directory: Path, options: VerifyOptions) -> str | None:
    """Why admission with ``options`` may not trust a collector's choice of newest evidence, or None.

    Only a collector's directory (it holds ``pins.jsonl`` or :data:`CHECKS_FILE`) is concerned: a
    spool holds every envelope, and admission verifies them all itself.
    """
    wanted = {k: v for k, v in evidence_checks(options).items() if v is not None}
    path = directory / CHECKS_FILE
    if not wanted or not (path.exists() or (directory / HostPins.FILE_NAME).exists()):
        return None
    names = {
        "landmarks_sha256": "--landmarks",
        "cc_root_sha256": "--cc-root",
        "rim_root_sha256": "--rims/--rim-root",
        "nras": "--nras-jwks",
    }
    try:
        made = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(made, dict):
            raise ValueError
    except FileNotFoundError:
        made = {}
    except (OSError, ValueError):
        return f"the collector's record of its checks ({path}) does not read"
    missing = [names[k] for k, v in wanted.items() if made.get(k) != v]
    if not missing:
        return None
    return (
        f"the collector that keeps {directory} did not check {', '.join(missing)} as this admission does "
        f"({path} {'says otherwise' if made else 'is missing'}): a contradiction it could not see may have "
        "been replaced by a clean manifest. Give the collector the same evidence options (the same files)"
    )


def load_evidence(
    envelopes: Iterable[tuple[str, bytes]],
    trust: TrustStore,
    *,
    now: datetime,
    policy: PolicyEvaluator | None = None,
    options: VerifyOptions = VerifyOptions(),  # noqa: B008 - frozen dataclass, safe as a default
    hosts: Collection[str] | None = None,
    pins: HostPins | None = None,
    quarantine: QuarantineRecord | None = None,
) -> dict[str, NodeEvidence]:
    """Verify every envelope (chains included); keep each host's newest evidence from its own key.

    Envelopes whose signatures do not verify say nothing about any node and are dropped;
    authenticated but contraindicated ones are kept, so admission can say why it refuses.

    A host name is only a claim in a manifest: evidence for host H counts only when signed by
    a key that may speak for H (:func:`key_may_speak`): the key's trust entry names H
    (``attest trust add --host``); or no entry names H, and neither H nor the key is pinned to
    another (``pins``, the first key and host the collector saw together), and the key names
    no other host here. Evidence from any other key is ignored, with a warning; a host whose
    evidence comes only from such keys, or from several keys none of which the operator has
    named or pinned, is refused as ``key-conflict`` (:attr:`NodeEvidence.key_problem`).

    Contradictions (:data:`attest.scheduler.quarantine.CONTRADICTIONS`) in any of a host's
    own-key envelopes, not only the newest, quarantine it: they are appended to ``quarantine``
    (when given and writable) and, with those already open there, refuse the host until an
    auditor clears them (:attr:`NodeEvidence.quarantine`).

    With ``hosts``, only envelopes naming one of them, or signed by a key that names one of
    them, are verified (the claims are read before verifying, only to choose): a job's
    admission verifies its nodes' evidence, not the whole fleet's.
    """
    require_aware(now)
    if isinstance(hosts, str):  # one host name, not its characters
        hosts = [hosts]
    if hosts is not None:
        wanted = set(hosts)
        envelopes = list(envelopes)

        def wanted_host(raw: bytes) -> bool:
            host = _claimed_hostname(raw)
            return host is not None and (host in wanted or host.split(".", 1)[0] in wanted)

        speakers = {chain_order_key(raw)[0] for _, raw in envelopes if wanted_host(raw)}
        chosen = [
            item for item in envelopes if wanted_host(item[1]) or chain_order_key(item[1])[0] in speakers
        ]
        # And every envelope whose GPU evidence names a device the chosen ones name: one set of GPUs
        # bound to another node key is a contradiction of these nodes too (hardware.gpu_two_nodes),
        # seen only if that key's envelopes are verified beside them (red team: admit --nodes gpu-b
        # allowed a node whose GPUs vouched for gpu-a as well).
        devices_here = {d for _, raw in chosen for d in _claimed_devices(raw)}
        if devices_here:
            picked = {id(item) for item in chosen}
            chosen += [
                item
                for item in envelopes
                if id(item) not in picked and not devices_here.isdisjoint(_claimed_devices(item[1]))
            ]
        envelopes = chosen
    items = sorted(envelopes, key=lambda item: chain_order_key(item[1]))
    nonces, chains, devices = MemoryNonceStore(), MemoryChainStore(), MemoryDeviceStore()
    per_key: dict[str, dict[str, NodeEvidence]] = {}
    inventory: dict[tuple[str, str], WorkloadManifest] = {}
    # A collector's evidence directory keeps each key's newest heartbeat beside its newest
    # envelope: verified on its own (its chain is not the newest one's), it is only an inventory.
    for name, raw in [item for item in items if item[0].endswith(INVENTORY_SUFFIX)]:
        result, manifest = verify_and_open(raw, trust, now=now, policy=policy, options=options, source=name)
        if manifest is not None and result.key_id and result.status is not Status.CONTRAINDICATED:
            inventory[(manifest.node.hostname, result.key_id)] = manifest
    items = [item for item in items if not item[0].endswith(INVENTORY_SUFFIX)]
    found: dict[tuple[str, str], list[Contradiction]] = {}
    hosts_of_key: dict[str, set[str]] = {}
    opened: list[tuple[VerificationResult, WorkloadManifest]] = []
    for name, raw in items:
        result, manifest = verify_and_open(
            raw,
            trust,
            now=now,
            nonces=nonces,
            chains=chains,
            policy=policy,
            options=options,
            source=name,
            devices=devices,
        )
        if manifest is None or result.key_id is None:
            continue
        opened.append((result, manifest))
    for result, manifest in opened:
        # A GPU that vouched for another key later in this order refuses this envelope as well, as
        # Verifier.verify_many does: whichever node's evidence was read first, neither stands.
        result = _recheck_devices(result, manifest, devices)
        assert result.key_id is not None
        host, kid = manifest.node.hostname, result.key_id
        hosts_of_key.setdefault(kid, set()).add(host)
        found.setdefault((host, kid), []).extend(
            contradictions(host, kid, manifest.freshness.sequence, result.findings)
        )
        keys = per_key.setdefault(host, {})
        held = keys.get(kid)
        # One key's manifests are ordered by its sequence (the chain checks go with it).
        if held is None or manifest.freshness.sequence >= held.manifest.freshness.sequence:
            keys[kid] = NodeEvidence(result, manifest)
        if manifest.job.phase == "heartbeat" and result.status is not Status.CONTRAINDICATED:
            last = inventory.get((host, kid))
            if last is None or manifest.freshness.issued_at >= last.freshness.issued_at:
                inventory[(host, kid)] = manifest
    named = trust.hosts_named()
    events = quarantine.events() if quarantine is not None else []
    open_now, marks = quarantined_hosts(events), cleared_marks(events)
    new: list[Contradiction] = []
    newest: dict[str, NodeEvidence] = {}
    for host, keys in per_key.items():
        verdicts = {
            kid: key_may_speak(host, kid, trust=trust, named=named, pins=pins, hosts_of_key=hosts_of_key)
            for kid in keys
        }
        own = [keys[k] for k, why in verdicts.items() if why is None]
        ignored = tuple((k, why) for k, why in verdicts.items() if why is not None)
        ranked = sorted(own or keys.values(), key=lambda e: e.manifest.freshness.issued_at, reverse=True)
        problem = None
        if not own:
            problem = "; ".join(f"key {k[:16]}… may not speak for it: {why}" for k, why in ignored)
        elif len(own) > 1 and not (named.get(host) or (pins and pins.host_key.get(host))):
            problem = (
                f"node keys {', '.join(sorted((e.result.key_id or '?')[:16] + '…' for e in own))} all sign "
                "manifests for this host name and none is named or pinned for it: at most one of them is this node"
            )
        head = ranked[0]
        kid = head.result.key_id or ""
        others = tuple((e.result.key_id or "", e.manifest.freshness.issued_at) for e in ranked[1:])
        # Quarantine follows the node key, not a host string: a key whose entry names two hosts
        # (gpu-a17 and gpu-a17.example.com) must not shed a contradiction by changing names.
        own_keys = {e.result.key_id or "" for e in own}
        new += [c for e in own for c in found.get((host, e.result.key_id or ""), [])]
        mine = [c for (_, k), cs in found.items() if k in own_keys for c in cs]
        open_here = [_said(host, c.rule, c.message, c.host) for c in mine if not is_cleared(c, marks)]
        open_here += [
            _said(host, e["rule"], str(e.get("message", "")), e["host"])
            for events_of_host in open_now.values()
            for e in events_of_host
            if e["host"] == host or e["key_id"] in own_keys
        ]
        newest[host] = NodeEvidence(
            head.result,
            head.manifest,
            others,
            key_problem=problem,
            ignored_keys=ignored if own else (),
            quarantine=tuple(dict.fromkeys(open_here)),
            inventory=inventory.get((host, kid)),
        )
    if quarantine is not None and new:
        with contextlib.suppress(InputError):  # unwritable: the in-memory refusal above still holds
            quarantine.record(new, at=now)
    return newest


class _ChainView(msgspec.Struct):
    certificate_chain: str = ""


class _GpuView(msgspec.Struct):
    cc_evidence: _ChainView | None = None


class _PredicateView(msgspec.Struct):
    gpus: list[_GpuView] = []


class _StatementView(msgspec.Struct):
    predicate: _PredicateView | None = None


class _EnvelopeView(msgspec.Struct):
    payload: str = ""


_READ_ENVELOPE = msgspec.json.Decoder(_EnvelopeView).decode
_READ_STATEMENT = msgspec.json.Decoder(_StatementView).decode


def _claimed_devices(raw: bytes) -> frozenset[str]:
    """The GPU device identities an envelope's evidence names, read before anything is verified (to choose only).

    The identities :func:`~attest.hardware.devices.gpu_devices` reads from the same certificate
    chains (:func:`~attest.hardware.devices.chain_device`); empty for whatever cannot be read.
    """
    try:
        payload = base64.b64decode(_READ_ENVELOPE(raw).payload)
        predicate = _READ_STATEMENT(payload).predicate
    except (msgspec.DecodeError, ValueError, TypeError):
        return frozenset()
    if predicate is None:
        return frozenset()
    return frozenset(
        d
        for g in predicate.gpus
        if g.cc_evidence is not None and (d := chain_device(g.cc_evidence.certificate_chain)) is not None
    )


def _said(host: str, rule: str, message: str, where: str) -> str:
    """One open contradiction, naming the host it was recorded for when that is another name of the node."""
    return rule + ": " + message + ("" if where == host else f" (recorded for {where}: clear {where})")


def by_node_name(
    evidence: Mapping[str, NodeEvidence], nodes: Iterable[str], trust: TrustStore | None = None
) -> dict[str, NodeEvidence]:
    """Evidence keyed the way Slurm names nodes: a short ``NodeName`` may match a manifest's FQDN.

    Slurm's node names are usually ``hostname -s``, while a daemon may sign its full host name.
    A short name N takes the evidence of a host ``N.<domain>`` only when the trust entry of the
    key speaking for that host names N (``attest trust add --host N --host N.<domain>``): never
    across domains on a guess. Whatever name forms exist for N (N itself, ``N.<domain>``), one
    that is quarantined refuses N; several forms from different keys that no entry names for N
    are a conflict (refused as ``key-conflict``), so an unscoped key signing as N cannot stand
    in front of the real node's stale or quarantined FQDN evidence.
    """
    out = dict(evidence)
    named = trust.hosts_named() if trust is not None else {}
    for node in nodes:
        fqdns = sorted(h for h in evidence if h != node and h.split(".", 1)[0] == node)
        forms = ([node] if node in evidence else []) + fqdns
        if not forms:
            continue
        quarantined = [h for h in forms if evidence[h].quarantine]
        if quarantined:
            out[node] = evidence[quarantined[0]]
            continue
        named_keys = named.get(node, set())
        chosen = [h for h in forms if (evidence[h].result.key_id or "") in named_keys]
        if len(chosen) == 1:  # the one form whose key the operator named for this node
            out[node] = evidence[chosen[0]]
            continue
        if not chosen and node in evidence and len({evidence[h].result.key_id for h in forms}) == 1:
            continue  # its own name, and no other key speaks for another form of it
        ev = evidence[forms[0]]
        why = (
            f"several hosts have the short name {node}: {', '.join(forms[:4])}"
            if len(forms) > 1
            else f"{node} is the short name of {forms[0]}, but no trust entry names {node} for its key"
        )
        out[node] = NodeEvidence(
            ev.result,
            ev.manifest,
            key_problem=why + "; give the daemons' hostname as Slurm names the node, or name both "
            f"forms in its key's trust entry (attest trust add KEY.pub --host {node} --host {forms[-1]})",
        )
    return out


def key_may_speak(
    host: str,
    key_id: str,
    *,
    trust: TrustStore,
    named: Mapping[str, set[str]],
    pins: HostPins | None,
    hosts_of_key: Mapping[str, set[str]],
) -> str | None:
    """None when ``key_id`` may sign evidence for ``host``; otherwise why not.

    1. The key's trust entry names hosts: ``host`` must be one of them.
    2. Another key's entry names ``host``: this key may not speak for it.
    3. ``pins``: the host is pinned to another key, or the key to another host.
    4. The key names another host in this evidence: a node key speaks for one host.
    """
    entry = trust.get(key_id)
    if entry is not None and entry.scope.hosts:
        return None if host in entry.scope.hosts else f"its trust entry names {', '.join(entry.scope.hosts)}"
    if host in named:
        return (
            f"the trust store names key {', '.join(sorted(k[:16] + '…' for k in named[host]))} for this host"
        )
    remedy = f" (an operator's decision: attest trust add KEY.pub --host {host})"
    if pins is not None:
        pinned_key, pinned_host = pins.host_key.get(host), pins.key_host.get(key_id)
        if pinned_key is not None and pinned_key != key_id:
            return f"the host is pinned to key {pinned_key[:16]}…, the first seen for it{remedy}"
        if pinned_host is not None and pinned_host != host:
            return f"the key is pinned to host {pinned_host}, the first it spoke for{remedy}"
        if pinned_host == host:
            return None
    elsewhere = sorted(hosts_of_key.get(key_id, set()) - {host})
    if elsewhere:
        return f"it also signs for {', '.join(elsewhere[:3])}, and a node key speaks for one host{remedy}"
    return None


class HostPins:
    """The first key seen for each host and the first host for each key: trust on first use.

    An append-only JSON-lines file (``pins.jsonl`` in the collector's evidence directory), one
    ``{"host", "key_id", "at"}`` line each time a host or a key is seen for the first time.
    A trust entry that names hosts (``attest trust add --host``) overrides the pins: that is
    how an operator admits a second key for a host (a rotation).
    """

    FILE_NAME = "pins.jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.host_key: dict[str, str] = {}
        self.key_host: dict[str, str] = {}
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        except OSError as exc:
            raise InputError(f"cannot read the host pins {path}: {exc.strerror}") from None
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                host, key = e["host"], e["key_id"]
                if not isinstance(host, str) or not isinstance(key, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise InputError(f"host pins {path} line {n} is not a pin") from None
            self.host_key.setdefault(host, key)
            self.key_host.setdefault(key, host)

    def pin(self, host: str, key_id: str, *, at: datetime) -> bool:
        """Record the pair when the host or the key is new; True when a line was written.

        A key already pinned to another host pins no further host.
        """
        if host in self.host_key and key_id in self.key_host:
            return False
        if self.key_host.get(key_id, host) != host:
            # A node key speaks for one host: its manifests naming other hosts pin nothing, or an
            # unscoped key could squat every host name before the real nodes are seen (a trust
            # entry naming several hosts is the operator's way to allow more).
            return False
        line = json.dumps({"host": host, "key_id": key_id, "at": format_timestamp(at)}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.host_key.setdefault(host, key_id)
        self.key_host.setdefault(key_id, host)
        return True


def read_envelopes(
    directory: Path, *, limit_bytes: int = 1 << 20, oversize: list[tuple[str, int]] | None = None
) -> list[tuple[str, bytes]]:
    """Every ``*.json`` file under ``directory`` (recursively), as (name, bytes), each read whole.

    A file over ``limit_bytes`` is never read in part, nor left out without a word: it raises
    :class:`attest.errors.InputTooLarge` naming it and its size, unless ``oversize`` is a list,
    to which its (name, size in bytes) is then appended (the caller reports it).

    Raises:
        InputError: the directory is missing, or a file in it cannot be read.
        InputTooLarge: a file is over ``limit_bytes`` and no ``oversize`` list was given.
    """
    if not directory.is_dir():
        raise InputError(f"evidence directory {directory} does not exist")
    out = []
    try:
        for path in sorted(directory.rglob("*.json")):
            if not path.is_file():
                continue
            name = str(path.relative_to(directory))
            size = path.stat().st_size
            if size > limit_bytes:
                if oversize is None:
                    raise InputTooLarge(
                        f"envelope file {path}",
                        size,
                        limit_bytes,
                        hint="it is not an envelope this evidence can hold: move it out of the directory",
                    )
                oversize.append((name, size))
                continue
            raw = path.read_bytes()
            if len(raw) > limit_bytes:  # grown since: the same refusal, never a prefix
                if oversize is None:
                    raise InputTooLarge(f"envelope file {path}", len(raw), limit_bytes)
                oversize.append((name, len(raw)))
                continue
            out.append((name, raw))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise InputError(f"cannot read the evidence directory {directory}:{where} {exc.strerror}") from None
    return out


# A chain finding or a replay means this envelope must not become the node's evidence: the
# node's held evidence stays (and goes stale in time), so admission fails closed.
_NOT_NEWER = frozenset(
    {"chain.sequence_rollback", "chain.fork", "chain.previous_mismatch", "freshness.nonce_reused"}
)


class NewestEvidence:
    """A directory holding each node key's newest authenticated envelope: what admission reads.

    Admission judges a node on its newest evidence, not its history; pointed at a spool of
    months, ``attest admit`` (run by ``PrologSlurmctld`` for every job) and the webhook's
    reload verified every manifest ever signed. The collector keeps this directory instead
    (``attest collector serve --evidence-dir DIR``): one ``<key id>.envelope.json`` per node
    key, replaced (write, then rename) only by an envelope that authenticated with a higher
    sequence number and whose chain and nonce checks passed. Collectors may share the
    directory (a lock file serializes replacements; the sequence number on disk decides).
    """

    SUFFIX = ".envelope.json"
    INVENTORY_SUFFIX = INVENTORY_SUFFIX

    def __init__(self, directory: Path, options: VerifyOptions | None = None) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if options is not None:  # what admission compares its own options with (unmade_checks)
                tmp = directory / f".{CHECKS_FILE}.{os.getpid()}.tmp"
                tmp.write_text(json.dumps(evidence_checks(options), sort_keys=True) + "\n", encoding="utf-8")
                tmp.replace(directory / CHECKS_FILE)
            held = {}
            for path in directory.glob("*" + self.SUFFIX):
                key, seq = chain_order_key(path.read_bytes())
                if key and path.name == key + self.SUFFIX:  # not <key>.heartbeat.envelope.json
                    held[key] = seq
        except OSError as exc:
            raise InputError(f"cannot use the evidence directory {directory}: {exc.strerror}") from None
        self.directory = directory
        self.held: dict[str, int] = held

    def offer(self, raw: bytes, result: VerificationResult, manifest: WorkloadManifest | None) -> bool:
        """Keep ``raw`` as its node key's evidence if it is authenticated and newer; True when kept.

        ``result`` and ``manifest`` are what :func:`attest.verify.verify_and_open` returned for
        ``raw`` (with the collector's replay and chain state). Whether kept or not, an
        authenticated envelope pins its host and key when either is new (:class:`HostPins`)
        and records its contradictions in the quarantine record; a heartbeat is also kept as
        the node's GPU inventory (``<key id>.heartbeat.envelope.json``), so that admission
        does not depend on the newest manifest's phase (a job's ``end`` lists only its GPUs).
        """
        if manifest is None or result.key_id is None or manifest.node.key_id != result.key_id:
            return False  # not authenticated, or not signed by the node key it names
        key, seq, host = result.key_id, manifest.freshness.sequence, manifest.node.hostname
        now = manifest.freshness.issued_at
        # Unwritable pins or quarantine record: nothing is replaced either (OSError, which the
        # collector reports), so the node's held evidence goes stale and admission refuses it,
        # rather than a contradiction being forgotten once a clean manifest takes its place.
        try:
            with self._lock():
                HostPins(self.directory / HostPins.FILE_NAME).pin(host, key, at=now)
                QuarantineRecord(self.directory / QUARANTINE_FILE).record(
                    contradictions(host, key, seq, result.findings), at=result.verified_at
                )
        except InputError as exc:
            raise OSError(exc.message) from None
        if any(f.rule in _NOT_NEWER for f in result.findings):
            return False
        if manifest.job.phase == "heartbeat" and result.status is not Status.CONTRAINDICATED:
            self._replace(self.directory / (key + self.INVENTORY_SUFFIX), raw, seq)
        if self.held.get(key, -1) >= seq:
            return False
        if not self._replace(self.directory / (key + self.SUFFIX), raw, seq):
            self.held[key] = max(
                self.held.get(key, -1),
                chain_order_key((self.directory / (key + self.SUFFIX)).read_bytes())[1],
            )
            return False
        self.held[key] = seq
        return True

    def _lock(self) -> FileLock:
        return FileLock(self.directory / ".lock")

    def _replace(self, target: Path, raw: bytes, seq: int) -> bool:
        # Several collectors (one PostgreSQL log behind a load balancer) may share a directory:
        # under an exclusive lock, the file's own sequence number decides, not this process's memory.
        with self._lock():
            try:
                on_disk = chain_order_key(target.read_bytes())[1]
            except FileNotFoundError:
                on_disk = -1
            if on_disk >= seq:
                return False
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            tmp.write_bytes(raw)
            tmp.replace(target)
        return True
