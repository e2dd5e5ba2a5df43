"""meshstat's options as given on the command line, validated by Linkerd's rules into a plan."""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.schemas.durations import DurationError, parse_duration, parse_time
from meshpipe.schemas.exits import UsageError
from meshpipe.schemas.kinds import ALL
from meshpipe.schemas.resources import (
    ResourceError,
    ResourceSelection,
    parse_resource,
    parse_resources,
)
from meshpipe.schemas.rows import WINDOW_S
from meshpipe.sinks.query import EdgeMode, Peer, Selection, StatQuery

DEFAULT_WINDOW = "1m"
# The stream processors' window length (streams.windows.WindowSettings.window_s): a shorter
# range would only ever show part of one window.
MIN_WINDOW_S = float(WINDOW_S)  # the workers' aggregation window
OUTPUTS = ("table", "wide", "json")


@dataclass(frozen=True)
class StatOptions:
    """Everything meshstat was given, as text; validate() turns it into a StatPlan."""

    resources: tuple[str, ...]
    namespace: str = "default"
    all_namespaces: bool = False
    time_window: str | None = None  # None: not given, DEFAULT_WINDOW applies
    from_resource: str | None = None
    to_resource: str | None = None
    from_namespace: str | None = None
    to_namespace: str | None = None
    since: str | None = None
    until: str | None = None
    output: str = "table"
    unmeshed: bool = False
    watch: bool = False

    def validate(self, now_s: float) -> StatPlan:
        """The plan these options describe, or UsageError with Linkerd's one-line reason."""
        self._check_combinations()
        try:
            selections = parse_resources(self.resources)
            mode, peer = self._edge()
        except ResourceError as exc:
            raise UsageError(str(exc)) from None
        if self.all_namespaces and any(s.names for s in selections):
            raise UsageError(
                "stats for a resource cannot be retrieved by name across all namespaces"
            )
        if peer is not None and any(s.kind == "namespace" for s in selections):
            raise UsageError("--from and --to cannot be used with namespace stats")
        return StatPlan(
            selections=tuple(selections),
            namespace=None if self.all_namespaces else self.namespace,
            mode=mode,
            peer=peer,
            range=self._range(now_s),
            output=self.output,
            unmeshed=self.unmeshed,
        )

    def _check_combinations(self) -> None:
        rules = (
            (
                self.from_resource and self.to_resource,
                "--to and --from flags are mutually exclusive",
            ),
            (
                self.from_namespace and self.to_namespace,
                "--to-namespace and --from-namespace flags are mutually exclusive",
            ),
            (self.from_namespace and not self.from_resource, "--from-namespace requires --from"),
            (self.to_namespace and not self.to_resource, "--to-namespace requires --to"),
            (
                self.since and self.time_window,
                "--time-window and --since are mutually exclusive: --since/--until give the range",
            ),
            (
                self.watch and (self.since or self.until),
                "--watch cannot be used with --since/--until",
            ),
            (
                self.output not in OUTPUTS,
                f'invalid output "{self.output}": want table, wide or json',
            ),
            (self.all_namespaces is False and not self.namespace, "--namespace must not be empty"),
        )
        for broken, message in rules:
            if broken:
                raise UsageError(message)

    def _edge(self) -> tuple[EdgeMode, Peer | None]:
        if self.from_resource:
            return EdgeMode.FROM, self._peer("--from", self.from_resource, self.from_namespace)
        if self.to_resource:
            return EdgeMode.TO, self._peer("--to", self.to_resource, self.to_namespace)
        return EdgeMode.SERVER, None

    def _peer(self, flag: str, text: str, namespace: str | None) -> Peer:
        selection: ResourceSelection = parse_resource(text)
        if selection.kind == ALL or not selection.names:
            raise UsageError(
                f'{flag} wants one resource as TYPE/NAME, e.g. deploy/web (got "{text}")'
            )
        if flag == "--from" and selection.kind == "service":
            raise UsageError("--from cannot be a service: services only receive traffic; use --to")
        if selection.kind == "namespace":
            return Peer("namespace", selection.names[0], None)
        return Peer(selection.kind, selection.names[0], namespace or self.namespace)

    def _range(self, now_s: float) -> TimeRange:
        return parse_range(self.time_window, self.since, self.until, now_s)


def parse_range(
    time_window: str | None, since: str | None, until: str | None, now_s: float
) -> TimeRange:
    """The range -t/--since/--until give at now_s, or UsageError with the reason."""
    try:
        window_s = parse_duration(time_window or DEFAULT_WINDOW)
        until_s = parse_time(until, now_s) if until else None
        since_s = parse_time(since, now_s) if since else None
    except DurationError as exc:
        raise UsageError(str(exc)) from None
    if window_s < MIN_WINDOW_S:
        raise UsageError(
            f"--time-window must be at least {MIN_WINDOW_S:g}s (the aggregation window)"
        )
    if since_s is not None and since_s >= (until_s if until_s is not None else now_s):
        raise UsageError("--since must be before --until (and before now)")
    return TimeRange(window_s=window_s, since_s=since_s, until_s=until_s)


@dataclass(frozen=True)
class TimeRange:
    """A rolling window ending now, or a fixed range from --since/--until (Unix seconds)."""

    window_s: float
    since_s: float | None = None
    until_s: float | None = None

    def bounds(self, now_s: float) -> tuple[float, float]:
        """(start, end) at now_s: --until (or now) minus the window unless --since is given."""
        end = self.until_s if self.until_s is not None else now_s
        start = self.since_s if self.since_s is not None else end - self.window_s
        return start, end


@dataclass(frozen=True)
class StatPlan:
    """What meshstat will ask the query layer, independent of the clock until queries()."""

    selections: tuple[ResourceSelection, ...]
    namespace: str | None  # None: all namespaces
    mode: EdgeMode
    peer: Peer | None
    range: TimeRange
    output: str
    unmeshed: bool

    def queries(self, now_s: float) -> list[StatQuery]:
        """One StatQuery per resource kind, over the range as it stands at now_s."""
        start_s, end_s = self.range.bounds(now_s)
        return [
            StatQuery(
                selection=Selection(
                    kind=selection.kind,
                    names=selection.names,
                    namespace=None if selection.kind == "namespace" else self.namespace,
                ),
                mode=self.mode,
                peer=self.peer,
                start_s=start_s,
                end_s=end_s,
                include_unmeshed=self.unmeshed,
            )
            for selection in self.selections
        ]

    @property
    def all_namespaces(self) -> bool:
        return self.namespace is None

    @property
    def mixed_kinds(self) -> bool:
        """Whether rows of several kinds can appear, so names need their kind (`deploy/web`)."""
        return len(self.selections) > 1 or self.selections[0].kind == ALL
