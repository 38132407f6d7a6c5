"""The node daemon: a local signing API on a Unix socket, heartbeats, a durable chain, delivery.

Protocol: one JSON object per line each way. Requests::

    {"op": "sign", "phase": "start"|"end", "job": {"id": ..., "scheduler": ...},
     "tenant": {...}, "gpus": ["0", "GPU-..."], "licenses": [...]}
    {"op": "status"} | {"op": "last", "n": 5} | {"op": "inventory"} | {"op": "heartbeat"}

Replies are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. Callers are
authorized by their kernel-reported credentials (``SO_PEERCRED``): uid or primary gid
in the config; anyone else is refused before a byte of the request is read.

Signing is serialized by one task (the chain needs order) and committed in groups:
requests that arrive while a commit is running go into the next transaction. A
reply is sent only after its manifest is committed (``synchronous=FULL``), then the
envelope is written to the spool and queued for the collector.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import random
import signal
import socket
import sqlite3
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from pydantic import Field

from attest.build import build_manifest
from attest.crypto.canonical import strict_loads
from attest.crypto.keys import load_signing_key
from attest.daemon.config import DaemonConfig
from attest.daemon.metrics import Metrics
from attest.daemon.receipt import LogInconsistent, check_receipt, confirm_in_checkpoint
from attest.daemon.state import ChainDB, Row
from attest.errors import AttestError, InputError, StoreError
from attest.hardware.binding import NodeBinding, attach
from attest.hardware.simulated import open_source
from attest.model.base import WireModel, format_timestamp
from attest.model.hardware import HardwareEvidence
from attest.model.location import LandmarkRegistry
from attest.model.manifest import (
    Freshness,
    Job,
    LandmarkReceipt,
    LicenseReference,
    LocationEvidence,
    Tenant,
    WorkloadManifest,
)
from attest.sign import TemplateSigner

log = logging.getLogger("attest.daemon")
MAX_LINE = 1 << 20
UNPROVEN_ALARM = 20
"""Deliveries in a row the collector's log fails to prove (5xx, no checkpoint) before ``log_inconsistent`` fires."""
# Replies carry a ~6 KB envelope as a JSON string; msgspec's C encoder writes it ~7x faster
# than json.dumps (UTF-8 rather than \u escapes; any JSON reader takes both).
_encode_reply = msgspec.json.Encoder().encode


class JobRequest(WireModel):
    """The job part of a sign request (the phase is given beside it)."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    scheduler: Annotated[str, Field(min_length=1, max_length=64)]
    started_at: datetime | None = None
    ended_at: datetime | None = None
    declared_training_ops: Annotated[float | None, Field(ge=0)] = None
    spec_digest: str | None = None


class SignRequest(WireModel):
    """``{"op": "sign", ...}``."""

    op: Literal["sign"]
    phase: Literal["start", "end"]
    job: JobRequest
    tenant: Tenant
    gpus: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=64
    )
    licenses: list[LicenseReference] = Field(default_factory=list, max_length=32)


def _spool_name(seq: int) -> str:
    """The spool file name of manifest ``seq`` (sorts in chain order)."""
    return f"{seq:012d}.envelope.json"


@dataclass
class _Item:
    """One manifest to sign, and where its caller waits."""

    phase: str
    job: Job
    tenant: Tenant
    gpus: list[str]
    licenses: list[LicenseReference]
    future: asyncio.Future[dict[str, Any]]
    received: float = field(default_factory=time.perf_counter)
    nonce: str | None = None
    receipts: list[LandmarkReceipt] = field(default_factory=list)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket, from the kernel."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def sd_notify(message: str) -> bool:
    """Send ``message`` to systemd's notify socket, if there is one (``Type=notify``)."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(message.encode())
        return True
    return False


class Daemon:
    """One node's daemon. ``await Daemon(config).run()`` serves until SIGTERM/SIGINT."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.key = load_signing_key(Path(config.key))
        self.source = open_source(
            None if config.gpus == "nvml" else config.gpus, seed=config.hostname, hostname=config.hostname
        )
        self.binding: NodeBinding | None = None
        self._binding_mtime: int | None = None
        self._load_binding()
        self.landmarks: LandmarkRegistry | None = None
        if config.landmarks:
            try:
                raw = Path(config.landmarks).read_bytes()
            except OSError as exc:
                raise InputError(
                    f"cannot read the landmark registry {config.landmarks}: {exc.strerror}"
                ) from None
            self.landmarks = LandmarkRegistry.from_json(raw, what=f"landmark registry {config.landmarks}")
        self.db = ChainDB(config.db_path)
        self.spool = config.spool_path
        self.spool.mkdir(parents=True, exist_ok=True)
        self._spool_text = str(self.spool)
        self.head = self.db.head()
        self.metrics = Metrics()
        self._templates: dict[tuple[str, tuple[str, ...], str], TemplateSigner] = {}
        self.inventory: HardwareEvidence = self._read_inventory()
        self.started = datetime.now(UTC)
        self.last_heartbeat: datetime | None = None
        self.queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self.spool_queue: asyncio.Queue[list[Row] | None] = asyncio.Queue()
        self.pushed = asyncio.Event()
        self.stopping = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.AbstractServer | None = None
        self._respool()

    # -- evidence -------------------------------------------------------------

    def _load_binding(self) -> None:
        """(Re)read the binding file when it changed (nodes re-bind daily: bindings age out)."""
        path = self.config.binding
        if not path:
            return
        try:
            mtime = Path(path).stat().st_mtime_ns
            if mtime == self._binding_mtime:
                return
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the binding file {path}: {exc.strerror}") from None
        binding = NodeBinding.from_json(raw, what=f"binding file {path}")
        if binding.node_key_id != self.key.key_id:
            raise InputError(
                f"binding file {path} is for another node key",
                hint="run attest bind again with this node's key",
            )
        self.binding, self._binding_mtime = binding, mtime

    def _read_inventory(self) -> HardwareEvidence:
        self._load_binding()
        self._templates.clear()  # GPU blocks come from the inventory: rebuild templates
        evidence = self.source.read()
        if self.binding is not None:
            evidence = evidence.model_copy(
                update={"gpus": attach(evidence.gpus, self.binding, self.key.key_id)}
            )
        return evidence

    def _measure(self, nonce: str) -> list[LandmarkReceipt]:
        from attest.location.prover import measure

        receipts = []
        for lm in self.landmarks.landmarks if self.landmarks else []:
            if lm.address is None:
                continue
            host, _, port = lm.address.rpartition(":")
            try:
                receipts.append(
                    measure((host, int(port)), self.key, nonce, rounds=self.config.landmark_rounds)
                )
            except (InputError, ValueError) as exc:
                self.metrics.errors.labels(kind="landmark").inc()
                log.warning("landmark unreachable", extra={"landmark": lm.id, "error": str(exc)})
        return receipts

    # -- signing --------------------------------------------------------------

    def _template(self, item: _Item) -> TemplateSigner:
        """The signer for this tenant, GPU set and licences (built and validated once, then reused)."""
        cache_key = (
            item.tenant.model_dump_json(),
            tuple(item.gpus),
            json.dumps([lic.to_obj() for lic in item.licenses]),
        )
        signer = self._templates.get(cache_key)
        if signer is None:
            now = datetime.now(UTC)
            template = build_manifest(
                evidence=self.inventory,
                site=self.config.site,
                tenant=item.tenant,
                operator=self.config.operator,
                job=item.job,
                node_key_id=self.key.key_id,
                now=now,
                valid_for=timedelta(seconds=self.config.validity_s),
                gpus=item.gpus or None,
                sequence=0,
                licenses=item.licenses,
            )
            signer = TemplateSigner(template, self.key)
            if len(self._templates) >= 1024:
                self._templates.pop(next(iter(self._templates)))
            self._templates[cache_key] = signer
        return signer

    def _sign_one(self, item: _Item, seq: int, previous: str | None) -> tuple[WorkloadManifest, bytes, str]:
        signer = self._template(item)
        now = datetime.now(UTC)
        freshness = Freshness(
            issued_at=now,
            expires_at=now + timedelta(seconds=self.config.validity_s),
            nonce=item.nonce or os.urandom(16).hex(),
            sequence=seq,
            previous=previous,
        )
        evidence = LocationEvidence(receipts=item.receipts) if item.receipts else None
        manifest = signer.manifest(item.job, freshness, evidence)
        envelope, digest = signer.encode_with_digest(manifest)
        return manifest, envelope, digest

    async def _signer(self) -> None:
        while True:
            first = await self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.config.max_batch and not self.queue.empty():
                nxt = self.queue.get_nowait()
                if nxt is None:
                    self.queue.put_nowait(None)  # finish this batch, then stop
                    break
                batch.append(nxt)
            seq, previous = (self.head[0] + 1, self.head[1]) if self.head else (0, None)
            rows: list[Row] = []
            done: list[tuple[_Item, dict[str, Any]]] = []
            for item in batch:
                try:
                    manifest, envelope, digest = self._sign_one(item, seq, previous)
                except AttestError as exc:
                    self.metrics.errors.labels(kind="sign").inc()
                    done.append((item, {"ok": False, "error": exc.message}))
                    continue
                except Exception as exc:  # a bug: this request fails, signing goes on for the others
                    self.metrics.errors.labels(kind="internal").inc()
                    log.exception("could not sign a request", extra={"job_id": item.job.id})
                    done.append(
                        (item, {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"})
                    )
                    continue
                rows.append(
                    Row(
                        seq,
                        digest,
                        item.phase,
                        item.job.id,
                        format_timestamp(manifest.freshness.issued_at),
                        envelope,
                    )
                )
                done.append((item, {"ok": True, "sequence": seq, "digest": digest, "phase": item.phase}))
                seq, previous = seq + 1, digest
            if rows:
                try:
                    # Inline, on purpose. Committing in a worker thread while the next batch is
                    # signed (tried 2026-11-28) made the daemon-side latency far worse at 500/s
                    # (within 5 ms: 91-97% -> 11-16%): the commit thread waits for the GIL at each
                    # of its sqlite3 calls while the loop thread signs.
                    self.db.append(rows)
                except Exception as exc:  # a full disk or a broken database: nothing was acknowledged
                    self.metrics.errors.labels(kind="persist").inc()
                    log.error("could not persist manifests", extra={"error": str(exc)})
                    for item, _ in done:
                        if not item.future.done():
                            item.future.set_result({"ok": False, "error": f"could not persist: {exc}"})
                    continue
                self.head = (rows[-1].seq, rows[-1].digest)
                self.spool_queue.put_nowait(rows)  # the database is the record; the spool copy follows
                self.metrics.sequence.set(rows[-1].seq)
                self.pushed.set()
            by_seq = {r.seq: r for r in rows}
            for item, reply in done:
                if reply["ok"]:
                    row = by_seq[reply["sequence"]]
                    reply["envelope"] = row.envelope.decode()
                    reply["path"] = f"{self._spool_text}/{_spool_name(row.seq)}"
                    self.metrics.signed.labels(phase=item.phase).inc()
                    self.metrics.latency.observe(time.perf_counter() - item.received)
                if not item.future.done():
                    item.future.set_result(reply)

    def _spool_file(self, seq: int) -> Path:
        return self.spool / _spool_name(seq)

    async def _spooler(self) -> None:
        """Write committed manifests to the spool directory, in order, off the reply path."""
        while True:
            rows = await self.spool_queue.get()
            if rows is None:
                return
            if not self.stopping.is_set():
                await asyncio.sleep(0.1)  # gather a tenth of a second of manifests per hand-off
            batch = list(rows)
            while not self.spool_queue.empty():
                more = self.spool_queue.get_nowait()
                if more is None:
                    self.spool_queue.put_nowait(None)
                    break
                batch.extend(more)
            try:
                await asyncio.to_thread(self._write_spool, batch)
            except OSError as exc:  # the database still has them; a restart respools
                self.metrics.errors.labels(kind="spool").inc()
                log.error("could not write the spool", extra={"error": str(exc)})

    def _write_spool(self, rows: list[Row]) -> None:
        """Write each row's envelope under a hidden name, then rename it into place.

        A reader of the spool (``attest verify spool/*.json``) never sees part of a file.
        Calls are made relative to the directory's descriptor: the pathlib equivalent cost
        twice as much per file (~200 against ~90 us, measured 2026-11-29), in a thread that
        shares the GIL with the signer.
        """
        with self._spool_directory() as directory:
            for row in rows:
                name = _spool_name(row.seq)
                tmp = f".{name}.tmp"
                fd = os.open(
                    tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666, dir_fd=directory
                )
                try:
                    view = memoryview(row.envelope)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                os.rename(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)

    @contextlib.contextmanager
    def _spool_directory(self) -> Iterator[int]:
        """A descriptor of the spool directory, for calls relative to it."""
        directory = os.open(self.spool, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield directory
        finally:
            os.close(directory)

    def _respool(self) -> None:
        """After a crash, write what the spool is missing (it trails the database by design)."""
        if self.db.head() is None:
            return
        spooled = [
            int(p.name[:12])
            for p in self.spool.iterdir()
            if p.name.endswith(".envelope.json") and p.name[:12].isdigit()
        ]
        start = max(0, max(spooled, default=0) - 4 * self.config.max_batch)
        missing = [r for r in self.db.since(start) if not self._spool_file(r.seq).exists()]
        if missing:
            self._write_spool(missing)
            log.info("respooled manifests", extra={"count": len(missing)})

    async def sign(self, item: _Item) -> dict[str, Any]:
        """Queue ``item`` and wait until it is committed (or refused)."""
        if self.stopping.is_set():  # the signer takes nothing queued after its stop marker
            return {"ok": False, "error": "the daemon is stopping; nothing was signed"}
        await self.queue.put(item)
        return await item.future

    # -- requests -------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, gid = peer_credentials(sock)
        except OSError:
            pid, uid, gid = -1, -1, -1
        if uid not in self.config.allowed_uids and gid not in self.config.allowed_gids:
            self.metrics.errors.labels(kind="unauthorized").inc()
            log.warning("refused a caller", extra={"pid": pid, "uid": uid, "gid": gid})
            with contextlib.suppress(OSError):
                writer.write(
                    json.dumps(
                        {"ok": False, "error": f"uid {uid} (gid {gid}) may not use this daemon"}
                    ).encode()
                    + b"\n"
                )
                await writer.drain()
            writer.close()
            return
        self._writers.add(writer)
        try:
            while not self.stopping.is_set():
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    writer.write(b'{"ok": false, "error": "request larger than 1 MiB"}\n')
                    await writer.drain()
                    return
                reply = await self._dispatch(line)
                writer.write(_encode_reply(reply) + b"\n")
                await writer.drain()
        except (ConnectionError, OSError):
            return
        except asyncio.CancelledError:
            # A connection still open when the daemon exits: end quietly (a cancelled handler
            # makes asyncio's stream callback print a traceback on Python 3.11).
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            obj = strict_loads(
                line, what="request", max_bytes=MAX_LINE
            )  # the project's strict JSON: no duplicate keys, no NaN
        except AttestError as exc:
            self.metrics.errors.labels(kind="request").inc()
            return {"ok": False, "error": exc.message}
        op = obj.get("op") if isinstance(obj, dict) else None
        if op == "sign":
            try:
                req = SignRequest.from_obj(obj, what="sign request")
                job = Job.from_obj({**req.job.to_obj(), "phase": req.phase}, what="job")
            except AttestError as exc:
                self.metrics.errors.labels(kind="request").inc()
                return {"ok": False, "error": exc.message}
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            return await self.sign(_Item(req.phase, job, req.tenant, req.gpus, req.licenses, fut))
        if op == "status":
            return {"ok": True, **self.status()}
        if op == "last":
            n = obj.get("n", 1)
            if type(n) is not int or not 1 <= n <= 1000:  # (not a bool: true is no count)
                return {"ok": False, "error": "n must be an integer from 1 to 1000"}
            rows = await asyncio.to_thread(self.db.last, n)
            return {
                "ok": True,
                "manifests": [
                    {
                        "sequence": r.seq,
                        "digest": r.digest,
                        "phase": r.phase,
                        "job_id": r.job_id,
                        "issued_at": r.issued_at,
                        "envelope": r.envelope.decode(),
                    }
                    for r in rows
                ],
            }
        if op == "inventory":
            return {"ok": True, "inventory": self.inventory.to_obj()}
        if op == "heartbeat":
            return await self.heartbeat()
        self.metrics.errors.labels(kind="request").inc()
        return {"ok": False, "error": f"unknown op {op!r}; one of sign, status, last, inventory, heartbeat"}

    def status(self) -> dict[str, Any]:
        """What ``attest daemon status`` prints."""
        return {
            "node": self.inventory.hostname,
            "key_id": self.key.key_id,
            "site": self.config.site.facility_id,
            "sequence": self.head[0] if self.head else None,
            "head": self.head[1] if self.head else None,
            "gpus": len(self.inventory.gpus),
            "hardware_bound": self.binding is not None,
            "landmarks": len(self.landmarks.landmarks) if self.landmarks else 0,
            "last_heartbeat": format_timestamp(self.last_heartbeat) if self.last_heartbeat else None,
            "started": format_timestamp(self.started),
            "queued": self.queue.qsize(),
            "undelivered": len(self.db.undelivered(10_000)) if self.config.collector else None,
            "retention_days": self.config.retention_days,
        }

    # -- heartbeats -------------------------------------------------------------

    async def heartbeat(self) -> dict[str, Any]:
        """Re-read the GPUs, measure the landmarks and sign a heartbeat manifest."""
        try:
            self.inventory = await asyncio.to_thread(self._read_inventory)
        except AttestError as exc:
            self.metrics.errors.labels(kind="heartbeat").inc()
            log.error("GPU inventory failed", extra={"error": exc.message})
            return {"ok": False, "error": exc.message}
        nonce = os.urandom(16).hex()
        receipts = await asyncio.to_thread(self._measure, nonce) if self.landmarks else []
        op = self.config.operator
        tenant = Tenant(legal_name=op.name, headquarters_country=op.country)
        job = Job(id="heartbeat", scheduler="attest-daemon", phase="heartbeat")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        reply = await self.sign(_Item("heartbeat", job, tenant, [], [], fut, nonce=nonce, receipts=receipts))
        if reply["ok"]:
            self.last_heartbeat = datetime.now(UTC)
            for g in self.inventory.gpus:
                self.metrics.gpu_heartbeat.labels(
                    uuid=g.uuid, pci_bus_id=g.pci.bus_id, model_name=g.name, hostname=self.inventory.hostname
                ).set(self.last_heartbeat.timestamp())
            reply["receipts"] = len(receipts)
        return reply

    async def _heartbeats(self) -> None:
        interval = self.config.heartbeat_interval_s
        if interval <= 0:
            return
        while not self.stopping.is_set():
            await self.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=interval)

    # -- delivery ---------------------------------------------------------------

    async def _pusher(self) -> None:
        cfg = self.config.collector
        if cfg is None:
            return
        import requests

        session = requests.Session()
        base_url = cfg.url.split("/v1/", 1)[0].rstrip("/")
        backoff = 1.0
        unproven = 0  # deliveries in a row that the collector's log did not prove
        while not self.stopping.is_set():
            rows = await asyncio.to_thread(self.db.undelivered, 100)
            self.metrics.backlog.set(len(rows))
            if not rows:
                self.pushed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.pushed.wait(), timeout=5)
                continue
            failed = False
            for row in rows:
                try:
                    resp = await asyncio.to_thread(
                        session.post,
                        cfg.url,
                        data=row.envelope,
                        headers={"Content-Type": "application/json", "X-Attest-Sequence": str(row.seq)},
                        timeout=cfg.timeout_s,
                    )
                    ok = resp.status_code == 200
                except requests.RequestException as exc:
                    ok, resp = False, None
                    log.warning("push failed", extra={"sequence": row.seq, "error": str(exc)})
                if not ok:
                    self.metrics.errors.labels(kind="push").inc()
                    failed = True
                    break
                # Delivered only when logged and proven: the answer's inclusion proof (and, with
                # the log's key, one against its signed checkpoint) must verify for this envelope.
                try:
                    assert resp is not None
                    proof = check_receipt(row.envelope, resp.content)
                    if cfg.log_key:
                        proof = await asyncio.to_thread(
                            confirm_in_checkpoint,
                            base_url,
                            cfg.log_key,
                            row.envelope,
                            proof["leaf_index"],
                            session,
                            cfg.timeout_s,
                            await asyncio.to_thread(self.db.held_checkpoint),
                        )
                except LogInconsistent as exc:  # a fork or a rewrite: loudly, and never delivered
                    log.error("log inconsistent", extra={"sequence": row.seq, "error": exc.message})
                    self.metrics.errors.labels(kind="log_inconsistent").inc()
                    failed = True
                    break
                except AttestError as exc:
                    log.warning("push not proven", extra={"sequence": row.seq, "error": exc.message})
                    self.metrics.errors.labels(kind="proof").inc()
                    unproven += 1
                    if unproven == UNPROVEN_ALARM and cfg.log_key:
                        # A collector that never proves its log (errors, 5xx, no checkpoint) for
                        # this long is not a passing fault: the alarm goes off as for a fork.
                        log.error(
                            "log inconsistent",
                            extra={
                                "sequence": row.seq,
                                "error": f"the collector's log could not be proven {unproven} times in a row: "
                                f"{exc.message}",
                            },
                        )
                        self.metrics.errors.labels(kind="log_inconsistent").inc()
                    failed = True
                    break
                unproven = 0
                await asyncio.to_thread(
                    self.db.mark_delivered, row.seq, json.dumps(proof), proof.get("checkpoint")
                )
                self.metrics.pushed.inc()
            if failed:
                delay = min(cfg.max_backoff_s, backoff) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret
                backoff = min(cfg.max_backoff_s, backoff * 2)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
            else:
                backoff = 1.0

    # -- lifecycle --------------------------------------------------------------

    async def _bind(self) -> asyncio.AbstractServer:
        path = Path(self.config.socket)
        if path.exists() or path.is_symlink():
            if not path.is_socket():
                raise InputError(f"socket path {path} exists and is not a socket")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(path))
            except OSError:
                path.unlink()  # a stale socket from a daemon that died
            else:
                raise InputError(f"socket path {path} is in use by a running daemon")
            finally:
                probe.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o177)  # no window in which the socket is more open than asked
        try:
            server = await asyncio.start_unix_server(self._handle, path=str(path), limit=MAX_LINE)
        finally:
            os.umask(old)
        path.chmod(self.config.socket_mode)
        return server

    async def _retention(self) -> None:
        """With ``retention_days``: delete old manifests from the database and the spool, hourly."""
        days = self.config.retention_days
        if days is None:
            return
        while True:
            try:
                await asyncio.to_thread(self.prune, datetime.now(UTC) - timedelta(days=days))
            except (OSError, sqlite3.Error, StoreError) as exc:
                self.metrics.errors.labels(kind="retention").inc()
                log.error("could not prune old manifests", extra={"error": str(exc)})
            await asyncio.sleep(3600)

    def prune(self, before: datetime) -> int:
        """Delete the manifests issued before ``before`` (see ``retention_days``); return how many."""
        seqs = self.db.prune(format_timestamp(before), delivered_only=self.config.collector is not None)
        with self._spool_directory() as directory:
            for seq in seqs:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(_spool_name(seq), dir_fd=directory)
        if seqs:
            self.metrics.pruned.inc(len(seqs))
            log.info("pruned old manifests", extra={"count": len(seqs), "before": format_timestamp(before)})
        return len(seqs)

    async def _watchdog(self) -> None:
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return
        period = int(usec) / 2e6
        while not self.stopping.is_set():
            sd_notify("WATCHDOG=1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=period)

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT; then finish queued work and exit cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        self.server = await self._bind()
        metrics_server = self.metrics.serve(self.config.metrics) if self.config.metrics else None
        tasks = [
            asyncio.create_task(self._signer(), name="signer"),
            asyncio.create_task(self._spooler(), name="spooler"),
            asyncio.create_task(self._heartbeats(), name="heartbeats"),
            asyncio.create_task(self._pusher(), name="pusher"),
            asyncio.create_task(self._watchdog(), name="watchdog"),
            asyncio.create_task(self._retention(), name="retention"),
        ]
        sd_notify("READY=1\nSTATUS=signing")
        log.info(
            "ready",
            extra={
                "socket": self.config.socket,
                "key_id": self.key.key_id,
                "sequence": self.head[0] if self.head else None,
            },
        )
        await self.stopping.wait()
        sd_notify("STOPPING=1")
        log.info("stopping")
        self.server.close()
        await self.queue.put(None)
        await tasks[0]  # every queued request is answered
        await self.spool_queue.put(None)
        await tasks[1]  # and every committed manifest is in the spool
        for writer in list(self._writers):  # idle clients see the connection end, not a hang
            writer.close()
        for t in tasks[2:]:
            t.cancel()
        await asyncio.gather(*tasks[2:], return_exceptions=True)
        if metrics_server is not None:
            metrics_server.shutdown()
        with contextlib.suppress(OSError):
            Path(self.config.socket).unlink()
        self.db.close()
        log.info("stopped")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (stdout/journald), with the record's extra fields."""

    _SKIP = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        obj: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        obj.update({k: v for k, v in vars(record).items() if k not in self._SKIP})
        return json.dumps(obj, default=str)


def setup_logging(level: str = "info") -> None:
    """JSON logs on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("attest")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def run_daemon(config: DaemonConfig) -> None:
    """Build the daemon (config errors raise here, before anything is bound) and serve."""
    # Spool writes, NVML reads, landmark rounds and pushes run in worker threads; with the
    # default 5 ms GIL switch interval the event loop could stall that long behind one of them.
    # 0.5 ms keeps replies prompt.
    sys.setswitchinterval(0.0005)

    async def main() -> None:
        daemon = Daemon(config)
        # Everything loaded so far (models, borders, catalog) lives for the whole run: keep it
        # out of the cyclic collector's sweeps, which otherwise stall the loop for milliseconds.
        gc.collect()
        gc.freeze()
        await daemon.run()

    asyncio.run(main())
