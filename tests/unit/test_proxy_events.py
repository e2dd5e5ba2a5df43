"""Building events: ids from a pooled random source, and the per-connection template."""

from __future__ import annotations

from proxy_trace import FakeClock, context

from meshpipe.proxy.events import PeerIdentities, RequestRecord, SeqAllocator, event_template
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2


def test_event_ids_are_16_bytes_and_distinct_across_pool_refills() -> None:
    seq = SeqAllocator()
    ids = [seq.new_id() for _ in range(600)]  # more than two pools of 256
    assert {len(i) for i in ids} == {16}
    assert len(set(ids)) == 600


def test_an_event_from_the_template_equals_one_built_field_by_field() -> None:
    ctx = context(clock=FakeClock(now=5.25))
    template = event_template(ctx, meshpipe_pb2.HTTP1)
    copied = RequestRecord(ctx, meshpipe_pb2.HTTP1, template).event
    built = RequestRecord(ctx, meshpipe_pb2.HTTP1).event
    assert copied.id != built.id
    copied.id = built.id = b""
    assert copied == built
    assert (copied.start.seconds, copied.start.nanos) == (1_700_000_005, 250_000_000)
    assert (copied.destination.name, copied.source.ip) == ("web", "10.0.0.7")


def test_records_do_not_share_state_through_the_template() -> None:
    ctx = context()
    template = event_template(ctx, meshpipe_pb2.HTTP1)
    first = RequestRecord(ctx, meshpipe_pb2.HTTP1, template)
    first.peer_identity("emojivoto/deployment/vote-bot/vb-1")
    second = RequestRecord(ctx, meshpipe_pb2.HTTP1, template)
    assert (first.event.source.name, second.event.source.name) == ("vote-bot", "")
    assert not template.source.meshed


def test_peer_identities_parse_a_repeated_value_once_and_a_new_value_afresh() -> None:
    peers = PeerIdentities()
    first = peers.parse("emojivoto/deployment/vote-bot/vb-1")
    assert first is not None
    assert peers.parse("emojivoto/deployment/vote-bot/vb-1") is first
    other = peers.parse("emojivoto/deployment/web/web-2")
    assert other is not None
    assert (other.workload.name, other.pod) == ("web", "web-2")
    assert peers.parse("not an identity") is None
    assert peers.parse("not an identity") is None


def test_records_sharing_peer_identities_follow_each_requests_own_header() -> None:
    ctx = context()
    template = event_template(ctx, meshpipe_pb2.HTTP1)
    peers = PeerIdentities()
    names = []
    for header in ("ns/deployment/a/a-1", "ns/deployment/a/a-1", "ns/deployment/b/b-1", "bad"):
        record = RequestRecord(ctx, meshpipe_pb2.HTTP1, template, peers)
        record.peer_identity(header)
        names.append((record.event.source.name, record.event.source.meshed))
    assert names == [("a", True), ("a", True), ("b", True), ("", False)]
