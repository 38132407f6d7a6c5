"""``attest.daemon.Client``: talk to the local daemon over its Unix socket."""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from typing import Any

from attest.errors import AttestError


class DaemonError(AttestError):
    """The daemon refused a request, or could not be reached."""


class Client:
    """A connection to the daemon (reconnects per call; safe to share between threads only per call)."""

    def __init__(self, socket_path: str, *, timeout_s: float = 30.0) -> None:
        self.path = socket_path
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout_s)
            try:
                s.connect(self.path)
            except FileNotFoundError:
                s.close()
                raise DaemonError(
                    f"no daemon socket at {self.path}", hint="start it: attest daemon --config FILE"
                ) from None
            except OSError as exc:
                s.close()
                raise DaemonError(
                    f"cannot connect to the daemon at {self.path}: {exc.strerror or exc}"
                ) from None
            self._sock = s
        return self._sock

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Send one request; return the reply, or raise :class:`DaemonError` for ``ok: false``."""
        sock = self._connect()
        try:
            sock.sendall(json.dumps(obj).encode() + b"\n")
            while b"\n" not in self._buf:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise DaemonError("the daemon closed the connection")
                self._buf += chunk
        except OSError as exc:
            self.close()
            raise DaemonError(f"lost the connection to the daemon: {exc.strerror or exc}") from None
        except DaemonError:
            self.close()
            raise
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            self.close()
            raise DaemonError("the daemon sent something that is not JSON") from None
        if not isinstance(reply, dict) or not reply.get("ok"):
            msg = reply.get("error", "request refused") if isinstance(reply, dict) else "request refused"
            raise DaemonError(str(msg))
        return reply

    def sign_job(
        self,
        phase: str,
        job_id: str,
        tenant: dict[str, Any],
        *,
        gpus: Sequence[str | int] = (),
        scheduler: str = "slurm",
        **job: Any,
    ) -> dict[str, Any]:
        """Sign a ``start`` or ``end`` manifest; the reply has ``sequence``, ``digest``, ``envelope``, ``path``."""
        return self.request(
            {
                "op": "sign",
                "phase": phase,
                "job": {"id": job_id, "scheduler": scheduler, **job},
                "tenant": tenant,
                "gpus": [str(g) for g in gpus],
            }
        )

    def status(self) -> dict[str, Any]:
        """The daemon's status."""
        return self.request({"op": "status"})

    def last(self, n: int = 1) -> list[dict[str, Any]]:
        """The newest ``n`` manifests, newest first."""
        return list(self.request({"op": "last", "n": n})["manifests"])

    def inventory(self) -> dict[str, Any]:
        """The GPU inventory the daemon signs with."""
        return dict(self.request({"op": "inventory"})["inventory"])

    def heartbeat(self) -> dict[str, Any]:
        """Sign a heartbeat now."""
        return self.request({"op": "heartbeat"})

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
