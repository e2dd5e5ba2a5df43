"""The proxy injector's sans-IO decision: who is injected, under which identity, as a JSON patch
that turns the pod the API server sent into exactly what `meshctl inject` writes."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from meshpipe.deploy.mesh.admission import (
    ReviewError,
    json_patch,
    owner,
    review,
    wants_injection,
)
from meshpipe.deploy.mesh.inject import inject_pod
from meshpipe.deploy.mesh.proxyspec import ProxyConfig

CONFIG = ProxyConfig(image="ghcr.io/meshpipe/meshproxy:1.2.3", kafka_bootstrap="kafka:9092")
ENABLED = {"meshpipe.io/inject": "enabled"}
DISABLED = {"meshpipe.io/inject": "disabled"}


def _pod(annotations: dict[str, str] | None = None, **metadata: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"generateName": "web-6b97777c44-", "namespace": "emojivoto"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**meta, **metadata},
        "spec": {"containers": [{"name": "web", "image": "web:1"}]},
    }


def _review(pod: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": operation,
            "namespace": "emojivoto",
            "object": pod,
        },
    }


def _apply(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """A minimal RFC 6902 applier (add/replace/remove on objects), as the API server applies it."""
    doc = copy.deepcopy(doc)
    for op in ops:
        *parents, last = [
            t.replace("~1", "/").replace("~0", "~") for t in op["path"].split("/")[1:]
        ]
        target = doc
        for token in parents:
            target = target[token]
        if op["op"] == "remove":
            del target[last]
        else:
            assert op["op"] == "replace" or last not in target
            target[last] = op["value"]
    return doc


def _patch_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    response = answer["response"]
    assert response["patchType"] == "JSONPatch"
    ops: list[dict[str, Any]] = json.loads(base64.b64decode(response["patch"]))
    return ops


@pytest.mark.parametrize(
    ("pod_annotations", "ns_annotations", "expected"),
    [
        ({}, ENABLED, True),
        ({}, {}, False),
        (DISABLED, ENABLED, False),
        (ENABLED, {}, True),
        ({}, DISABLED, False),
        ({"meshpipe.io/inject": "bogus"}, ENABLED, True),
    ],
)
def test_pod_annotation_wins_over_the_namespace(
    pod_annotations: dict[str, str], ns_annotations: dict[str, str], expected: bool
) -> None:
    assert wants_injection(pod_annotations, ns_annotations) is expected


def test_pod_of_a_deployment_is_named_after_the_deployment() -> None:
    pod = _pod(
        labels={"pod-template-hash": "6b97777c44"},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-6b97777c44", "controller": True}],
    )
    assert owner(pod) == ("deployment", "web")


def test_pod_of_a_statefulset_is_named_after_it_and_a_bare_pod_after_itself() -> None:
    sts = _pod(ownerReferences=[{"kind": "StatefulSet", "name": "db", "controller": True}])
    assert owner(sts) == ("statefulset", "db")
    assert owner(_pod()) == ("pod", None)


def test_the_patch_turns_the_pod_into_what_inject_writes() -> None:
    pod = _pod(
        labels={"pod-template-hash": "6b97777c44"},
        ownerReferences=[{"kind": "ReplicaSet", "name": "web-6b97777c44", "controller": True}],
    )
    answer = review(_review(pod), ENABLED, CONFIG)
    assert answer["response"]["uid"] == "u-1"
    assert answer["response"]["allowed"] is True
    expected, _ = inject_pod(pod, CONFIG, "deployment", "web")
    assert _apply(pod, _patch_of(answer)) == expected
    names = [c["name"] for c in expected["spec"]["initContainers"]]
    assert names == ["meshproxy-init", "meshproxy"]


def test_the_patch_keeps_existing_annotations_and_escapes_their_names() -> None:
    pod = _pod({"example.com/a~b": "1"})
    answer = review(_review(pod), ENABLED, CONFIG)
    patched = _apply(pod, _patch_of(answer))
    assert patched["metadata"]["annotations"]["example.com/a~b"] == "1"
    assert patched["metadata"]["annotations"]["meshpipe.io/proxy-version"] == "1.2.3"


@pytest.mark.parametrize(
    "pod",
    [
        _pod(DISABLED),
        _pod(hostNetwork=None) | {"spec": {"hostNetwork": True, "containers": [{"name": "a"}]}},
        inject_pod(_pod(), CONFIG, "pod", None)[0],
    ],
    ids=["opted-out", "host-network", "already-injected"],
)
def test_pods_that_must_stay_are_allowed_without_a_patch(pod: dict[str, Any]) -> None:
    answer = review(_review(pod), ENABLED, CONFIG)
    assert answer["response"] == {"uid": "u-1", "allowed": True}


def test_updates_are_allowed_unchanged() -> None:
    answer = review(_review(_pod(), operation="UPDATE"), ENABLED, CONFIG)
    assert answer["response"] == {"uid": "u-1", "allowed": True}


def test_a_body_that_is_no_admission_review_is_an_error() -> None:
    with pytest.raises(ReviewError):
        review({"kind": "Pod"}, ENABLED, CONFIG)


def test_json_patch_replaces_lists_whole_and_removes_members() -> None:
    old = {"a": [1, 2], "b": {"c": 1, "d": 2}}
    new = {"a": [1, 2, 3], "b": {"c": 1}}
    ops = json_patch(old, new)
    assert {"op": "replace", "path": "/a", "value": [1, 2, 3]} in ops
    assert {"op": "remove", "path": "/b/d"} in ops
    assert _apply(old, ops) == new
