"""The hardened HTTP front end the collector and the witness serve behind (aiohttp).

What an Internet-facing service needs that aiohttp does not do by default:

- **Header timeout.** A connection must bring a complete request's headers within
  ``header_timeout_s`` of connecting (and of finishing its previous request); otherwise it is
  closed. Slow-loris connections cannot pile up.
- **Body timeout.** Handlers read bodies under :func:`read_body`, which gives up (408, and the
  connection is closed) after ``body_timeout_s``.
- **Body rate.** A body must also keep coming: once ``body_grace_s`` have passed, one that has
  brought fewer than ``min_body_rate`` bytes a second since the headers is answered 408 and
  its connection closed (a body trickled a byte at a time cannot hold a connection for the
  whole body timeout).
- **Connection cap.** At most ``max_connections`` at once, kept below the process's file
  descriptor limit (raised to its hard limit at start), so the accept loop never runs out of
  descriptors. At the cap, a new connection closes the oldest one that is not inside a request
  (an idle or slow one), else the oldest whose body arrives slower than ``min_body_rate``
  (after one second); only when every connection is inside a healthy request is the new one
  closed. So idle connections and trickled bodies cannot lock ``/healthz`` or the nodes out.
- **Per-network cap.** At most ``max_per_network`` connections at once from one source network
  (an IPv4 /24, an IPv6 /64; 0: no such cap, e.g. behind a reverse proxy): at it, a new
  connection from that network closes that network's oldest idle or trickling one, else it is
  closed itself. One network cannot take every connection.
- **Quiet, bounded logging.** A client that resets its connection is not an error; the
  service's own log records are rate limited (and never carry tracebacks), so a flood cannot
  fill a disk through stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
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

from attest.errors import InputError

_QUIET = (ConnectionError, asyncio.CancelledError, TimeoutError, BrokenPipeError)


@dataclass(frozen=True)
class Limits:
    """The front end's limits."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keepalive_s: float = 15.0
    max_connections: int = 1024
    backlog: int = 128
    max_per_network: int = 64
    min_body_rate: float = 512.0
    """Bytes a second a body must average once ``body_grace_s`` have passed."""
    body_grace_s: float = 5.0


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


def network_of(host: str) -> str:
    """The unit a per-network limit counts: an IPv4 /24 or an IPv6 /64 (mapped IPv4 as IPv4)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


class NetworkBuckets:
    """Token buckets per source network, bounded in number without evicting live ones.

    Once ``max_networks`` buckets exist, those that have refilled are dropped (at most once a
    second) and networks that still find no room share one overflow bucket, so many spoofed or
    rented sources get no fresh buckets.
    """

    def __init__(self, per_minute: float, max_networks: int = 65536) -> None:
        self.rate, self.burst = per_minute / 60.0, max(1.0, per_minute)
        self.max = max_networks
        self.buckets: dict[str, list[float]] = {}
        self.overflow = [self.burst, time.monotonic()]
        self.pruned_at = 0.0

    def _bucket(self, host: str, now: float) -> list[float]:
        key = network_of(host)
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max and now - self.pruned_at >= 1.0:
                self.pruned_at = now
                for k in [
                    k for k, b in self.buckets.items() if b[0] + (now - b[1]) * self.rate >= self.burst
                ]:
                    del self.buckets[k]
            if len(self.buckets) >= self.max:
                return self.overflow
            bucket = self.buckets[key] = [self.burst, now]
        bucket[0], bucket[1] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate), now
        return bucket

    def wait(self, host: str) -> float:
        """Seconds until ``host``'s network has a token (0: it has one now); spends nothing."""
        tokens = self._bucket(host, time.monotonic())[0]
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate if self.rate > 0 else 60.0

    def spend(self, host: str) -> None:
        """Take a token from ``host``'s network."""
        bucket = self._bucket(host, time.monotonic())
        bucket[0] = max(0.0, bucket[0] - 1.0)


_READING: dict[Any, tuple[float, Any]] = {}
"""The connections reading a body now: protocol -> (when the body's reading began, its stream)."""


def _too_slow(started: float, stream: Any, now: float, rate: float, grace: float) -> bool:
    """Whether a body that began at ``started`` has brought fewer than ``rate`` bytes a second after ``grace``."""
    elapsed = now - started
    received = int(getattr(stream, "total_bytes", 0))
    return elapsed > grace and received < rate * elapsed


async def read_body(request: web.Request, limits: Limits) -> bytes:
    """The request body, or :class:`web.HTTPRequestTimeout` (the connection is closed) if it is too slow.

    Too slow: not all there after ``body_timeout_s``, or fewer than ``min_body_rate`` bytes a
    second on average once ``body_grace_s`` have passed.
    """
    started = time.monotonic()
    proto = request.protocol
    _READING[proto] = (started, request.content)
    reading = asyncio.ensure_future(request.read())
    try:
        while True:
            done, _ = await asyncio.wait({reading}, timeout=min(1.0, limits.body_grace_s))
            if done:
                return reading.result()
            now = time.monotonic()
            if now - started >= limits.body_timeout_s or _too_slow(
                started, request.content, now, limits.min_body_rate, limits.body_grace_s
            ):
                break
    finally:
        _READING.pop(proto, None)
        if not reading.done():
            reading.cancel()
    if request.transport is not None:
        request.transport.close()
    raise web.HTTPRequestTimeout(text="the body did not arrive in time\n")


class _Guard:
    """Per-connection header deadlines and the connection cap."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: dict[RequestHandler, tuple[asyncio.TimerHandle, int]] = {}
        self.served: dict[RequestHandler, int] = {}
        self.refused = 0
        self.evicted = 0
        self.network: dict[RequestHandler, str] = {}
        self.per_network: dict[str, int] = {}

    def made(self, proto: RequestHandler, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        net = network_of(str(peer[0])) if isinstance(peer, tuple) and peer else "unknown"
        crowded = 0 < self.limits.max_per_network <= self.per_network.get(net, 0)
        if (crowded and not self._evict_idle(net)) or (
            len(self.open) >= self.limits.max_connections and not self._evict_idle(None)
        ):
            self.refused += 1
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            return
        self.network[proto] = net
        self.per_network[net] = self.per_network.get(net, 0) + 1
        self.served[proto] = 0
        self._arm(proto)

    def _evict_idle(self, net: str | None) -> bool:
        """Close the oldest idle connection (of network ``net``, if given), else the oldest trickling a body."""
        now = time.monotonic()
        mine = [p for p in self.open if net is None or self.network.get(p) == net]
        for proto in mine:
            if not getattr(proto, "_request_in_progress", False) and proto.transport is not None:
                return self._evict(proto)
        for proto in mine:
            reading = _READING.get(proto)
            slow = reading is not None and _too_slow(
                reading[0], reading[1], now, self.limits.min_body_rate, 1.0
            )
            if slow and proto.transport is not None:
                return self._evict(proto)
        return False

    def _evict(self, proto: RequestHandler) -> bool:
        assert proto.transport is not None
        proto.transport.abort()
        self.lost(proto)
        self.evicted += 1
        return True

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
        net = self.network.pop(proto, None)
        if net is not None:
            left = self.per_network.get(net, 1) - 1
            if left > 0:
                self.per_network[net] = left
            else:
                self.per_network.pop(net, None)


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
    limits = dataclasses.replace(limits, max_connections=budget, backlog=backlog)

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

        try:
            listener = await loop.create_server(
                factory, host, port, backlog=limits.backlog, reuse_address=True
            )
        except OSError as exc:
            await runner.cleanup()
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
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
