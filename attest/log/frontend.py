"""The hardened HTTP front end the collector and the witness serve behind (aiohttp).

What an Internet-facing service needs that aiohttp does not do by default:

- **Header timeout.** A connection must bring a complete request's headers within
  ``header_timeout_s`` of connecting (and of finishing its previous request); otherwise it is
  closed. Slow-loris connections cannot pile up.
- **Body timeout.** Handlers read bodies under :func:`read_body`, which gives up (408, and the
  connection is closed) after ``body_timeout_s``.
- **Connection cap.** At most ``max_connections`` at once, kept below the process's file
  descriptor limit (raised to its hard limit at start), so the accept loop never runs out of
  descriptors. At the cap, a new connection closes the oldest one that is not inside a request
  (an idle or slow one); only when every connection is inside a request is the new one closed.
  So idle connections cannot lock ``/healthz`` or the nodes out.
- **Quiet, bounded logging.** A client that resets its connection is not an error; the
  service's own log records are rate limited (and never carry tracebacks), so a flood cannot
  fill a disk through stderr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

_QUIET = (ConnectionError, asyncio.CancelledError, TimeoutError, BrokenPipeError)


@dataclass(frozen=True)
class Limits:
    """The front end's limits."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_s: float = 15.0
    max_connections: int = 1024
    backlog: int = 128


class BoundedLog(logging.Handler):
    """Writes at most ``per_minute`` records a minute to stderr, one line each, without tracebacks."""

    def __init__(self, per_minute: int = 30) -> None:
        super().__init__(logging.WARNING)
        self.per_minute = per_minute
        self.window = 0.0
        self.count = 0
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record if the minute's budget allows."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, _QUIET):
            return  # a client went away: not the service's error
        now = time.monotonic()
        if now - self.window >= 60:
            if self.dropped:
                sys.stderr.write(f"attest: {self.dropped} log records dropped in the last minute\n")
            self.window, self.count, self.dropped = now, 0, 0
        if self.count >= self.per_minute:
            self.dropped += 1
            return
        self.count += 1
        message = record.getMessage()
        if exc is not None:
            message += f": {type(exc).__name__}: {exc}"
        sys.stderr.write(f"attest: {record.name}: {message[:500]}\n")


def quiet_logging(handler: BoundedLog) -> None:
    """Route aiohttp's, asyncio's and this service's records through ``handler`` only."""
    for name in ("aiohttp", "asyncio", "attest"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        logger.setLevel(logging.WARNING)


def descriptor_budget(wanted: int, backlog: int) -> tuple[int, int]:
    """Raise the soft descriptor limit to the hard one; return (connections, accept backlog) that fit.

    The event loop accepts up to ``backlog`` connections per wake-up before the cap can close
    any, and the process holds its databases, log files and imports: both are kept in reserve.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted, backlog
    backlog = max(8, min(backlog, soft // 8))
    return max(1, min(wanted, soft - 64 - backlog)), backlog


async def read_body(request: web.Request, limits: Limits) -> bytes:
    """The request body, or :class:`web.HTTPRequestTimeout` (the connection is closed) if it is too slow."""
    try:
        return await asyncio.wait_for(request.read(), timeout=limits.body_timeout_s)
    except TimeoutError:
        if request.transport is not None:
            request.transport.close()
        raise web.HTTPRequestTimeout(text="the body did not arrive in time\n") from None


class _Guard:
    """Per-connection header deadlines and the connection cap."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: dict[RequestHandler, tuple[asyncio.TimerHandle, int]] = {}
        self.served: dict[RequestHandler, int] = {}
        self.refused = 0
        self.evicted = 0

    def made(self, proto: RequestHandler, transport: asyncio.BaseTransport) -> None:
        if len(self.open) >= self.limits.max_connections and not self._evict_idle():
            self.refused += 1
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            return
        self.served[proto] = 0
        self._arm(proto)

    def _evict_idle(self) -> bool:
        """Close the oldest connection that is not inside a request (a slow or idle one), to make room."""
        for proto in self.open:
            if not getattr(proto, "_request_in_progress", False) and proto.transport is not None:
                proto.transport.abort()
                self.lost(proto)
                self.evicted += 1
                return True
        return False

    def _arm(self, proto: RequestHandler) -> None:
        handle = asyncio.get_running_loop().call_later(self.limits.header_timeout_s, self._check, proto)
        self.open[proto] = (handle, self.served.get(proto, 0))

    def _check(self, proto: RequestHandler) -> None:
        entry = self.open.get(proto)
        if entry is None:
            return
        busy = getattr(proto, "_request_in_progress", False)  # a handler runs: the body timeout governs it
        if busy or self.served.get(proto, 0) != entry[1]:
            self._arm(proto)
            return
        transport = proto.transport
        if transport is not None:
            transport.abort()  # no complete request in time

    def done(self, proto: RequestHandler) -> None:
        if proto in self.served:
            self.served[proto] += 1

    def lost(self, proto: RequestHandler) -> None:
        entry = self.open.pop(proto, None)
        if entry is not None:
            entry[0].cancel()
        self.served.pop(proto, None)


def _guarded_class(guard: _Guard) -> type[RequestHandler]:
    class Guarded(RequestHandler):
        __slots__ = ()

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            guard.made(self, transport)

        def connection_lost(self, exc: BaseException | None) -> None:
            guard.lost(self)
            super().connection_lost(exc)

    return Guarded


def serve_app(
    app: Any,
    host: str,
    port: int,
    banner: dict[str, Any],
    limits: Limits = Limits(),
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` behind the limits until SIGINT or SIGTERM.

    Prints one JSON line to stdout once listening: ``banner`` with ``listening`` (the bound
    address) and ``max_connections``.
    """
    bounded = BoundedLog()
    quiet_logging(bounded)
    budget, backlog = descriptor_budget(limits.max_connections, limits.backlog)
    limits = Limits(limits.header_timeout_s, limits.body_timeout_s, limits.keepalive_s, budget, backlog)

    @web.middleware
    async def count(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if request.protocol is not None:
                guard.done(request.protocol)

    app.middlewares.append(count)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: _loop_error(bounded, ctx))
        guarded = _guarded_class(guard)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=limits.keepalive_s)
        await runner.setup()
        server = runner.server
        assert server is not None

        def factory() -> RequestHandler:
            proto = server()
            proto.__class__ = guarded  # same layout (no new slots): only the two hooks differ
            return proto

        listener = await loop.create_server(factory, host, port, backlog=limits.backlog, reuse_address=True)
        bound = listener.sockets[0].getsockname()[:2]
        print(
            json.dumps({**banner, "listening": f"{bound[0]}:{bound[1]}", "max_connections": budget}),
            flush=True,
        )
        if on_started is not None:
            await on_started()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        listener.close()
        await runner.cleanup()

    guard = _Guard(limits)
    asyncio.run(main())


def _loop_error(handler: BoundedLog, context: dict[str, Any]) -> None:
    """The event loop's errors (an accept that ran out of descriptors, say) through the bounded log."""
    exc = context.get("exception")
    record = logging.LogRecord(
        "asyncio",
        logging.ERROR,
        __file__,
        0,
        str(context.get("message", "event loop error")),
        None,
        (type(exc), exc, exc.__traceback__) if isinstance(exc, BaseException) else None,
    )
    handler.emit(record)
