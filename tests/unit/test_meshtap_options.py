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
