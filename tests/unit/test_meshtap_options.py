"""Unit tests for meshtap's options: validation and the TapFilter a session carries."""

from __future__ import annotations

import pytest

from meshpipe.cli.tap_options import TapOptions
from meshpipe.schemas.exits import UsageError
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

NOW = 1_795_773_600.0


def _reason(**kwargs: object) -> str:
    options = TapOptions(**{"resources": ("deploy/web",), **kwargs})  # type: ignore[arg-type]
    with pytest.raises(UsageError) as info:
        options.validate(NOW)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"to_namespace": "x"}, "--to-namespace requires --to"),
        ({"max_rps": 0}, "--max-rps must be at least 1"),
        ({"count": 0}, "--count must be at least 1"),
        ({"resources": ("deploy/web", "deploy/emoji")}, "taps one resource"),
        ({"resources": ("deploy", "web", "emoji")}, "taps one resource"),
        ({"resources": ("deploy/web", "sts/db")}, "taps one resource"),
        ({"resources": ("widgets/web",)}, 'unknown resource type "widgets"'),
        ({"status": ("abc",)}, "invalid --status"),
        ({"status": ("5xx,600",)}, 'invalid --status "600"'),
        ({"grpc_status": ("Internl",)}, 'invalid --grpc-status "Internl"'),
        ({"grpc_status": ("17",)}, 'invalid --grpc-status "17"'),
        ({"duration": "forever"}, 'invalid duration "forever"'),
        ({"since": "2026-11-28T00:00:00Z"}, "--since must be in the past"),
        ({"path": "api"}, "--path must start with /"),
        ({"output": "yaml"}, 'invalid output "yaml"'),
    ],
)
def test_invalid_options_are_rejected_with_one_line(kwargs: dict[str, object], reason: str) -> None:
    assert reason in _reason(**kwargs)


def test_filter_carries_resource_namespace_and_request_fields() -> None:
    plan = TapOptions(
        ("deploy", "web"),
        namespace="emojivoto",
        method="POST",
        path="/api",
        authority="web:80",
        scheme="http",
    ).validate(NOW)
    assert plan.tap_filter == meshpipe_pb2.TapFilter(
        resource=meshpipe_pb2.ResourceRef(namespace="emojivoto", kind="deployment", name="web"),
        method="POST",
        path_prefix="/api",
        authority="web:80",
        scheme="http",
    )


def test_to_defaults_to_the_namespace_flag() -> None:
    plan = TapOptions(("deploy/web",), namespace="emojivoto", to_resource="deploy/emoji").validate(
        NOW
    )
    assert plan.tap_filter.to == meshpipe_pb2.ResourceRef(
        namespace="emojivoto", kind="deployment", name="emoji"
    )


def test_namespace_resource_ignores_the_namespace_flag() -> None:
    plan = TapOptions(("ns/emojivoto",), namespace="default").validate(NOW)
    assert plan.tap_filter.resource == meshpipe_pb2.ResourceRef(kind="namespace", name="emojivoto")


def test_stop_conditions_and_replay_start_are_parsed() -> None:
    plan = TapOptions(("deploy/web",), count=5, duration="1m30s", since="10m").validate(NOW)
    assert (plan.count, plan.duration_s, plan.since_s) == (5, 90.0, NOW - 600)


def test_defaults_are_live_plain_and_100_rps() -> None:
    plan = TapOptions(("deploy/web",)).validate(NOW)
    assert (plan.since_s, plan.output, plan.max_rps, plan.count) == (None, "", 100, None)


def test_status_flags_travel_in_the_session_filter() -> None:
    plan = TapOptions(
        ("deploy/voting",),
        namespace="emojivoto",
        status=("200",),
        grpc_status=("Internal", "unavailable"),
        failed=True,
    ).validate(NOW)
    tap = plan.tap_filter
    assert [(r.low, r.high) for r in tap.http_statuses] == [(200, 200)]
    assert (list(tap.grpc_statuses), tap.failed) == ([13, 14], True)
    assert tap.resource.name == "voting"  # the request fields are kept beside them


def test_a_grpc_status_by_name_and_by_number_is_the_same_filter() -> None:
    by_name = TapOptions(("deploy/voting",), grpc_status=("Internal",)).validate(NOW)
    by_number = TapOptions(("deploy/voting",), grpc_status=("13",)).validate(NOW)
    assert by_name.tap_filter == by_number.tap_filter


def test_without_status_flags_the_filter_has_no_status_selection() -> None:
    tap = TapOptions(("deploy/web",)).validate(NOW).tap_filter
    assert (list(tap.http_statuses), list(tap.grpc_statuses), tap.failed) == ([], [], False)
