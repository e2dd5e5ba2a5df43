"""Adds the meshproxy sidecar and init container to workloads' pod templates, and removes them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from meshpipe.deploy.mesh.proxyspec import (
    INIT_CONTAINER,
    INJECT_ANNOTATION,
    PROXY_CONTAINER,
    VERSION_ANNOTATION,
    ProxyConfig,
    init_container,
    proxy_container,
)

# Where each injectable kind keeps its pod template (a mapping with `metadata` and `spec`).
_TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Outcome:
    """What happened to one workload: the line of the stderr summary."""

    kind: str
    name: str
    action: str
    reason: str = ""

    def line(self) -> str:
        text = f'{self.kind} "{self.name}" {self.action}'
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class _Workload:
    """An injectable document: its lower-case kind, name (None: a pod named by the API), pod."""

    kind: str
    name: str | None
    display_name: str
    annotations: dict[str, Any]
    pod: dict[str, Any]

    def outcome(self, action: str, reason: str = "") -> Outcome:
        return Outcome(self.kind, self.display_name, action, reason)


Operation = Callable[[_Workload], Outcome]


def inject_documents(docs: Iterable[Any], config: ProxyConfig) -> tuple[list[Any], list[Outcome]]:
    """Copies of docs with every injectable workload injected, and one outcome per workload."""
    return _apply(docs, lambda workload: _inject(workload, config))


def inject_pod(
    pod: dict[str, Any], config: ProxyConfig, kind: str, name: str | None
) -> tuple[dict[str, Any], Outcome]:
    """A copy of one pod, injected unless skipped, with the sidecar's identity given by its
    owning workload (kind, name; name None: the pod's own name from the Downward API)."""
    copied = copy.deepcopy(pod)
    workload = _Workload(kind, name, name or "pod", {}, copied)
    if not isinstance(copied.get("spec"), dict):
        return copied, workload.outcome("skipped", "no pod spec")
    return copied, _inject(workload, config)


def uninject_documents(docs: Iterable[Any]) -> tuple[list[Any], list[Outcome]]:
    """Copies of docs with exactly what inject added removed again."""
    return _apply(docs, _uninject)


def _apply(docs: Iterable[Any], operation: Operation) -> tuple[list[Any], list[Outcome]]:
    result = [copy.deepcopy(doc) for doc in docs]
    outcomes: list[Outcome] = []
    for doc in result:
        _visit(doc, operation, outcomes)
    return result, outcomes


def _visit(doc: Any, operation: Operation, outcomes: list[Outcome]) -> None:
    if not isinstance(doc, dict):
        return
    if doc.get("kind") == "List" or str(doc.get("kind", "")).endswith("List"):
        for item in doc.get("items") or []:
            _visit(item, operation, outcomes)
        return
    workload = _workload(doc)
    if workload is not None:
        outcomes.append(operation(workload))


def _workload(doc: dict[str, Any]) -> _Workload | None:
    path = _TEMPLATE_PATHS.get(str(doc.get("kind")))
    if path is None:
        return None
    pod: Any = doc
    for key in path:
        pod = pod.get(key) if isinstance(pod, dict) else None
    if not isinstance(pod, dict) or not isinstance(pod.get("spec"), dict):
        return None
    metadata = doc.get("metadata") or {}
    name = metadata.get("name")
    return _Workload(
        kind=str(doc["kind"]).lower(),
        name=str(name) if name is not None else None,
        display_name=str(name) if name is not None else f"{metadata.get('generateName', '')}*",
        annotations=metadata.get("annotations") or {},
        pod=pod,
    )


def _skip_reason(workload: _Workload) -> str | None:
    pod_annotations = (workload.pod.get("metadata") or {}).get("annotations") or {}
    if "disabled" in (
        workload.annotations.get(INJECT_ANNOTATION),
        pod_annotations.get(INJECT_ANNOTATION),
    ):
        return f"{INJECT_ANNOTATION}: disabled"
    if workload.pod["spec"].get("hostNetwork") is True:
        return "hostNetwork"
    if _is_injected(workload.pod["spec"]):
        return "already injected"
    return None


def _is_injected(spec: dict[str, Any]) -> bool:
    names = {c.get("name") for key in ("containers", "initContainers") for c in spec.get(key) or []}
    return PROXY_CONTAINER in names or INIT_CONTAINER in names


def _inject(workload: _Workload, config: ProxyConfig) -> Outcome:
    reason = _skip_reason(workload)
    if reason is not None:
        return workload.outcome("skipped", reason)
    spec = workload.pod["spec"]
    # First the redirect, then the proxy, then the app's own init containers: those already
    # run behind the redirect, so the proxy must be up before them.
    proxy = proxy_container(config, workload.kind, workload.name)
    spec["initContainers"] = [init_container(config), proxy, *(spec.get("initContainers") or [])]
    metadata = workload.pod.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    annotations[VERSION_ANNOTATION] = config.version_label
    return workload.outcome("injected")


def _uninject(workload: _Workload) -> Outcome:
    spec = workload.pod["spec"]
    if not _is_injected(spec):
        return workload.outcome("skipped", "not injected")
    _remove_named(spec, "containers", PROXY_CONTAINER)  # injected by an older meshctl
    _remove_named(spec, "initContainers", PROXY_CONTAINER)
    _remove_named(spec, "initContainers", INIT_CONTAINER)
    metadata = workload.pod.get("metadata")
    if isinstance(metadata, dict):
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(VERSION_ANNOTATION, None)
            if not annotations:
                del metadata["annotations"]
        if not metadata:
            del workload.pod["metadata"]
    return workload.outcome("uninjected")


def _remove_named(spec: dict[str, Any], key: str, name: str) -> None:
    """Drop the container called name; drop the list itself when inject created it."""
    containers = spec.get(key)
    if not isinstance(containers, list):
        return
    kept = [c for c in containers if not (isinstance(c, dict) and c.get("name") == name)]
    if kept or key == "containers":
        spec[key] = kept
    else:
        del spec[key]
