"""Unit tests for schemas.identity: text forms, header values and Workload conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.identity import (
    IdentityError,
    UnmeshedPeer,
    WorkloadId,
    WorkloadInstance,
    parse_peer,
    peer_of,
    to_workload,
    unmeshed_workload,
    workload_id,
    workload_instance,
)

names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True)
kinds = st.sampled_from(["deployment", "statefulset", "daemonset", "pod", "job"])
workload_ids = st.builds(WorkloadId, names, kinds, names)
unmeshed_peers = st.builds(
    UnmeshedPeer,
    ip=st.one_of(st.just(""), st.ip_addresses().map(str)),
    port=st.integers(0, 65535),
    authority=st.text(max_size=30),
)


def test_workload_id_formats_as_namespace_kind_name() -> None:
    assert str(WorkloadId("emojivoto", "deployment", "web")) == "emojivoto/deployment/web"


@given(workload_ids)
def test_workload_id_text_round_trips(wid: WorkloadId) -> None:
    assert WorkloadId.parse(str(wid)) == wid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ns/deployment",
        "ns/deployment/web/extra",
        "ns//web",
        "NS/deployment/web",
        "ns/rollout/web",
        "ns/service/web",
        "ns/ns/web",
        "ns/deployment/web-",
        "ns/deployment/we b",
        "ns/deployment/w|b",
    ],
)
def test_workload_id_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(IdentityError):
        WorkloadId.parse(text)


@pytest.mark.parametrize("kind", ["deploy", "Deployment", "deployments", "DEPLOY", "deployment"])
def test_a_kubectl_alias_or_plural_in_any_case_becomes_the_canonical_kind(kind: str) -> None:
    assert WorkloadId.parse(f"ns/{kind}/web") == WorkloadId("ns", "deployment", "web")
    assert str(WorkloadInstance.parse(f"ns/{kind}/web/web-1")) == "ns/deployment/web/web-1"


def test_an_unknown_workload_kind_is_one_line_naming_the_kinds() -> None:
    with pytest.raises(IdentityError, match="invalid workload kind 'rollout': want one of deploy"):
        WorkloadId.parse("ns/rollout/web")


def test_identity_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="namespace/kind/name"):
        WorkloadId.parse("web")


def test_header_value_with_pod_parses_into_workload_and_pod() -> None:
    instance = WorkloadInstance.parse(" emojivoto/deployment/web/web-5f7b-abcde ")
    assert instance == WorkloadInstance(
        WorkloadId("emojivoto", "deployment", "web"), "web-5f7b-abcde"
    )


def test_header_value_without_pod_parses_with_empty_pod() -> None:
    instance = WorkloadInstance.parse("emojivoto/deployment/web")
    assert instance.pod == ""
    assert str(instance) == "emojivoto/deployment/web"


@given(workload_ids, st.one_of(st.just(""), names))
def test_header_value_round_trips(wid: WorkloadId, pod: str) -> None:
    instance = WorkloadInstance(wid, pod)
    assert WorkloadInstance.parse(str(instance)) == instance


@pytest.mark.parametrize("value", ["a/b/c/d/e", "a/b", "ns/deployment/web/"])
def test_header_value_parse_rejects_wrong_shape(value: str) -> None:
    with pytest.raises(IdentityError):
        WorkloadInstance.parse(value)


def test_to_workload_fills_every_field_and_marks_meshed() -> None:
    instance = WorkloadInstance(WorkloadId("ns", "deployment", "web"), "web-1")
    msg = to_workload(instance, ip="10.0.0.7", port=8080, labels={"app": "web"}, authority="web:80")
    assert (msg.namespace, msg.kind, msg.name, msg.pod) == ("ns", "deployment", "web", "web-1")
    assert (msg.ip, msg.port, msg.authority, msg.meshed) == ("10.0.0.7", 8080, "web:80", True)
    assert dict(msg.labels) == {"app": "web"}


@given(workload_ids, st.one_of(st.just(""), names))
def test_workload_message_round_trips_to_instance(wid: WorkloadId, pod: str) -> None:
    instance = WorkloadInstance(wid, pod)
    msg = meshpipe_pb2.Workload.FromString(to_workload(instance).SerializeToString())
    assert workload_instance(msg) == instance


def test_workload_id_of_unmeshed_message_is_none() -> None:
    assert workload_id(meshpipe_pb2.Workload(ip="10.0.0.9", port=443)) is None


def test_workload_id_of_partial_identity_raises() -> None:
    with pytest.raises(IdentityError):
        workload_id(meshpipe_pb2.Workload(namespace="ns", name="web"))


def test_unmeshed_peer_text_lists_known_fields() -> None:
    peer = UnmeshedPeer(ip="10.0.0.9", port=443, authority="api.example.com:443")
    assert str(peer) == "authority=api.example.com:443,ip=10.0.0.9,port=443"


def test_unmeshed_peer_with_nothing_known_is_unknown() -> None:
    assert str(UnmeshedPeer()) == "unknown"
    assert UnmeshedPeer.parse("unknown") == UnmeshedPeer()


def test_unmeshed_peer_text_escapes_separators() -> None:
    text = str(UnmeshedPeer(authority="evil/host|x,ip=1"))
    assert "/" not in text
    assert "|" not in text
    assert text.count(",") == 0


@given(unmeshed_peers)
def test_unmeshed_peer_text_round_trips(peer: UnmeshedPeer) -> None:
    assert UnmeshedPeer.parse(str(peer)) == peer


@given(unmeshed_peers)
def test_unmeshed_peer_message_round_trips(peer: UnmeshedPeer) -> None:
    msg = unmeshed_workload(peer)
    assert not msg.meshed
    assert peer_of(msg) == peer


@pytest.mark.parametrize("text", ["ip", "ip=", "color=red", "port=x", "ip=1,ip=2", "port=70000"])
def test_unmeshed_peer_parse_rejects_malformed_text(text: str) -> None:
    with pytest.raises(IdentityError):
        UnmeshedPeer.parse(text)


def test_parse_peer_tells_workloads_from_unmeshed_peers() -> None:
    assert parse_peer("ns/pod/web-1") == WorkloadId("ns", "pod", "web-1")
    assert parse_peer("ip=10.1.2.3") == UnmeshedPeer(ip="10.1.2.3")
