"""A C2SP tlog-witness: cosign checkpoints that are consistent with the last one cosigned.

Cosignatures follow C2SP tlog-cosignature (Ed25519, ``cosignature/v1``): a note signature line
``— <witness name> base64(key ID || u64 timestamp || Ed25519 signature)`` where
key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4], over::

    cosignature/v1
    time <timestamp>
    <the checkpoint's note body>

The cosignature's timestamp is when the witness saw the checkpoint: a checkpoint that carries
cosignatures carries the time the log could not have changed it after.

``add-checkpoint`` (C2SP tlog-witness) takes ``old <size>``, the consistency proof lines, a
blank line and the signed checkpoint. Answers: 404 unknown origin, 403 no valid signature by
the log's key, 400 malformed or old size above the checkpoint's, 409 (``text/x.tlog.size``:
the size last cosigned) when the old size is not that size or the same size has another root,
422 when the proof does not verify, 200 with the cosignature line. The check against the
stored checkpoint and its update are one SQLite transaction, so two requests cannot roll the
witness back.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attest.crypto.keys import SigningKey
from attest.errors import InputError
from attest.log import TIME_TOLERANCE_S, merkle
from attest.log.checkpoint import open_checkpoint
from attest.log.cosignature import WitnessKey as WitnessKey  # re-exported: the witness's vocabulary
from attest.log.cosignature import cosign as cosign
from attest.log.cosignature import cosignature_times as cosignature_times
from attest.log.cosignature import cosigner_key_id as cosigner_key_id
from attest.log.cosignature import count_cosignatures as count_cosignatures
from attest.log.cosignature import ed25519_raw
from attest.log.monitor import LogKey

if TYPE_CHECKING:
    from attest.log.frontend import Limits

MAX_PROOF_LINES = 63
MAX_REQUEST = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body, content type."""

    status: int
    body: str
    content_type: str = "text/plain"


class Witness:
    """The witness: its key, the logs it follows, the last checkpoint it cosigned for each (SQLite)."""

    def __init__(self, name: str, key: SigningKey, logs: Sequence[LogKey], state: Path) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise InputError("the witness name must be non-empty, without spaces or '+'")
        ed25519_raw(key.public)
        self.name, self.key = name, key
        self.logs = {log.name: log for log in logs}
        if not self.logs:
            raise InputError("a witness follows at least one log (--log-key FILE)")
        try:
            self.db = sqlite3.connect(str(state), isolation_level=None, check_same_thread=False, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS cosigned (origin TEXT PRIMARY KEY, size INTEGER NOT NULL, "
                "root BLOB NOT NULL, note TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise InputError(f"cannot open the witness state {state}: {exc}") from None

    @property
    def vkey(self) -> str:
        """This witness's vkey, for the logs' and verifiers' configuration."""
        return WitnessKey(self.name, self.key.public).vkey()

    def add_checkpoint(self, request: bytes, now: float | None = None) -> Answer:
        """One ``add-checkpoint`` request."""
        if len(request) > MAX_REQUEST:
            return Answer(400, "request too large\n")
        try:
            text = request.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "not UTF-8\n")
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            return Answer(400, "expected 'old <size>', proof lines, a blank line and a checkpoint\n")
        size_text = lines[0][4:]
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            return Answer(400, "the old size is not a decimal number\n")
        old = int(size_text)
        if len(lines) - 1 > MAX_PROOF_LINES:
            return Answer(400, "too many proof lines\n")
        try:
            proof = [base64.b64decode(x, validate=True) for x in lines[1:]]
        except ValueError:
            return Answer(400, "a proof line is not base64\n")
        if any(len(p) != 32 for p in proof):
            return Answer(400, "a proof line is not a 32-byte hash\n")
        origin = note.split("\n", 1)[0]
        log = self.logs.get(origin)
        if log is None:
            return Answer(404, f"unknown log {origin!r}\n")
        try:
            cp = open_checkpoint(note, log.name, log.public, origin=origin)
        except InputError as exc:
            return Answer(403, f"{exc.message}\n")
        if old > cp.size:
            return Answer(400, "the old size is above the checkpoint's size\n")
        clock = time.time() if now is None else now
        if cp.timestamp is not None and cp.timestamp > clock + TIME_TOLERANCE_S:
            # A log whose clock runs ahead: cosigning would make every later, honest time line
            # look like it goes backwards (and each witness refuses that).
            return Answer(
                400,
                f"the checkpoint's time is {cp.timestamp - clock:.0f} s ahead of this witness's clock "
                f"(more than {TIME_TOLERANCE_S:.0f} s)\n",
            )
        with sqlite3_transaction(self.db):
            row = self.db.execute(
                "SELECT size, root, note FROM cosigned WHERE origin = ?", (origin,)
            ).fetchone()
            known_size, known_root = (0, merkle.EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
            known_time = _note_time(str(row[2]), log) if row is not None else None
            if known_time is not None and (cp.timestamp is None or cp.timestamp < known_time):
                return Answer(
                    400, f"the checkpoint's time goes back before the last cosigned one's ({known_time})\n"
                )
            if old != known_size:
                return Answer(409, f"{known_size}\n", "text/x.tlog.size")
            if old == cp.size:
                if cp.root != known_root:
                    return Answer(409, f"{known_size}\n", "text/x.tlog.size")
            elif old == 0:
                if proof:
                    return Answer(422, "the proof from size 0 must be empty\n")
            elif not merkle.verify_consistency(old, cp.size, known_root, cp.root, proof):
                return Answer(
                    422, "the consistency proof does not verify from the last cosigned checkpoint\n"
                )
            self.db.execute(
                "INSERT INTO cosigned (origin, size, root, note) VALUES (?, ?, ?, ?) ON CONFLICT(origin) "
                "DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
                (origin, cp.size, cp.root, note),
            )
        body = note.partition("\n\n")[0] + "\n"
        stamp = int(clock)
        return Answer(200, cosign(body, self.name, self.key, stamp))

    def close(self) -> None:
        """Close the state."""
        self.db.close()


class sqlite3_transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an error or an early return's exception)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _note_time(note: str, log: LogKey) -> int | None:
    """The time line of a checkpoint this witness cosigned before (None without one)."""
    try:
        return open_checkpoint(note, log.name, log.public, origin=log.name).timestamp
    except InputError:
        return None


def add_checkpoint_request(old: int, proof: Sequence[bytes], note: str) -> bytes:
    """The body of an ``add-checkpoint`` request."""
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def witness_app(witness: Witness, limits: Limits | None = None) -> object:
    """The aiohttp application: ``POST /add-checkpoint`` and ``GET /healthz`` (bodies read under ``limits``)."""
    import asyncio

    from aiohttp import web

    from attest.log.frontend import Limits, read_body

    lock = asyncio.Lock()
    limits = limits or Limits()

    async def add(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_REQUEST:
            return web.Response(status=400, text="request too large\n")
        body = await read_body(request, limits)
        async with lock:
            answer = await asyncio.to_thread(witness.add_checkpoint, body)
        return web.Response(status=answer.status, text=answer.body, content_type=answer.content_type)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "witness": witness.vkey})

    app = web.Application(client_max_size=MAX_REQUEST)
    app.add_routes([web.post("/add-checkpoint", add), web.get("/healthz", healthz)])
    return app
