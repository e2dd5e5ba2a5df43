"""The proxy injector's decision, sans-IO: an AdmissionReview of a pod (and its namespace's
annotations) in, an AdmissionReview response with a JSON patch adding the sidecar out."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from meshpipe.deploy.mesh.inject import inject_pod
from meshpipe.deploy.mesh.proxyspec import INJECT_ANNOTATION, ProxyConfig

ENABLED = "enabled"
DISABLED = "disabled"
REVIEW_API = "admission.k8s.io/v1"
# A ReplicaSet made by a Deployment is named <deployment>-<pod-template-hash>.
_HASH_LABEL = "pod-template-hash"
_OWNER_KINDS = {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}


class ReviewError(ValueError):
    """The request is no AdmissionReview of a pod creation this injector can answer."""


def wants_injection(pod_annotations: Mapping[str, Any], ns_annotations: Mapping[str, Any]) -> bool:
    """Linkerd's rule: the pod's annotation wins (enabled or disabled), else the namespace's
    must say enabled."""
    pod_value = pod_annotations.get(INJECT_ANNOTATION)
    if pod_value in (ENABLED, DISABLED):
        return bool(pod_value == ENABLED)
    return bool(ns_annotations.get(INJECT_ANNOTATION) == ENABLED)


def owner(pod: Mapping[str, Any]) -> tuple[str, str | None]:
    """The workload a pod belongs to, as the sidecar names itself: a Deployment behind its
    ReplicaSet, else the controlling owner, else the pod itself (name None: from the API)."""
    metadata = pod.get("metadata") or {}
    refs = [r for r in metadata.get("ownerReferences") or [] if r.get("controller")]
    if refs and refs[0].get("kind") in _OWNER_KINDS:
        kind, name = str(refs[0]["kind"]), str(refs[0].get("name", ""))
        pod_hash = (metadata.get("labels") or {}).get(_HASH_LABEL)
        if kind == "ReplicaSet" and pod_hash and name.endswith(f"-{pod_hash}"):
            return "deployment", name.removesuffix(f"-{pod_hash}")
        return kind.lower(), name
    return "pod", None


def review(
    body: Mapping[str, Any], ns_annotations: Mapping[str, Any], config: ProxyConfig
) -> dict[str, Any]:
    """The AdmissionReview answering body: always allowed; patched when the pod is injected."""
    request = body.get("request")
    if body.get("kind") != "AdmissionReview" or not isinstance(request, Mapping):
        raise ReviewError("want an AdmissionReview with a request")
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": True}
    pod = request.get("object")
    resource = (request.get("resource") or {}).get("resource")
    if resource == "pods" and request.get("operation") == "CREATE" and isinstance(pod, dict):
        patch = pod_patch(pod, ns_annotations, config)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": REVIEW_API, "kind": "AdmissionReview", "response": response}


def pod_patch(
    pod: dict[str, Any], ns_annotations: Mapping[str, Any], config: ProxyConfig
) -> list[dict[str, Any]]:
    """The JSON patch (RFC 6902) that injects pod, or [] when it must stay as it is."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if not wants_injection(annotations, ns_annotations):
        return []
    kind, name = owner(pod)
    injected, outcome = inject_pod(pod, config, kind, name)
    if outcome.action != "injected":
        return []
    return json_patch(pod, injected)


def json_patch(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Operations turning old into new: objects are compared member by member, anything else
    (lists included) is replaced whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        ops = [{"op": "remove", "path": f"{path}/{_escape(k)}"} for k in old.keys() - new.keys()]
        for key, value in new.items():
            child = f"{path}/{_escape(key)}"
            if key not in old:
                ops.append({"op": "add", "path": child, "value": value})
            elif old[key] != value:
                ops.extend(json_patch(old[key], value, child))
        return ops
    if old == new:
        return []
    return [{"op": "replace", "path": path, "value": new}]


def _escape(key: str) -> str:
    """A member name as a JSON pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")
