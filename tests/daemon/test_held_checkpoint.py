"""A daemon holding a verified checkpoint: what a collector's answers about its log mean (review F5).

A real HTTP server plays the collector; the daemon's own checking function talks to it with
``requests``, as the pusher does. A malformed consistency proof or a checkpoint the pinned key
did not sign is the log misbehaving (``LogInconsistent``, the daemon's alarm); only a network
error or a server error (5xx) is transient (retried quietly, up to ``UNPROVEN_ALARM`` times).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http import server as http_server
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from attest.crypto.keys import SigningKey
from attest.daemon.receipt import LogInconsistent, confirm_in_checkpoint
from attest.errors import InputError
from attest.log import Log


class _Collector(http_server.BaseHTTPRequestHandler):
    note: ClassVar[str] = ""
    consistency: ClassVar[tuple[int, bytes]] = (200, b"{}")
    inclusion: ClassVar[bytes] = b"{}"

    def do_GET(self) -> None:
        if self.path.startswith("/v1/checkpoint"):
            status, body = 200, self.note.encode()
        elif self.path.startswith("/v1/proof/consistency"):
            status, body = self.consistency
        else:
            status, body = 200, self.inclusion
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[str, Log, SigningKey, str, bytes]]:
    """(base URL, the log, its key, the checkpoint held at size 1, the envelope at index 1)."""
    import json

    key = SigningKey.generate()
    log = Log.init(tmp_path / "audit.db", "example.com/collector", key)
    log.append([b"first\n"])
    held = log.checkpoint(key)
    log.append([b"second\n"])
    _Collector.note = log.checkpoint(key)
    _Collector.inclusion = json.dumps(log.inclusion(1)).encode()
    server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log, key, held, b"second\n"
    finally:
        server.shutdown()


def _confirm(base: str, log: Log, held: str | None, envelope: bytes) -> dict[str, Any]:
    vkey = log.store.meta("verifier_key") or ""
    with requests.Session() as session:
        return confirm_in_checkpoint(base, vkey, envelope, 1, session, 10.0, held)


def test_a_sound_proof_confirms_and_a_server_error_is_transient(collector: Any) -> None:
    import json

    base, log, _, held, envelope = collector
    _Collector.consistency = (200, json.dumps(log.consistency(1, 2)).encode())
    assert _confirm(base, log, held, envelope)["tree_size"] == 2
    _Collector.consistency = (500, b"internal error")
    with pytest.raises(InputError) as caught:
        _confirm(base, log, held, envelope)
    assert not isinstance(caught.value, LogInconsistent)


@pytest.mark.parametrize(
    "answer",
    [b"<html>not a proof</html>", b'{"path": ["zz"]}', b'{"no": "path"}'],
    ids=["not-json", "bad-hex", "no-path"],
)
def test_a_malformed_consistency_proof_is_an_inconsistent_log(collector: Any, answer: bytes) -> None:
    base, log, _, held, envelope = collector
    _Collector.consistency = (200, answer)
    with pytest.raises(LogInconsistent, match="not consistent with the one held"):
        _confirm(base, log, held, envelope)


def test_a_checkpoint_of_another_key_is_an_inconsistent_log_while_one_is_held(collector: Any) -> None:
    import json

    base, log, _, held, envelope = collector
    _Collector.consistency = (200, json.dumps(log.consistency(1, 2)).encode())
    other = SigningKey.generate()
    _Collector.note = _resign(_Collector.note, other)
    with pytest.raises(LogInconsistent, match="does not verify under the log's key"):
        _confirm(base, log, held, envelope)
    with pytest.raises(InputError) as caught:  # nothing held yet: not confirmed, retried
        _confirm(base, log, None, envelope)
    assert not isinstance(caught.value, LogInconsistent)


def _resign(note: str, key: SigningKey) -> str:
    from attest.log.checkpoint import Checkpoint

    head = note.partition("\n\n")[0].splitlines()
    stamp = int(head[3].split()[1]) if len(head) > 3 else None
    import base64

    return Checkpoint(head[0], int(head[1]), base64.b64decode(head[2]), stamp).sign(head[0], key)
