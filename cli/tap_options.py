"""meshtap's options as given on the command line, validated into a plan with a TapFilter."""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.cli.tap_status import StatusFilterError, status_selection
from meshpipe.schemas.durations import DurationError, parse_duration, parse_time
from meshpipe.schemas.exits import UsageError
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2
from meshpipe.schemas.resources import (
    ResourceError,
    ResourceSelection,
    parse_resource,
    parse_resources,
    to_resource_refs,
)

DEFAULT_MAX_RPS = 100
OUTPUTS = ("wide", "json")


@dataclass(frozen=True)
class TapOptions:
    """Everything meshtap was given, as text; validate() turns it into a TapPlan."""

    resources: tuple[str, ...]
    namespace: str = "default"
    to_resource: str | None = None
    to_namespace: str | None = None
    max_rps: int = DEFAULT_MAX_RPS
    method: str | None = None
    path: str | None = None
    authority: str | None = None
    scheme: str | None = None
    output: str | None = None
    status: tuple[str, ...] = ()
    grpc_status: tuple[str, ...] = ()
    failed: bool = False
    since: str | None = None
    count: int | None = None
    duration: str | None = None

    def validate(self, now_s: float) -> TapPlan:
        """The plan these options describe, or UsageError with a one-line reason."""
        self._check_combinations()
        try:
            resource = self._one_resource()
            target = parse_resource(self.to_resource) if self.to_resource else None
            statuses = status_selection(self.status, self.grpc_status, self.failed)
            duration_s = parse_duration(self.duration) if self.duration else None
            since_s = parse_time(self.since, now_s) if self.since else None
        except (ResourceError, StatusFilterError, DurationError) as exc:
            raise UsageError(str(exc)) from None
        if since_s is not None and since_s >= now_s:
            raise UsageError("--since must be in the past")
        tap_filter = meshpipe_pb2.TapFilter(
            resource=_ref(resource, self.namespace),
            method=self.method or "",
            path_prefix=self.path or "",
            authority=self.authority or "",
            scheme=self.scheme or "",
        )
        if target is not None:
            tap_filter.to.CopyFrom(_ref(target, self.to_namespace or self.namespace))
        tap_filter.MergeFrom(statuses)
        return TapPlan(
            tap_filter=tap_filter,
            max_rps=self.max_rps,
            output=self.output or "",
            since_s=since_s,
            count=self.count,
            duration_s=duration_s,
            description=self._describe(resource, target),
        )

    def _check_combinations(self) -> None:
        rules = (
            (self.to_namespace and not self.to_resource, "--to-namespace requires --to"),
            (self.max_rps < 1, "--max-rps must be at least 1"),
            (self.count is not None and self.count < 1, "--count must be at least 1"),
            (self.output not in (None, "", *OUTPUTS), f'invalid output "{self.output}"'),
            (not self.namespace, "--namespace must not be empty"),
            (self.path is not None and not self.path.startswith("/"), "--path must start with /"),
        )
        for broken, message in rules:
            if broken:
                raise UsageError(message)

    def _one_resource(self) -> ResourceSelection:
        selections = parse_resources(self.resources)
        if len(selections) != 1 or len(selections[0].names) > 1:
            raise UsageError("meshtap taps one resource, e.g. deploy/web or deploy web")
        return selections[0]

    def _describe(self, resource: ResourceSelection, target: ResourceSelection | None) -> str:
        text = f"{resource} in namespace {self.namespace}"
        if resource.kind == "namespace":
            text = str(resource)
        if target is not None:
            text += f" to {target} in namespace {self.to_namespace or self.namespace}"
        return text


def _ref(selection: ResourceSelection, namespace: str) -> meshpipe_pb2.ResourceRef:
    """The ResourceRef of a selection of at most one name; namespaces ignore --namespace."""
    if selection.kind == "namespace":
        namespace = ""
    [ref] = to_resource_refs(selection, namespace)
    return ref


@dataclass(frozen=True)
class TapPlan:
    """What meshtap will ask for (the filter, status selection included) and how it prints and
    stops."""

    tap_filter: meshpipe_pb2.TapFilter
    max_rps: int
    output: str  # "", "wide" or "json"
    since_s: float | None  # replay from this Unix time instead of tapping live
    count: int | None  # stop after this many printed requests
    duration_s: float | None  # stop after this long
    description: str  # what is tapped, for the waiting notice
