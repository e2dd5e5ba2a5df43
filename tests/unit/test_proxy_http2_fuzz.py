"""Random traces through the HTTP/2 relay: whatever the peers do and whenever connections end, the
relay never raises, never leaks a stream, and publishes exactly one event per stream it took."""

from __future__ import annotations

from collections import Counter

import h2.events as h2e
from h2.connection import H2Connection
from h2.errors import ErrorCodes
from h2.exceptions import H2Error
from h2.stream import StreamState
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from proxy_http2_trace import GRPC_OK_HEAD, H2Trace, grpc_request

from meshpipe.proxy.commands import (
    ConnectionClosed,
    DrainStarted,
    Side,
    StartTimer,
    TimerFired,
    UpstreamFailed,
)
from meshpipe.proxy.layer import Limits

CODES = st.sampled_from([ErrorCodes.NO_ERROR, ErrorCodes.CANCEL, ErrorCodes.INTERNAL_ERROR])
PICK = st.integers(min_value=0, max_value=7)
SIZE = st.integers(min_value=0, max_value=70_000)

COMPLETING = st.one_of(  # the steps of a normal exchange, drawn more often than the rest
    st.tuples(st.just("respond"), PICK, st.booleans()),
    st.tuples(st.just("server_end"), PICK, st.booleans()),
    st.tuples(st.just("client_end"), PICK),
)
ACTIONS = st.one_of(
    COMPLETING,
    COMPLETING,
    st.tuples(st.just("open"), st.booleans()),
    st.tuples(st.just("client_data"), PICK, SIZE),
    st.tuples(st.just("client_end"), PICK),
    st.tuples(st.just("client_reset"), PICK, CODES),
    st.tuples(st.just("client_ack"), st.booleans()),
    st.tuples(st.just("respond"), PICK, st.booleans()),
    st.tuples(st.just("server_data"), PICK, SIZE),
    st.tuples(st.just("server_end"), PICK, st.booleans()),
    st.tuples(st.just("server_reset"), PICK, CODES),
    st.tuples(st.just("server_ack"), st.booleans()),
    st.tuples(st.just("goaway"), st.sampled_from(["client", "server"]), CODES),
    st.tuples(st.just("timer"), PICK),
    st.tuples(st.just("drain"), st.none()),
)


def _pick(items: list[int], index: int) -> int | None:
    return items[index % len(items)] if items else None


def _streams(conn: H2Connection, sending: bool) -> list[int]:
    """Streams a peer may still send on (sending) or at least reset: h2 closes a stream for
    good when asked to do something its state forbids, which a real peer never does."""
    states = {StreamState.OPEN, StreamState.HALF_CLOSED_REMOTE}
    if not sending:
        states.add(StreamState.HALF_CLOSED_LOCAL)
    return sorted(sid for sid, s in conn.streams.items() if s.state_machine.state in states)


def _client_action(t: H2Trace, action: tuple[object, ...]) -> None:
    kind = action[0]
    sids = _streams(t.client.conn, sending=kind != "client_reset")
    sid = _pick(sids, int(action[1])) if isinstance(action[1], int) else None
    if kind == "open":
        new = t.client.conn.get_next_available_stream_id()
        t.client.conn.send_headers(new, grpc_request(b"/s/%d" % new), end_stream=bool(action[1]))
    elif kind == "client_data" and sid is not None:
        t.client.send(sid, b"d" * int(action[2]), end=False)  # type: ignore[call-overload]
    elif kind == "client_end" and sid is not None:
        t.client.send(sid, b"")
    elif kind == "client_reset" and sid is not None:
        t.client.conn.reset_stream(sid, action[2])  # type: ignore[arg-type]
    elif kind == "client_ack":
        t.client.auto_ack = bool(action[1])
        t.client.ack_all()


def _server_action(t: H2Trace, action: tuple[object, ...]) -> None:
    kind = action[0]
    sids = _streams(t.server.conn, sending=kind != "server_reset")
    sid = _pick(sids, int(action[1])) if isinstance(action[1], int) else None
    if kind == "respond" and sid is not None:
        head = [*GRPC_OK_HEAD, (b"grpc-status", b"0")] if action[2] else GRPC_OK_HEAD
        t.server.conn.send_headers(sid, head, end_stream=bool(action[2]))
    elif kind == "server_data" and sid is not None:
        t.server.send(sid, b"r" * int(action[2]), end=False)  # type: ignore[call-overload]
    elif kind == "server_end" and sid is not None:
        trailers = [(b"grpc-status", b"0")] if action[2] else None
        t.server.send(sid, b"", trailers=trailers)
    elif kind == "server_reset" and sid is not None:
        t.server.conn.reset_stream(sid, action[2])  # type: ignore[arg-type]
    elif kind == "server_ack":
        t.server.auto_ack = bool(action[1])
        t.server.ack_all()


def _relay_action(t: H2Trace, action: tuple[object, ...]) -> None:
    kind = action[0]
    if kind == "goaway":
        peer = t.client if action[1] == "client" else t.server
        peer.conn.close_connection(error_code=action[2])  # type: ignore[arg-type]
    elif kind == "timer":
        timers = [c.name for c in t.of(StartTimer)]  # type: ignore[attr-defined]
        if timers:
            t.feed(TimerFired(timers[int(action[1]) % len(timers)]))  # type: ignore[call-overload]
    elif kind == "drain":
        t.feed(DrainStarted())


def _apply(t: H2Trace, action: tuple[object, ...]) -> None:
    try:  # a peer refusing an action it cannot take in its state is not a relay event
        _client_action(t, action)
        _server_action(t, action)
        _relay_action(t, action)
    except H2Error:
        pass
    t.run()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    opens=st.lists(st.booleans(), min_size=1, max_size=4),
    actions=st.lists(ACTIONS, max_size=40),
    ending=st.sampled_from(["downstream", "upstream", "failed"]),
    connect=st.booleans(),
)
def test_random_traces_never_raise_leak_or_publish_twice(
    opens: list[bool], actions: list[tuple[object, ...]], ending: str, connect: bool
) -> None:
    t = H2Trace(limits=Limits(max_buffer_bytes=100_000), connect=connect)
    for action in [("open", end) for end in opens] + actions:
        _apply(t, action)
    requested = {dict(e.headers)[b":path"].decode() for e in t.server.of(h2e.RequestReceived)}  # type: ignore[attr-defined]
    if ending == "failed" and not connect:
        t.feed(UpstreamFailed("connect_refused", "refused"))
    elif ending == "upstream":
        t.feed(ConnectionClosed(Side.UPSTREAM, "reset"))
    t.run()
    t.feed(ConnectionClosed(Side.DOWNSTREAM))
    events = t.events()
    event(f"events: {min(len(events), 5)}")
    event(f"ends: {sorted({e.WhichOneof('end') or 'none' for e in events})}")
    assert not t.relay.open_streams  # no stream outlives its connection
    assert t.relay.buffered_bytes == 0
    assert [e.proxy_seq for e in events] == list(range(1, len(events) + 1))
    assert not [p for p, n in Counter(e.path for e in events).items() if n > 1]
    assert requested <= {e.path for e in events}  # everything the app saw has its event
