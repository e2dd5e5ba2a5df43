"""The h2 internals the relay overrides are still there, in the shape it overrides."""

from __future__ import annotations

import pytest
from h2.config import H2Configuration
from h2.connection import ConnectionInputs, ConnectionState, H2ConnectionStateMachine

from meshpipe.proxy import h2_private


def test_the_installed_h2_has_the_internals_the_relay_overrides() -> None:
    h2_private.check()


def test_a_changed_transition_table_fails_the_check_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = dict(H2ConnectionStateMachine._transitions)
    changed[(ConnectionState.CLIENT_OPEN, ConnectionInputs.RECV_GOAWAY)] = (
        None,
        ConnectionState.CLIENT_OPEN,
    )
    monkeypatch.setattr(H2ConnectionStateMachine, "_transitions", changed)
    with pytest.raises(h2_private.H2InternalsChanged, match=r"proxy/h2_private\.py"):
        h2_private.check()


def test_a_missing_transition_table_fails_the_check_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(H2ConnectionStateMachine, "_transitions")
    with pytest.raises(h2_private.H2InternalsChanged):
        h2_private.check()


def test_a_relay_connection_stays_open_after_a_goaway_and_keeps_fewer_closed_streams() -> None:
    conn = h2_private.relay_connection(H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.close_connection()
    assert conn.state_machine.state is not ConnectionState.CLOSED
    assert conn.MAX_CLOSED_STREAMS == h2_private.CLOSED_STREAMS_KEPT
