"""The two h2 connections of a relay and the flow-controlled movement of body bytes between them."""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.settings import SettingCodes, Settings

from meshpipe.proxy.commands import Side
from meshpipe.proxy.h2_private import relay_connection
from meshpipe.proxy.http2_state import H2Stream, other

DEFAULT_WINDOW = 65_535  # RFC 9113 §6.9.2
MAX_CONCURRENT_STREAMS = 100  # advertised to the client, as h2's default


def _connection(client_side: bool, window: int) -> H2Connection:
    """An h2 connection advertising a receive window of `window` bytes per stream and in total."""
    config = H2Configuration(
        client_side=client_side,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
    )
    conn = relay_connection(config)
    settings = {
        SettingCodes.INITIAL_WINDOW_SIZE: window,
        SettingCodes.MAX_HEADER_LIST_SIZE: H2Connection.DEFAULT_MAX_HEADER_LIST_SIZE,
    }
    if client_side:
        settings[SettingCodes.ENABLE_PUSH] = 0
    else:
        settings[SettingCodes.MAX_CONCURRENT_STREAMS] = MAX_CONCURRENT_STREAMS
    conn.local_settings = Settings(client=client_side, initial_values=settings)
    conn.initiate_connection()
    if window > DEFAULT_WINDOW:
        conn.increment_flow_control_window(window - DEFAULT_WINDOW)
    return conn


class H2Pair:
    """The downstream (server-side) and upstream (client-side) h2 connections.

    Received body bytes are acknowledged (window handed back to their sender) only once they are
    forwarded or dropped, so what the relay buffers per stream and per connection never exceeds
    the window it advertised: `window` bytes in each direction.
    """

    def __init__(self, window: int) -> None:
        window = max(window, DEFAULT_WINDOW)
        self.down = _connection(client_side=False, window=window)
        self.up = _connection(client_side=True, window=window)

    def conn(self, side: Side) -> H2Connection:
        return self.down if side is Side.DOWNSTREAM else self.up

    def usable(self, side: Side) -> bool:
        """False once h2 has given up on the connection (it then refuses to send anything)."""
        return self.conn(side).state_machine.state is not ConnectionState.CLOSED

    def stream_open(self, side: Side, sid: int | None) -> bool:
        """Whether frames can still go out on that stream."""
        if sid is None or not self.usable(side):
            return False
        h2_stream = self.conn(side).streams.get(sid)
        return h2_stream is not None and not h2_stream.closed

    def reset(self, side: Side, sid: int | None, code: int) -> None:
        """RST_STREAM that stream unless it is closed already."""
        if sid is not None and self.stream_open(side, sid):
            self.conn(side).reset_stream(sid, code)

    def ack(self, side: Side, sid: int | None, size: int) -> None:
        """Hand the sender its window back for bytes that left the relay."""
        if size > 0 and sid is not None and self.usable(side):
            self.conn(side).acknowledge_received_data(size, sid)

    def drop(self, stream: H2Stream, toward: Side) -> None:
        """Stop forwarding toward a side; the dropped bytes still free the sender's window."""
        source = other(toward)
        self.ack(source, stream.sid(source), stream.pipe_to(toward).abort())

    def pump(self, stream: H2Stream, toward: Side) -> bool:
        """Forward what waits for that side as far as its windows allow; True when this call
        also sent the end of stream (with trailers if any)."""
        sid, pipe = stream.sid(toward), stream.pipe_to(toward)
        if sid is None or stream.finished or not self.stream_open(toward, sid):
            return False
        conn, source = self.conn(toward), other(toward)
        while pipe.chunks:
            room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            if room <= 0:
                break
            data = pipe.take(room)
            conn.send_data(sid, data)
            self.ack(source, stream.sid(source), len(data))
        if not pipe.ready_to_end:
            return False
        if pipe.trailers is not None:
            conn.send_headers(sid, pipe.trailers, end_stream=True)
        else:
            conn.end_stream(sid)
        pipe.end_sent = True
        return True
