"""Unit tests for streams.tap: Linkerd-style matching, expiry, tombstones and max rps."""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message
from streams_events import make_event

from meshpipe.schemas.classify import apply_classification
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.tapfilter import filter_matches
from meshpipe.streams.tap import InvalidSessionError, TapSessions, parse_session

NOW = 1_800_000_000.0
Ref = meshpipe_pb2.ResourceRef
OUT, IN = meshpipe_pb2.OUTBOUND, meshpipe_pb2.INBOUND


class FakeClock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _filter(**kwargs: object) -> meshpipe_pb2.TapFilter:
    return meshpipe_pb2.TapFilter(
        resource=Ref(namespace="emojivoto", kind="deployment", name="web"), **kwargs
    )


def _session(
    session_id: str = "s1",
    tap: meshpipe_pb2.TapFilter | None = None,
    max_rps: int = 0,
    expires: float = NOW + 60,
) -> bytes:
    session = meshpipe_pb2.TapSession(id=session_id, filter=tap or _filter(), max_rps=max_rps)
    session.expires.FromNanoseconds(int(expires * 1e9))
    return session.SerializeToString()


def test_tapped_workload_matches_as_source_of_outbound_event() -> None:
    assert filter_matches(_filter(), make_event(src="web", dst="emoji", direction=OUT))


def test_tapped_workload_matches_as_destination_of_inbound_event() -> None:
    assert filter_matches(_filter(), make_event(src="vote-bot", dst="web", direction=IN))


def test_tapped_workload_as_destination_of_outbound_event_does_not_match() -> None:
    assert not filter_matches(_filter(), make_event(src="vote-bot", dst="web", direction=OUT))


def test_tapped_workload_as_source_of_inbound_event_does_not_match() -> None:
    assert not filter_matches(_filter(), make_event(src="web", dst="emoji", direction=IN))


def test_to_resource_restricts_outbound_destination() -> None:
    tap = _filter(to=Ref(kind="deployment", name="voting"))
    assert filter_matches(tap, make_event(src="web", dst="voting", direction=OUT))
    assert not filter_matches(tap, make_event(src="web", dst="emoji", direction=OUT))


def test_to_resource_excludes_inbound_events() -> None:
    tap = _filter(to=Ref(kind="deployment", name="web"))
    assert not filter_matches(tap, make_event(src="vote-bot", dst="web", direction=IN))


def test_method_path_prefix_authority_and_scheme_must_all_match() -> None:
    tap = _filter(
        method="get", path_prefix="/api", authority="EMOJI-SVC.emojivoto:8080", scheme="http"
    )
    assert filter_matches(tap, make_event())
    assert not filter_matches(tap, make_event(method="POST"))
    assert not filter_matches(tap, make_event(path="/health"))
    assert not filter_matches(tap, make_event(authority="other:80"))
    assert not filter_matches(tap, make_event(scheme="https"))


def test_namespace_resource_matches_any_workload_in_it() -> None:
    tap = meshpipe_pb2.TapFilter(resource=Ref(kind="namespace", name="emojivoto"))
    assert filter_matches(tap, make_event())
    tap_other = meshpipe_pb2.TapFilter(resource=Ref(kind="namespace", name="other"))
    assert not filter_matches(tap_other, make_event())


def test_service_to_resource_matches_by_authority() -> None:
    tap = _filter(to=Ref(kind="svc", name="emoji-svc"))
    assert filter_matches(tap, make_event(authority="emoji-svc.emojivoto:8080"))
    assert not filter_matches(tap, make_event(authority="voting-svc.emojivoto:8080"))


def test_pod_resource_matches_pod_name() -> None:
    tap = meshpipe_pb2.TapFilter(resource=Ref(namespace="emojivoto", kind="po", name="web-0"))
    assert filter_matches(tap, make_event())
    assert not filter_matches(tap, make_event(src="vote-bot"))


def test_matching_event_produces_tap_event_keyed_by_session() -> None:
    sessions = TapSessions(FakeClock())
    sessions.apply(b"s1", _session())
    event = make_event()
    [tap_event] = sessions.match(event)
    assert tap_event.session_id == "s1"
    assert tap_event.event == event


def test_expired_session_matches_nothing() -> None:
    clock = FakeClock()
    sessions = TapSessions(clock)
    sessions.apply(b"s1", _session(expires=NOW + 5))
    clock.now = NOW + 6
    assert sessions.match(make_event()) == []


def test_session_without_expiry_matches_nothing() -> None:
    sessions = TapSessions(FakeClock())
    raw = meshpipe_pb2.TapSession(id="s1", filter=_filter()).SerializeToString()
    sessions.apply(b"s1", raw)
    assert sessions.match(make_event()) == []


def test_tombstone_deletes_session() -> None:
    sessions = TapSessions(FakeClock())
    sessions.apply(b"s1", _session())
    sessions.apply(b"s1", None)
    assert sessions.match(make_event()) == []


def test_max_rps_limits_matches_per_second_then_resets() -> None:
    clock = FakeClock()
    sessions = TapSessions(clock)
    sessions.set_share(4, 4)
    sessions.apply(b"s1", _session(max_rps=3))
    first_second = [len(sessions.match(make_event())) for _ in range(5)]
    clock.now += 1
    assert first_second == [1, 1, 1, 0, 0]
    assert len(sessions.match(make_event())) == 1


def _grpc_call(code: int) -> meshpipe_pb2.RequestEvent:
    event = make_event(method="POST", grpc_status=code)
    event.protocol = meshpipe_pb2.GRPC
    apply_classification(event)
    return event


def test_events_outside_the_status_selection_do_not_spend_the_rate_budget() -> None:
    clock = FakeClock()
    sessions = TapSessions(clock)
    sessions.set_share(1, 1)
    sessions.apply(b"s1", _session(tap=_filter(grpc_statuses=[13]), max_rps=1))
    successes = [sessions.match(_grpc_call(0)) for _ in range(50)]
    [internal] = sessions.match(_grpc_call(13))
    assert successes == [[]] * 50
    assert internal.event.grpc_status == 13
    assert sessions.match(_grpc_call(13)) == []  # that match spent this second's budget
    clock.now += 1
    assert len(sessions.match(_grpc_call(13))) == 1


def test_failed_session_gets_the_rare_failure_among_successes_within_one_rps() -> None:
    sessions = TapSessions(FakeClock())
    sessions.set_share(1, 1)
    sessions.apply(b"s1", _session(tap=_filter(failed=True), max_rps=1))
    for _ in range(20):
        assert sessions.match(make_event(http_status=200)) == []
    assert len(sessions.match(make_event(http_status=503))) == 1


def _old_session_class() -> type[Message]:
    """TapSession as a writer saw it before TapFilter had fields 7-9 (status selection)."""
    contract = descriptor_pb2.FileDescriptorProto()
    meshpipe_pb2.DESCRIPTOR.CopyToProto(contract)
    [tap_filter] = [m for m in contract.message_type if m.name == "TapFilter"]
    old_fields = [f for f in tap_filter.field if f.number <= 6]
    del tap_filter.field[:]
    tap_filter.field.extend(old_fields)
    timestamps = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamps)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(timestamps)
    pool.Add(contract)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("meshpipe.v1.TapSession"))


def test_an_old_session_record_has_no_status_selection() -> None:
    old_session = _old_session_class()()
    old_session.ParseFromString(_session(tap=_filter(method="GET")))
    old_filter = old_session.DESCRIPTOR.fields_by_name["filter"].message_type
    assert max(f.number for f in old_filter.fields) == 6
    sessions = TapSessions(FakeClock())
    sessions.apply(b"s1", old_session.SerializeToString())
    ends = [make_event(http_status=200), make_event(http_status=503), _grpc_call(13)]
    for event in ends:
        event.method = "GET"
    assert [len(sessions.match(event)) for event in ends] == [1, 1, 1]
    assert len(sessions.match(make_event(method="POST"))) == 0  # its old fields still apply


def test_max_rps_is_split_by_partition_share_with_at_least_one() -> None:
    sessions = TapSessions(FakeClock())
    sessions.set_share(3, 12)
    assert sessions.budget(100) == 25
    sessions.set_share(1, 12)
    assert sessions.budget(5) == 1
    assert sessions.budget(0) is None


def test_undecodable_session_is_rejected() -> None:
    try:
        parse_session(b"s1", b"\xff\xff")
    except InvalidSessionError:
        return
    raise AssertionError("garbage accepted as a tap session")


def test_session_with_unknown_kind_is_rejected() -> None:
    tap = meshpipe_pb2.TapFilter(resource=Ref(kind="gizmo", name="x"))
    raw = meshpipe_pb2.TapSession(id="s1", filter=tap).SerializeToString()
    try:
        parse_session(b"s1", raw)
    except InvalidSessionError:
        return
    raise AssertionError("unknown kind accepted")


def test_a_replayed_event_with_an_alias_kind_matches_the_canonical_resource() -> None:
    event = make_event(src="web", dst="emoji", direction=OUT)
    event.source.kind = "deploy"  # stored in Kafka by a proxy from before kinds were canonical
    assert filter_matches(_filter(), event)
