"""The collector: node daemons push envelopes; each is verified, logged and answered with a proof.

HTTP API (aiohttp)::

    POST /v1/manifests          body: one envelope file's bytes (≤ 1 MiB)
        200 {"result": {...}, "leaf_index": N, "leaf_hash": hex, "inclusion": {...}, "duplicate": bool}
        400 not an envelope at all (nothing is logged) · 413 too large
        403 with ``refuse_untrusted``: not signed by trusted keys only (nothing is logged)
    GET  /v1/checkpoint         the newest signed checkpoint (text/plain)
    GET  /v1/proof/inclusion?index=N[&size=S]
    GET  /v1/proof/consistency?old=M[&new=N]
    GET  /v1/entries/N          the logged bytes of entry N
    GET  /healthz

Everything that is an envelope is logged, whatever its verdict: the log records what
nodes said, and the stored result (kept in the log's own store, SQLite or PostgreSQL) says
what the verifier thought of it. Where anyone who can reach the collector could fill its log
(the log is append-only), ``refuse_untrusted`` logs only envelopes every signature of which
is a trusted, unrevoked key's and verifies; the rest are answered 403 with their result
(what a trusted key signed is logged whatever else is wrong with it). A re-push of the
same bytes is answered from the store (same index, same result) without verifying again,
so it is not mistaken for a replay. Verification state (nonces, chain heads) persists — in
a SQLite file, or in a PostgreSQL log's own database, shared by every collector on it — so a
restarted collector still sees replays and rollbacks, and collectors behind one load balancer
see one node's manifests as one chain.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from attest.scheduler.evidence import NewestEvidence

from attest.crypto.keys import SigningKey
from attest.crypto.trust import TrustStore
from attest.errors import InputError
from attest.log import Log, is_url
from attest.replay import SqliteVerifierState, VerifierState
from attest.verify import PolicyEvaluator, VerifyOptions, verify_and_open

MAX_BODY = 1 << 20
_NOT_AN_ENVELOPE = ("envelope.malformed", "envelope.oversize", "envelope.base64", "envelope.noncanonical")
_NOT_TRUSTED_SIGNERS = (
    "envelope.payload_type",
    "signature.unknown_key",
    "signature.invalid",
    "trust.key_revoked",
)


class Collector:
    """State shared by the handlers: the log, the verifier's state, trust, policy."""

    def __init__(
        self,
        log: Log,
        trust: TrustStore,
        *,
        state: VerifierState,
        policy: PolicyEvaluator | None,
        options: VerifyOptions,
        key: SigningKey | None = None,
        checkpoint_interval_s: float = 10.0,
        refuse_untrusted: bool = False,
        newest: NewestEvidence | None = None,
    ) -> None:
        self.log, self.trust, self.state, self.policy, self.options = log, trust, state, policy, options
        self.refuse_untrusted = refuse_untrusted
        self.newest = newest
        self.key = key
        self.interval = checkpoint_interval_s
        self.lock = asyncio.Lock()
        self.note: str | None = None
        self.noted_size = -1

    def _submit(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        from attest.log import merkle

        existing = self.log.store.find(merkle.leaf_hash(raw))
        if existing is not None:
            kept = self.log.store.result(existing)
            result = json.loads(kept) if kept else None
            return 200, {"duplicate": True, "leaf_index": existing, "result": result, **self._proof(existing)}
        result, manifest = verify_and_open(
            raw,
            self.trust,
            now=datetime.now(UTC),
            nonces=self.state,
            chains=self.state,
            policy=self.policy,
            options=self.options,
            devices=self.state,
        )
        if any(f.rule in _NOT_AN_ENVELOPE for f in result.findings):
            return 400, {"error": "not an envelope", "result": result.to_obj()}
        if self.refuse_untrusted and any(f.rule in _NOT_TRUSTED_SIGNERS for f in result.findings):
            return 403, {"error": "not signed by trusted keys only; not logged", "result": result.to_obj()}
        placed = self.log.append([raw])[0]
        if not placed.new:  # another collector on this log logged the same bytes meanwhile
            kept = self.log.store.result(placed.index)
            if kept is not None:  # its verdict stands (this one's saw its nonce as a replay)
                return 200, {
                    "duplicate": True,
                    "leaf_index": placed.index,
                    "result": json.loads(kept),
                    **self._proof(placed.index),
                }
        self.log.store.put_result(placed.index, result.status.value, json.dumps(result.to_obj()))
        if self.newest is not None:
            try:
                self.newest.offer(raw, result, manifest)
            except OSError as exc:  # the log has the envelope; the directory catches up with the next one
                print(
                    f"attest collector: cannot update the evidence directory: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
        return 200, {
            "duplicate": False,
            "leaf_index": placed.index,
            "result": result.to_obj(),
            **self._proof(placed.index),
        }

    def _proof(self, index: int) -> dict[str, Any]:
        proof = self.log.inclusion(index)
        return {"leaf_hash": proof["leaf_hash"], "inclusion": proof}

    async def post_manifest(self, request: web.Request) -> web.Response:
        """POST /v1/manifests."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"error": f"body larger than {MAX_BODY} bytes"}, status=413)
        raw = await request.read()
        async with self.lock:
            code, body = await asyncio.to_thread(self._submit, raw)
        return web.json_response(body, status=code)

    def _checkpoint(self) -> str | None:
        if self.key is None:
            return None
        if self.log.size != self.noted_size:
            self.note = self.log.checkpoint(self.key)
            self.noted_size = self.log.size
        return self.note

    async def get_checkpoint(self, request: web.Request) -> web.Response:
        """GET /v1/checkpoint."""
        async with self.lock:
            note = await asyncio.to_thread(self._checkpoint)
        if note is None:
            return web.json_response({"error": "this collector signs no checkpoints (no --key)"}, status=404)
        return web.Response(text=note, content_type="text/plain")

    async def get_inclusion(self, request: web.Request) -> web.Response:
        """GET /v1/proof/inclusion."""
        try:
            index = int(request.query["index"])
            size = int(request.query["size"]) if "size" in request.query else None
            return web.json_response(self.log.inclusion(index, size))
        except (KeyError, ValueError) as exc:
            return web.json_response(
                {"error": f"give index (and optionally size) as integers: {exc}"}, status=400
            )
        except Exception as exc:  # an InputError: out of range
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)

    async def get_consistency(self, request: web.Request) -> web.Response:
        """GET /v1/proof/consistency."""
        try:
            old = int(request.query["old"])
            new = int(request.query["new"]) if "new" in request.query else None
            return web.json_response(self.log.consistency(old, new))
        except (KeyError, ValueError) as exc:
            return web.json_response(
                {"error": f"give old (and optionally new) as integers: {exc}"}, status=400
            )
        except Exception as exc:
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)

    async def get_entry(self, request: web.Request) -> web.Response:
        """GET /v1/entries/N."""
        try:
            data = self.log.store.entry(int(request.match_info["index"]))
        except ValueError:
            return web.json_response({"error": "entry index must be an integer"}, status=400)
        except Exception as exc:
            return web.json_response({"error": getattr(exc, "message", str(exc))}, status=404)
        return web.Response(body=data, content_type="application/json")

    async def healthz(self, request: web.Request) -> web.Response:
        """GET /healthz."""
        return web.json_response({"ok": True, "size": self.log.size, "origin": self.log.origin})

    async def _checkpoints(self, app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval)
                async with self.lock:
                    await asyncio.to_thread(self._checkpoint)

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(
            [
                web.post("/v1/manifests", self.post_manifest),
                web.get("/v1/checkpoint", self.get_checkpoint),
                web.get("/v1/proof/inclusion", self.get_inclusion),
                web.get("/v1/proof/consistency", self.get_consistency),
                web.get("/v1/entries/{index}", self.get_entry),
                web.get("/healthz", self.healthz),
            ]
        )
        if self.key is not None:
            app.cleanup_ctx.append(self._checkpoints)
        return app


def open_state(log: str, state: str | None) -> VerifierState:
    """The verifier's state: ``state`` (a SQLite file) if given, else one beside a log file.

    A PostgreSQL log without ``state`` keeps it in its own database, where every collector on
    that log shares it.
    """
    if state is None and is_url(log):
        from attest.log.postgres import PostgresVerifierState

        return PostgresVerifierState(log)
    log_path = Path(log)
    path = Path(state) if state else log_path.with_name(log_path.name + ".verifier.db")
    try:
        return SqliteVerifierState(path)
    except sqlite3.Error as exc:  # pragma: no cover - a broken file
        raise InputError(f"cannot open verifier state {path}: {exc}") from None
