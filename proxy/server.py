"""The only module with asyncio and sockets: listeners, connections that drive layers, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections import deque
from collections.abc import Callable
from typing import cast

from meshpipe.proxy.admin import AdminApp, PipelineStats, ProxyMetrics
from meshpipe.proxy.commands import (
    CancelTimer,
    CloseConnection,
    Command,
    ConnectionAccepted,
    ConnectionClosed,
    DataReceived,
    DrainStarted,
    Event,
    FinishRequestEvent,
    Log,
    OpenUpstream,
    PauseReading,
    PublishRequestEvent,
    ResumeReading,
    SendData,
    Side,
    StartTimer,
    TimerFired,
    UpstreamConnected,
    UpstreamFailed,
)
from meshpipe.proxy.connections import ConnectionGauges
from meshpipe.proxy.detect import connection_layer
from meshpipe.proxy.events import SeqAllocator
from meshpipe.proxy.layer import Address, Layer, LayerContext
from meshpipe.proxy.publisher import EventPublisher
from meshpipe.proxy.redirect import original_destination, redirect_target
from meshpipe.proxy.settings import Listener, ServerSettings
from meshpipe.schemas.clock import Clock, SystemClock
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.tasks import BackgroundTasks

log = logging.getLogger(__name__)

# Commands that never touch a socket: outgoing data may be held (coalesced) across them.
_BESIDE_DATA = (StartTimer, CancelTimer, PublishRequestEvent, FinishRequestEvent, Log)


def _other(side: Side) -> Side:
    return Side.UPSTREAM if side == Side.DOWNSTREAM else Side.DOWNSTREAM


class _SideProtocol(asyncio.Protocol):
    """Socket callbacks of one side of a Connection, turned into layer events."""

    def __init__(self, conn: Connection | None, side: Side, gen: int = 0) -> None:
        self.conn = conn
        self.side = side
        self.gen = gen

    def _live(self) -> Connection | None:
        """The connection, unless these callbacks belong to a replaced or finished side."""
        conn = self.conn
        return conn if conn is not None and conn.current(self.side, self.gen) else None

    def data_received(self, data: bytes) -> None:
        conn = self.conn  # _live, inlined: this runs for every read
        if conn is not None and conn.current(self.side, self.gen):
            conn.feed(DataReceived(self.side, data))

    def eof_received(self) -> bool:
        if conn := self._live():
            conn.peer_eof(self.side)
        return True  # keep writing: TCP half-close

    def connection_lost(self, exc: Exception | None) -> None:
        if conn := self._live():
            conn.lost(self.side, exc)

    def pause_writing(self) -> None:
        if conn := self._live():
            conn.write_blocked(self.side, True)

    def resume_writing(self) -> None:
        if conn := self._live():
            conn.write_blocked(self.side, False)


class _DownstreamProtocol(_SideProtocol):
    def __init__(self, server: ProxyServer, listener: Listener) -> None:
        super().__init__(None, Side.DOWNSTREAM)
        self._server = server
        self._listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        accepted = cast(asyncio.Transport, transport)
        target = self._server.target_for(self._listener, accepted)
        if target is None and self._listener.needs_target:
            log.warning(
                "%s: refusing a connection that was not redirected to an app port",
                self._listener.name,
            )
            accepted.abort()
            return
        self.conn = Connection(self._server, self._listener, accepted, target)
        self.conn.feed(ConnectionAccepted())


class _UpstreamProtocol(_SideProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.conn is None or not self.conn.upstream_made(
            self.gen, cast(asyncio.Transport, transport)
        ):
            transport.close()


class Connection:
    """One accepted connection: feeds its layer events in order and executes its commands."""

    def __init__(
        self,
        server: ProxyServer,
        listener: Listener,
        transport: asyncio.Transport,
        target: Address | None,
    ) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._listener = listener
        self._transports: dict[Side, asyncio.Transport | None] = {
            Side.DOWNSTREAM: transport,
            Side.UPSTREAM: None,
        }
        self._gen = 0  # upstream generation: callbacks of replaced upstreams are ignored
        self._connecting: asyncio.Task[None] | None = None
        self._down_closed = False
        self._eof: set[Side] = set()
        self._layer_paused: set[Side] = set()
        self._write_blocked: set[Side] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._queue: deque[Event] = deque()
        self._busy = False
        self.done = False
        self.direction = listener.direction
        ctx = server.layer_context(listener, transport, target)
        self._layer = server.new_layer(ctx)
        server.connection_started(self, ctx)

    # callbacks from the protocols

    def current(self, side: Side, gen: int) -> bool:
        return not self.done and (side == Side.DOWNSTREAM or gen == self._gen)

    def upstream_made(self, gen: int, transport: asyncio.Transport) -> bool:
        if self.done or gen != self._gen:
            return False
        self._transports[Side.UPSTREAM] = transport
        self._apply_reading(Side.UPSTREAM)
        self.feed(UpstreamConnected())
        return True

    def peer_eof(self, side: Side) -> None:
        self._eof.add(side)
        self.feed(ConnectionClosed(side))

    def lost(self, side: Side, exc: Exception | None) -> None:
        if side == Side.UPSTREAM:
            self._transports[Side.UPSTREAM] = None
        else:
            self._down_closed = True
        if side not in self._eof or exc is not None:
            self._eof.add(side)
            self.feed(ConnectionClosed(side, str(exc) if exc else ""))
        self._check_done()

    def write_blocked(self, side: Side, blocked: bool) -> None:
        if blocked:
            self._write_blocked.add(side)
        else:
            self._write_blocked.discard(side)
        self._apply_reading(_other(side))

    # driving the layer

    def feed(self, event: Event) -> None:
        if self.done:
            return
        if self._busy:
            self._queue.append(event)  # an event fed while executing commands waits its turn
            return
        self._busy = True
        try:
            self._step(event)
            while self._queue and not self.done:
                self._step(self._queue.popleft())
        finally:
            self._busy = False

    def _step(self, event: Event) -> None:
        try:  # the crash boundary: one connection fails, never the proxy
            # _run inside it too: it seals HTTP/1 events (FinishRequestEvent), layer code.
            self._run(self._layer.handle(event))
        except Exception:
            log.exception("handling %r failed; closing the connection", type(event).__name__)
            self.abort()
            return
        if self._down_closed:
            self._check_done()

    def _run(self, commands: list[Command]) -> None:
        """Execute commands in order, joining the data for each side into one write per step.

        A response head and its body (or a request head and its body) then leave in one syscall.
        Timers, events and logs do not touch the sockets, so they wait until the data they
        follow is written (the response leaves before its event is published); any other
        command flushes first, keeping data ordered against closes and reconnects.
        """
        n = len(commands)
        if n and isinstance(first := commands[0], SendData):
            # The two shapes of a keep-alive request, taken without the general bookkeeping:
            # a read relayed as one write, and a response written, then its event sealed (the
            # HTTP/1 layer) or already sealed (HTTP/2) and published.
            if n == 1:
                self._send(first.side, first.data)
                return
            if n == 2:
                second = commands[1]
                if isinstance(second, FinishRequestEvent):
                    self._send(first.side, first.data)
                    self._server.publish(second.record.finish().event, self)
                    return
                if isinstance(second, PublishRequestEvent):
                    self._send(first.side, first.data)
                    self._server.publish(second.event, self)
                    return
        held: dict[Side, list[bytes]] = {}
        later: list[Command] = []
        for command in commands:
            if isinstance(command, SendData):
                held.setdefault(command.side, []).append(command.data)
            elif isinstance(command, _BESIDE_DATA):
                if held:
                    later.append(command)
                else:
                    self._execute(command)
            else:
                if held:
                    self._write(held)
                for deferred in later:
                    self._execute(deferred)
                later.clear()
                self._execute(command)
        if held:
            self._write(held)
        for deferred in later:
            self._execute(deferred)

    def _write(self, held: dict[Side, list[bytes]]) -> None:
        for side, parts in held.items():
            self._send(side, parts[0] if len(parts) == 1 else b"".join(parts))
        held.clear()

    def _send(self, side: Side, data: bytes) -> None:
        transport = self._transports[side]
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _execute(self, command: Command) -> None:
        """Everything but SendData, which _run gathers into writes."""
        if isinstance(command, FinishRequestEvent):  # the one non-data command per request
            self._server.publish(command.record.finish().event, self)
        elif isinstance(command, PublishRequestEvent):
            self._server.publish(command.event, self)
        elif isinstance(command, CloseConnection):
            self._close(command.side, command.half)
        elif isinstance(command, OpenUpstream):
            self._open_upstream(command.host, command.port)
        elif isinstance(command, PauseReading | ResumeReading):
            if isinstance(command, PauseReading):
                self._layer_paused.add(command.side)
            else:
                self._layer_paused.discard(command.side)
            self._apply_reading(command.side)
        elif isinstance(command, StartTimer):
            self._cancel_timer(command.name)
            fire = TimerFired(command.name)
            self._timers[command.name] = self._loop.call_later(command.seconds, self.feed, fire)
        elif isinstance(command, CancelTimer):
            self._cancel_timer(command.name)
        elif isinstance(command, Log):
            log.log(logging.getLevelName(command.level.upper()), "%s", command.message)
        else:
            log.warning("unexpected command %r", command)

    def _close(self, side: Side, half: bool) -> None:
        transport = self._transports[side]
        if half and transport is not None and transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                transport.write_eof()
            return
        if transport is not None:
            transport.close()
        if side == Side.UPSTREAM:
            self._drop_upstream()
        else:
            self._down_closed = True

    def _drop_upstream(self) -> None:
        """Forget the upstream (closing, or never connected) so its late callbacks are ignored."""
        self._gen += 1
        self._transports[Side.UPSTREAM] = None
        self._eof.discard(Side.UPSTREAM)
        if self._connecting is not None:
            self._connecting.cancel()
            self._connecting = None

    def _open_upstream(self, host: str, port: int) -> None:
        old = self._transports[Side.UPSTREAM]
        if old is not None:
            old.close()
        self._drop_upstream()
        gen = self._gen
        name = f"connect {self._listener.name} {host}:{port}"
        self._connecting = self._server.tasks.spawn(name, self._connect(gen, host, port))

    async def _connect(self, gen: int, host: str, port: int) -> None:
        kind, message = "", ""
        try:
            async with asyncio.timeout(self._server.settings.connect_timeout_s):
                await self._loop.create_connection(
                    lambda: _UpstreamProtocol(self, Side.UPSTREAM, gen), host, port
                )
        except TimeoutError:
            kind, message = "connect_timeout", f"no connection to {host}:{port} in time"
        except ConnectionRefusedError as exc:
            kind, message = "connect_refused", f"{host}:{port}: {exc.strerror or exc}"
        except OSError as err:  # one name per type (mypyc)
            kind, message = "connect_error", f"{host}:{port}: {err}"
        if gen != self._gen:
            return
        self._connecting = None
        if kind:
            self.feed(UpstreamFailed(kind, message))
        self._check_done()

    def _apply_reading(self, side: Side) -> None:
        transport = self._transports[side]
        if transport is None or transport.is_closing():
            return
        paused = side in self._layer_paused or _other(side) in self._write_blocked
        with contextlib.suppress(RuntimeError):
            if paused and transport.is_reading():
                transport.pause_reading()
            elif not paused and not transport.is_reading():
                transport.resume_reading()

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _check_done(self) -> None:
        if not self._down_closed or self.done:
            return
        if self._transports[Side.UPSTREAM] is None and self._connecting is None:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._server.connection_finished(self)

    def expire(self, reason: str) -> None:
        """Drain time-out: tell the layer both sides are gone (it publishes what was in flight),
        then drop them."""
        if self._transports[Side.UPSTREAM] is not None or self._connecting is not None:
            self.feed(ConnectionClosed(Side.UPSTREAM, reason))
        self.feed(ConnectionClosed(Side.DOWNSTREAM, reason))
        self.abort()

    def abort(self) -> None:
        """Drop both sides now (crash boundary, or drain time-out)."""
        for transport in self._transports.values():
            if transport is not None:
                transport.abort()
        self._down_closed = True
        self._drop_upstream()
        if not self.done:
            self._finish()


class _AdminProtocol(asyncio.Protocol):
    """One admin request per connection: parse the head, answer, close."""

    def __init__(self, app: AdminApp) -> None:
        self._app = app
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        self._buffer += data
        reply = self._app.answer(self._buffer)
        if reply is not None:
            self._transport.write(reply)
            self._transport.close()
            self._transport = None


class ProxyServer:
    """Listeners, their connections, the admin endpoint and the event publisher's lifecycle."""

    def __init__(
        self,
        settings: ServerSettings,
        publisher: EventPublisher,
        clock: Clock | None = None,
        layer_factory: Callable[[LayerContext], Layer] = connection_layer,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.metrics = ProxyMetrics(self._pipeline_stats)
        self.tasks = BackgroundTasks()
        self._clock = clock or SystemClock()
        self._layer_factory = layer_factory
        self._seq = SeqAllocator()
        self.connections = ConnectionGauges(settings.proxy_id, settings.workload)
        self._servers: dict[str, asyncio.Server] = {}
        self._admin: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._ready = False
        ports = [lst.address.port for lst in settings.listeners] + [settings.admin.port]
        self._proxy_ports = frozenset(ports)

    def _pipeline_stats(self) -> PipelineStats:
        p = self.publisher
        return PipelineStats(published=p.published, dropped=p.dropped, depth=p.depth)

    @property
    def ready(self) -> bool:
        return self._ready

    def bound(self, name: str) -> Address:
        """The address a listener ("inbound", "outbound", "admin") actually bound."""
        server = self._admin if name == "admin" else self._servers[name]
        assert server is not None
        host, port = server.sockets[0].getsockname()[:2]
        return Address(host, port)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.publisher.start()
        for listener in self.settings.listeners:
            self._servers[listener.name] = await loop.create_server(
                lambda listener=listener: _DownstreamProtocol(self, listener),  # type: ignore[misc]
                listener.address.host,
                listener.address.port,
                reuse_address=True,
            )
        app = AdminApp(self.metrics, lambda: self._ready)
        admin = self.settings.admin
        self._admin = await loop.create_server(
            lambda: _AdminProtocol(app), admin.host, admin.port, reuse_address=True
        )
        if self.settings.connection_report_s > 0:
            self.tasks.spawn("connection reports", self._report_connections())
        if self.settings.freeze_startup_heap:
            # Startup objects never become garbage; scanning them made each young-generation
            # collection (every few requests) up to 2x dearer, on some request's critical path.
            gc.collect()
            gc.freeze()
        self._ready = True

    def target_for(self, listener: Listener, transport: asyncio.Transport) -> Address | None:
        """Where a new connection on listener goes (see proxy.redirect)."""
        if not listener.transparent:
            return listener.target
        return redirect_target(listener, original_destination(transport), self._proxy_ports)

    def layer_context(
        self, listener: Listener, transport: asyncio.Transport, target: Address | None
    ) -> LayerContext:
        """What the layer of a connection accepted on listener knows about it."""
        peer = transport.get_extra_info("peername") or ("", 0)
        return LayerContext(
            direction=listener.direction,
            local=self.settings.workload,
            proxy_id=self.settings.proxy_id,
            downstream=Address(str(peer[0]), int(peer[1])),
            target=target,
            clock=self._clock,
            seq=self._seq,
            limits=self.settings.limits,
        )

    def new_layer(self, ctx: LayerContext) -> Layer:
        return self._layer_factory(ctx)

    def connection_started(self, conn: Connection, ctx: LayerContext) -> None:
        self._connections.add(conn)
        self._idle.clear()
        self.metrics.connection_opened(conn.direction)
        self.connections.opened(conn, ctx)

    def connection_finished(self, conn: Connection) -> None:
        if conn in self._connections:
            self._connections.discard(conn)
            self.metrics.connection_closed(conn.direction)
            self.connections.closed(conn)
        if not self._connections:
            self._idle.set()

    def publish(self, event: meshpipe_pb2.RequestEvent, conn: Connection) -> None:
        self.publisher.publish(event)
        self.metrics.observe(event)
        self.connections.requested(conn, event)

    def publish_connection_reports(self) -> None:
        """Hand the connection reports due now to the publisher (never waits, like events)."""
        for report in self.connections.report(self._clock.time()):
            self.publisher.publish(report)

    async def _report_connections(self) -> None:
        while True:
            await asyncio.sleep(self.settings.connection_report_s)
            self.publish_connection_reports()

    async def shutdown(self) -> int:
        """Stop accepting, drain in-flight requests, flush events; return events left unsent."""
        self._ready = False
        for server in self._servers.values():
            server.close()
        for conn in list(self._connections):
            conn.feed(DrainStarted())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.settings.drain_timeout_s)
        for conn in list(self._connections):
            conn.expire("proxy shut down before the request finished")
        await self.tasks.cancel_all()
        if self.settings.connection_report_s > 0:
            self.publish_connection_reports()  # the last word: every connection closed
        left = await self.publisher.stop(flush_timeout_s=self.settings.flush_timeout_s)
        if self._admin is not None:
            self._admin.close()
        return left

    async def serve_until_signal(self) -> int:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("signal received: draining")
        return await self.shutdown()
