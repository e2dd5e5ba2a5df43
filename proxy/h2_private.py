"""The one place the proxy relies on h2 internals: the connection state machine's transition
table (`H2ConnectionStateMachine._transitions`) and the closed-stream memory
(`H2Connection.MAX_CLOSED_STREAMS`).

h2 has no public switch for either. `check()` verifies that the installed h2 still has both in
the shape meshpipe overrides; it runs when this module is imported (so meshproxy refuses to start
on such an h2) and in tests/unit/test_proxy_h2_private.py, so an h2 upgrade that changes them
fails loudly instead of silently relaying differently.
"""

from __future__ import annotations

from h2.config import H2Configuration
from h2.connection import ConnectionInputs, ConnectionState, H2Connection, H2ConnectionStateMachine

SUPPORTED = "h2>=4.1,<5"  # the pin in pyproject.toml; checked against 4.1 to 4.4
_Transitions = dict[tuple[ConnectionState, ConnectionInputs], tuple[None, ConnectionState]]
_OPEN_STATES = (ConnectionState.IDLE, ConnectionState.CLIENT_OPEN, ConnectionState.SERVER_OPEN)
_GOAWAYS = (ConnectionInputs.SEND_GOAWAY, ConnectionInputs.RECV_GOAWAY)
CLOSED_STREAMS_KEPT = 4096  # h2 keeps 65,536


class H2InternalsChanged(RuntimeError):
    """The installed h2 no longer has the internals this module overrides."""


def check() -> None:
    """Raise H2InternalsChanged unless h2's table closes the connection on every GOAWAY (what
    meshpipe overrides) and H2Connection has MAX_CLOSED_STREAMS."""
    table = getattr(H2ConnectionStateMachine, "_transitions", None)
    closes = isinstance(table, dict) and all(
        table.get((state, goaway)) == (None, ConnectionState.CLOSED)
        for state in _OPEN_STATES
        for goaway in _GOAWAYS
    )
    if not closes or not isinstance(getattr(H2Connection, "MAX_CLOSED_STREAMS", None), int):
        raise H2InternalsChanged(
            "the installed h2 changed the connection state machine or MAX_CLOSED_STREAMS that "
            f"meshpipe overrides (proxy/h2_private.py); meshpipe supports {SUPPORTED}"
        )


def _stay_open_on_goaway() -> _Transitions:
    table: _Transitions = dict(H2ConnectionStateMachine._transitions)
    # IDLE too: a request may cross a GOAWAY sent before the first stream; it must be refused
    # (REFUSED_STREAM, the client retries), not taken for a protocol error.
    for state in _OPEN_STATES:
        for goaway in _GOAWAYS:
            table[(state, goaway)] = (None, state)
    return table


class DrainingStateMachine(H2ConnectionStateMachine):
    """h2's connection state machine, except that a GOAWAY (sent or received) leaves the
    connection open: RFC 9113 §6.8 lets streams up to the last stream id complete, and the relay
    must keep forwarding them (h2 itself refuses every frame after a GOAWAY). The relay stops
    opening new streams on its own."""

    def __init__(self) -> None:
        super().__init__()
        self._transitions = _stay_open_on_goaway()


class _RelayConnection(H2Connection):
    """h2's connection remembering fewer closed streams: h2 keeps 65,536 per connection (about
    6 MiB on a long-lived gRPC channel, twice per relayed connection); frames that still arrive
    for a closed stream (WINDOW_UPDATE, RST_STREAM) come within a round trip, long before
    CLOSED_STREAMS_KEPT newer streams have closed."""

    MAX_CLOSED_STREAMS = CLOSED_STREAMS_KEPT


def relay_connection(config: H2Configuration) -> H2Connection:
    """An h2 connection with the relay's two overrides."""
    conn = _RelayConnection(config)
    conn.state_machine = DrainingStateMachine()
    return conn


check()  # at import: a relay must not start on an h2 it would misuse
