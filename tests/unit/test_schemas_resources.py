"""Unit tests for schemas.resources: kubectl resource syntax and ResourceRef conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.kinds import ALL, CANONICAL_KINDS
from meshpipe.schemas.resources import (
    ResourceError,
    ResourceSelection,
    UnknownResourceTypeError,
    canonical_kind,
    from_resource_ref,
    parse_resource,
    parse_resources,
    to_resource_refs,
)

ALIASES = {
    "deployment": ["deploy", "deploys", "deployment", "deployments", "Deployment"],
    "statefulset": ["sts", "statefulset", "statefulsets"],
    "daemonset": ["ds", "daemonset", "daemonsets"],
    "replicaset": ["rs", "replicaset", "replicasets"],
    "replicationcontroller": ["rc", "replicationcontroller", "replicationcontrollers"],
    "job": ["job", "jobs"],
    "cronjob": ["cj", "cronjob", "cronjobs"],
    "pod": ["po", "pod", "pods"],
    "namespace": ["ns", "namespace", "namespaces"],
    "service": ["svc", "service", "services"],
}


@pytest.mark.parametrize(
    ("alias", "kind"), [(alias, kind) for kind, aliases in ALIASES.items() for alias in aliases]
)
def test_canonical_kind_maps_alias_and_plural(alias: str, kind: str) -> None:
    assert canonical_kind(alias) == kind


def test_canonical_kinds_are_the_documented_set() -> None:
    assert set(CANONICAL_KINDS) == set(ALIASES)


def test_slash_form_selects_one_named_resource() -> None:
    assert parse_resources(["deploy/web"]) == [ResourceSelection("deployment", ("web",))]


def test_type_then_names_selects_every_name() -> None:
    assert parse_resources(["deploy", "web", "emoji"]) == [
        ResourceSelection("deployment", ("web", "emoji"))
    ]


def test_bare_type_selects_all_of_that_type() -> None:
    assert parse_resources(["sts"]) == [ResourceSelection("statefulset")]


def test_all_selects_every_type() -> None:
    assert parse_resources(["all"]) == [ResourceSelection(ALL)]


def test_slash_forms_group_by_kind_in_first_seen_order() -> None:
    assert parse_resources(["deploy/web", "svc/web", "deployment/emoji", "deploy/web"]) == [
        ResourceSelection("deployment", ("web", "emoji")),
        ResourceSelection("service", ("web",)),
    ]


def test_unknown_type_error_is_one_line_with_suggestions() -> None:
    with pytest.raises(UnknownResourceTypeError) as info:
        parse_resources(["deplo"])
    message = str(info.value)
    assert message.startswith('unknown resource type "deplo"; try one of: deploy, sts, ')
    assert "\n" not in message
    assert info.value.given == "deplo"


def test_unknown_type_in_slash_form_is_rejected() -> None:
    with pytest.raises(UnknownResourceTypeError):
        parse_resources(["deploy/web", "widget/x"])


@pytest.mark.parametrize(
    "args", [["deploy", "deploy/web"], ["deploy/web", "emoji"], ["svc/web", "deploy"]]
)
def test_mixing_type_with_type_slash_name_is_rejected(args: list[str]) -> None:
    with pytest.raises(ResourceError, match="cannot mix"):
        parse_resources(args)


@pytest.mark.parametrize(
    "args",
    [[], ["all", "web"], ["all/web"], ["deploy/"], ["/web"], ["deploy/a/b"], ["deploy", "Web"]],
)
def test_malformed_arguments_are_rejected(args: list[str]) -> None:
    with pytest.raises(ResourceError):
        parse_resources(args)


def test_parse_resource_accepts_type_or_type_slash_name() -> None:
    assert parse_resource("po/web-1") == ResourceSelection("pod", ("web-1",))
    assert parse_resource("ns") == ResourceSelection("namespace")


def test_selection_refuses_non_canonical_kind() -> None:
    with pytest.raises(UnknownResourceTypeError):
        ResourceSelection("deploy")


def test_selection_to_refs_gives_one_ref_per_name() -> None:
    refs = to_resource_refs(ResourceSelection("deployment", ("web", "emoji")), "emojivoto")
    assert [(r.namespace, r.kind, r.name) for r in refs] == [
        ("emojivoto", "deployment", "web"),
        ("emojivoto", "deployment", "emoji"),
    ]


def test_all_selection_becomes_ref_with_empty_kind() -> None:
    (ref,) = to_resource_refs(ResourceSelection(ALL))
    assert (ref.namespace, ref.kind, ref.name) == ("", "", "")
    assert from_resource_ref(ref) == ("", ResourceSelection(ALL))


@given(
    st.sampled_from(CANONICAL_KINDS),
    st.one_of(st.just(""), st.from_regex(r"[a-z][-a-z0-9]{0,10}[a-z0-9]", fullmatch=True)),
    st.sampled_from(["", "emojivoto"]),
)
def test_single_name_selection_round_trips_through_ref(kind: str, name: str, ns: str) -> None:
    selection = ResourceSelection(kind, (name,) if name else ())
    (ref,) = to_resource_refs(selection, ns)
    decoded = meshpipe_pb2.ResourceRef.FromString(ref.SerializeToString())
    assert from_resource_ref(decoded) == (ns, selection)


def test_ref_with_name_but_no_kind_is_rejected() -> None:
    with pytest.raises(ResourceError):
        from_resource_ref(meshpipe_pb2.ResourceRef(name="web"))


@given(st.lists(st.text(max_size=12), max_size=4))
def test_parse_resources_raises_only_resource_errors(args: list[str]) -> None:
    try:
        selections = parse_resources(args)
    except ResourceError:
        return
    assert selections
    assert all(s.kind in (*CANONICAL_KINDS, ALL) for s in selections)
