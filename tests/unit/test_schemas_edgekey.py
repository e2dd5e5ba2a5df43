"""Unit tests for schemas.edgekey: the Kafka key of a RequestEvent and its inverse."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.edgekey import (
    Edge,
    EdgeKeyError,
    EdgeKeys,
    edge_key,
    edge_of,
    parse_edge_key,
)
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import UnmeshedPeer, WorkloadId, WorkloadInstance, to_workload

WEB = WorkloadId("emojivoto", "deployment", "web")
EMOJI = WorkloadId("emojivoto", "deployment", "emoji")


def _event(
    source: meshpipe_pb2.Workload,
    destination: meshpipe_pb2.Workload,
    direction: meshpipe_pb2.Direction.ValueType = meshpipe_pb2.INBOUND,
) -> meshpipe_pb2.RequestEvent:
    return meshpipe_pb2.RequestEvent(direction=direction, source=source, destination=destination)


def test_meshed_edge_key_is_direction_and_workloads() -> None:
    event = _event(
        to_workload(WorkloadInstance(WEB, "web-1"), ip="10.0.0.1", port=40123),
        to_workload(WorkloadInstance(EMOJI, "emoji-2"), ip="10.0.0.2", port=8080),
    )
    assert edge_key(event) == b"in|emojivoto/deployment/web|emojivoto/deployment/emoji"


def test_events_of_one_edge_share_a_key_across_pods_and_client_ports() -> None:
    first = _event(
        to_workload(WorkloadInstance(WEB, "web-1"), ip="10.0.0.1", port=40123),
        to_workload(WorkloadInstance(EMOJI, "emoji-1")),
        meshpipe_pb2.OUTBOUND,
    )
    second = _event(
        to_workload(WorkloadInstance(WEB, "web-2"), ip="10.0.0.5", port=51000),
        to_workload(WorkloadInstance(EMOJI, "emoji-3")),
        meshpipe_pb2.OUTBOUND,
    )
    assert edge_key(first) == edge_key(second)


def test_direction_is_part_of_the_key() -> None:
    source = to_workload(WorkloadInstance(WEB))
    destination = to_workload(WorkloadInstance(EMOJI))
    inbound = _event(source, destination, meshpipe_pb2.INBOUND)
    outbound = _event(source, destination, meshpipe_pb2.OUTBOUND)
    assert edge_key(inbound) != edge_key(outbound)


def test_unmeshed_client_is_keyed_by_ip_without_its_ephemeral_port() -> None:
    first = _event(
        meshpipe_pb2.Workload(ip="192.0.2.7", port=40000), to_workload(WorkloadInstance(WEB))
    )
    second = _event(
        meshpipe_pb2.Workload(ip="192.0.2.7", port=40001), to_workload(WorkloadInstance(WEB))
    )
    assert edge_key(first) == edge_key(second) == b"in|ip=192.0.2.7|emojivoto/deployment/web"


def test_unmeshed_destination_is_keyed_by_authority_over_changing_ips() -> None:
    source = to_workload(WorkloadInstance(WEB))
    first = meshpipe_pb2.Workload(ip="198.51.100.1", port=443, authority="api.example.com:443")
    second = meshpipe_pb2.Workload(ip="198.51.100.2", port=443, authority="api.example.com:443")
    key = edge_key(_event(source, first, meshpipe_pb2.OUTBOUND))
    assert key == edge_key(_event(source, second, meshpipe_pb2.OUTBOUND))
    assert key == b"out|emojivoto/deployment/web|authority=api.example.com:443"


def test_unmeshed_destination_without_authority_keeps_ip_and_port() -> None:
    event = _event(
        to_workload(WorkloadInstance(WEB)),
        meshpipe_pb2.Workload(ip="198.51.100.1", port=5432),
        meshpipe_pb2.OUTBOUND,
    )
    assert edge_key(event) == b"out|emojivoto/deployment/web|ip=198.51.100.1,port=5432"


def test_unknown_peers_still_get_a_key() -> None:
    assert edge_key(meshpipe_pb2.RequestEvent()) == b"unknown|unknown|unknown"


peers = st.one_of(
    st.builds(
        WorkloadId,
        st.from_regex(r"[a-z][a-z0-9-]{0,8}[a-z]", fullmatch=True),
        st.sampled_from(["deployment", "pod"]),
        st.from_regex(r"[a-z][a-z0-9.-]{0,8}[a-z]", fullmatch=True),
    ),
    st.builds(UnmeshedPeer, authority=st.text(min_size=1, max_size=20)),
    st.builds(UnmeshedPeer, ip=st.ip_addresses().map(str), port=st.integers(0, 65535)),
)
directions = st.sampled_from(
    [meshpipe_pb2.DIRECTION_UNKNOWN, meshpipe_pb2.INBOUND, meshpipe_pb2.OUTBOUND]
)


@given(directions, peers, peers)
def test_edge_key_parses_back_to_the_edge(
    direction: meshpipe_pb2.Direction.ValueType, source: object, destination: object
) -> None:
    assert isinstance(source, WorkloadId | UnmeshedPeer)
    assert isinstance(destination, WorkloadId | UnmeshedPeer)
    edge = Edge(direction, source, destination)
    assert parse_edge_key(edge.to_key()) == edge


def test_edge_of_event_equals_parsed_key() -> None:
    event = _event(
        meshpipe_pb2.Workload(ip="10.9.8.7", port=1234), to_workload(WorkloadInstance(EMOJI))
    )
    assert parse_edge_key(edge_key(event)) == edge_of(event)


@pytest.mark.parametrize(
    "key",
    [b"", b"in|a", b"sideways|unknown|unknown", b"in|ns/web|unknown", b"\xff|x|y", b"in|a|b|c"],
)
def test_parse_edge_key_rejects_malformed_keys(key: bytes) -> None:
    with pytest.raises(EdgeKeyError):
        parse_edge_key(key)


def test_remembered_edge_keys_equal_edge_key_for_every_event() -> None:
    keys = EdgeKeys(max_entries=2)
    events = []
    for name, ip, port in [
        ("web", "", 0),
        ("", "10.0.0.1", 80),
        ("", "10.0.0.1", 81),
        ("web", "", 0),
    ]:
        event = meshpipe_pb2.RequestEvent(direction=meshpipe_pb2.INBOUND)
        event.source.CopyFrom(meshpipe_pb2.Workload(ip="10.0.0.9", port=5555))
        if name:
            event.destination.CopyFrom(
                meshpipe_pb2.Workload(namespace="ns", kind="deployment", name=name, pod="p")
            )
        else:
            event.destination.CopyFrom(meshpipe_pb2.Workload(ip=ip, port=port))
        events.append(event)
    assert [keys(e) for e in events * 2] == [edge_key(e) for e in events * 2]
