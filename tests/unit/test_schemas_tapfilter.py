"""Unit tests for the tap filter's status selection: HTTP ranges, gRPC codes, `failed`, and how
they combine with each other and with the request-start fields."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from meshtap_events import error_event, grpc_event, http_event, reset_event

from meshpipe.schemas.classify import apply_classification
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.tapfilter import filter_matches

Range = meshpipe_pb2.StatusRange
INTERNAL, UNAVAILABLE, NOT_FOUND = 13, 14, 5


def _tap(**kwargs: object) -> meshpipe_pb2.TapFilter:
    """Everything in namespace emojivoto, narrowed by kwargs."""
    resource = meshpipe_pb2.ResourceRef(kind="namespace", name="emojivoto")
    return meshpipe_pb2.TapFilter(resource=resource, **kwargs)


def _sealed(event: meshpipe_pb2.RequestEvent) -> meshpipe_pb2.RequestEvent:
    """The event as a proxy publishes it: classified by schemas.classify."""
    apply_classification(event)
    return event


def _http(status: int) -> meshpipe_pb2.RequestEvent:
    return _sealed(http_event(status=status))


def _grpc(code: int, http_status: int = 200) -> meshpipe_pb2.RequestEvent:
    event = grpc_event(code)
    event.http_status = http_status
    return _sealed(event)


def test_http_class_range_selects_only_statuses_inside_it() -> None:
    tap = _tap(http_statuses=[Range(low=500, high=599)])
    selected = [s for s in (0, 200, 404, 499, 500, 503, 599) if filter_matches(tap, _http(s))]
    assert selected == [500, 503, 599]


def test_several_http_ranges_are_alternatives() -> None:
    tap = _tap(http_statuses=[Range(low=404, high=404), Range(low=500, high=500)])
    assert [s for s in (200, 404, 500, 503) if filter_matches(tap, _http(s))] == [404, 500]


def test_grpc_status_selects_calls_that_ended_with_that_code() -> None:
    tap = _tap(grpc_statuses=[INTERNAL])
    assert filter_matches(tap, _grpc(INTERNAL))
    assert not filter_matches(tap, _grpc(0))
    assert not filter_matches(tap, _grpc(UNAVAILABLE))


def test_grpc_status_does_not_select_exchanges_without_one() -> None:
    tap = _tap(grpc_statuses=[0, INTERNAL])
    assert not filter_matches(tap, _http(200))  # http_status 200 but no grpc-status at all
    assert not filter_matches(tap, _sealed(reset_event()))
    assert not filter_matches(tap, _sealed(error_event()))


def test_grpc_ok_is_selectable_by_its_code_zero() -> None:
    assert filter_matches(_tap(grpc_statuses=[0]), _grpc(0))


def test_several_grpc_codes_are_alternatives() -> None:
    tap = _tap(grpc_statuses=[INTERNAL, UNAVAILABLE])
    assert [c for c in (0, 2, 13, 14) if filter_matches(tap, _grpc(c))] == [13, 14]


def test_failed_selects_grpc_internal_behind_http_200() -> None:
    """voting's failing Vote calls: HTTP 200, grpc-status Internal."""
    assert filter_matches(_tap(failed=True), _grpc(INTERNAL, http_status=200))


def test_failed_selects_a_reset_a_proxy_error_and_http_503() -> None:
    tap = _tap(failed=True)
    assert filter_matches(tap, _sealed(reset_event()))
    assert filter_matches(tap, _sealed(error_event()))
    assert filter_matches(tap, _http(503))


def test_failed_passes_over_successes_as_linkerd_counts_them() -> None:
    tap = _tap(failed=True)
    assert not filter_matches(tap, _http(200))
    assert not filter_matches(tap, _http(404))  # a 4xx is a success for Linkerd
    assert not filter_matches(tap, _grpc(NOT_FOUND))  # so is gRPC NotFound
    assert not filter_matches(tap, _grpc(0))


def test_failed_classifies_an_event_the_proxy_did_not_classify() -> None:
    event = grpc_event(INTERNAL)
    event.classification = meshpipe_pb2.CLASSIFICATION_UNKNOWN
    assert filter_matches(_tap(failed=True), event)


def test_kinds_must_all_match() -> None:
    """--status 200 --grpc-status Internal,Unavailable --failed: gRPC failures behind HTTP 200."""
    tap = _tap(
        http_statuses=[Range(low=200, high=200)],
        grpc_statuses=[INTERNAL, UNAVAILABLE],
        failed=True,
    )
    assert filter_matches(tap, _grpc(INTERNAL))
    assert filter_matches(tap, _grpc(UNAVAILABLE))
    assert not filter_matches(tap, _grpc(INTERNAL, http_status=503))  # not HTTP 200
    assert not filter_matches(tap, _grpc(0))  # neither code nor failed
    assert not filter_matches(tap, _http(200))  # no gRPC status


def test_status_selection_and_request_fields_must_all_match() -> None:
    tap = _tap(path_prefix="/emojivoto.v1.EmojiService/", grpc_statuses=[INTERNAL])
    assert filter_matches(tap, _grpc(INTERNAL))
    other_path = _grpc(INTERNAL)
    other_path.path = "/emojivoto.v1.VotingService/Vote"
    assert not filter_matches(tap, other_path)
    assert not filter_matches(_tap(method="GET", failed=True), _grpc(INTERNAL))  # a POST


@given(st.integers(min_value=0, max_value=999), st.sampled_from([None, 0, 2, 13, 16]))
def test_no_status_selection_selects_every_end(http_status: int, grpc_status: int | None) -> None:
    event = http_event(status=http_status)
    if grpc_status is not None:
        event.grpc_status = grpc_status
    assert filter_matches(_tap(), _sealed(event))
