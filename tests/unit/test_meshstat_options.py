"""Unit tests for meshstat's options: Linkerd's validation rules and the queries a plan makes."""

from __future__ import annotations

import pytest

from meshpipe.cli.stat_options import StatOptions
from meshpipe.schemas.exits import UsageError
from meshpipe.sinks.query import EdgeMode, Peer, Selection

NOW = 1_795_773_600.0  # 2026-11-27T10:00:00Z


def _reason(**kwargs: object) -> str:
    options = StatOptions(**{"resources": ("deploy",), **kwargs})  # type: ignore[arg-type]
    with pytest.raises(UsageError) as info:
        options.validate(NOW)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"from_resource": "deploy/a", "to_resource": "deploy/b"}, "mutually exclusive"),
        (
            {"from_resource": "deploy/a", "from_namespace": "x", "to_namespace": "y"},
            "--to-namespace and --from-namespace",
        ),
        ({"from_namespace": "x"}, "--from-namespace requires --from"),
        ({"to_namespace": "x"}, "--to-namespace requires --to"),
        ({"resources": ("deploy", "web"), "all_namespaces": True}, "across all namespaces"),
        ({"since": "1h", "time_window": "5m"}, "--time-window and --since"),
        ({"watch": True, "until": "1h"}, "--watch cannot"),
        ({"resources": ("widgets",)}, 'unknown resource type "widgets"'),
        ({"resources": ("all", "web")}, "takes no names"),
        ({"from_resource": "deploy"}, "TYPE/NAME"),
        ({"from_resource": "svc/web"}, "--from cannot be a service"),
        ({"resources": ("ns",), "to_resource": "deploy/web"}, "namespace stats"),
        ({"time_window": "5s"}, "at least 10s"),
        ({"time_window": "soon"}, 'invalid duration "soon"'),
        ({"since": "2026-11-27T11:00:00Z"}, "--since must be before"),
        ({"since": "2h", "until": "3h"}, "--since must be before"),
        ({"since": "2026-11-27"}, "no zone"),
        ({"output": "yaml"}, 'invalid output "yaml"'),
        ({"namespace": ""}, "--namespace must not be empty"),
    ],
)
def test_invalid_combinations_are_rejected_with_one_line(
    kwargs: dict[str, object], reason: str
) -> None:
    assert reason in _reason(**kwargs)


def test_default_plan_is_inbound_over_the_last_minute_in_default_namespace() -> None:
    [query] = StatOptions(("deploy", "web", "emoji")).validate(NOW).queries(NOW)
    assert query.selection == Selection("deployment", ("web", "emoji"), "default")
    assert query.mode is EdgeMode.SERVER
    assert query.peer is None
    assert (query.start_s, query.end_s) == (NOW - 60, NOW)
    assert query.include_unmeshed is False


def test_all_namespaces_selects_namespace_none() -> None:
    [query] = StatOptions(("deploy",), all_namespaces=True).validate(NOW).queries(NOW)
    assert query.selection.namespace is None


def test_from_resource_defaults_to_the_namespace_flag() -> None:
    plan = StatOptions(("deploy",), namespace="emojivoto", from_resource="deploy/web").validate(NOW)
    assert plan.mode is EdgeMode.FROM
    assert plan.peer == Peer("deployment", "web", "emojivoto")


def test_to_namespace_overrides_the_namespace_of_the_peer() -> None:
    plan = StatOptions(("deploy",), to_resource="sts/db", to_namespace="data").validate(NOW)
    assert plan.mode is EdgeMode.TO
    assert plan.peer == Peer("statefulset", "db", "data")


def test_slash_resources_of_several_kinds_make_one_query_per_kind() -> None:
    plan = StatOptions(("deploy/web", "sts/db", "deploy/emoji")).validate(NOW)
    kinds = [(q.selection.kind, q.selection.names) for q in plan.queries(NOW)]
    assert kinds == [("deployment", ("web", "emoji")), ("statefulset", ("db",))]
    assert plan.mixed_kinds


def test_namespace_stats_are_not_limited_to_the_namespace_flag() -> None:
    [query] = StatOptions(("ns",), namespace="emojivoto").validate(NOW).queries(NOW)
    assert query.selection == Selection("namespace", (), None)


def test_since_and_until_give_a_fixed_range() -> None:
    plan = StatOptions(("deploy",), since="2026-11-27T08:00:00Z", until="1h").validate(NOW)
    assert plan.queries(NOW + 999)[0].start_s == NOW - 7200
    assert plan.queries(NOW + 999)[0].end_s == NOW - 3600


def test_until_alone_ends_a_time_window_there() -> None:
    plan = StatOptions(("deploy",), until="1h", time_window="10m").validate(NOW)
    query = plan.queries(NOW)[0]
    assert (query.start_s, query.end_s) == (NOW - 3600 - 600, NOW - 3600)


def test_rolling_window_moves_with_the_clock() -> None:
    plan = StatOptions(("deploy",), time_window="30s").validate(NOW)
    assert plan.queries(NOW + 5)[0].start_s == NOW + 5 - 30


def test_unmeshed_flag_reaches_the_query() -> None:
    [query] = StatOptions(("po",), unmeshed=True).validate(NOW).queries(NOW)
    assert query.include_unmeshed
