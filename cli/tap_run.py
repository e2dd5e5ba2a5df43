"""The decisions of one meshtap run, free of Kafka: what to print, when to say it is waiting,
when to stop (--count, --duration) and when to renew the session."""

from __future__ import annotations

from dataclasses import dataclass

from meshpipe.cli.tap_options import TapPlan
from meshpipe.cli.tap_render import PLAIN, TapView, render_event
from meshpipe.cli.terminal import Terminal
from meshpipe.schemas.durations import format_duration
from meshpipe.schemas.gen.meshpipe.v1 import meshpipe_pb2

IDLE_NOTICE_S = 3.0  # silence before meshtap says what it is waiting for


@dataclass
class TapRun:
    """Counts printed requests and tracks silence; times are monotonic seconds."""

    plan: TapPlan
    started_s: float
    terminal: Terminal = PLAIN
    printed: int = 0
    quiet_since_s: float | None = None  # None: a notice was already given for this silence

    def __post_init__(self) -> None:
        self.quiet_since_s = self.started_s

    def on_event(self, event: meshpipe_pb2.RequestEvent, now_s: float) -> list[str]:
        """Lines to print for an event that matched the session (or the replay filter)."""
        if self.done(now_s):
            return []
        self.printed += 1
        self.quiet_since_s = now_s
        return render_event(event, TapView(self.plan.output), self.terminal)

    def done(self, now_s: float) -> bool:
        """Whether --count was reached or --duration has passed."""
        if self.plan.count is not None and self.printed >= self.plan.count:
            return True
        return self.plan.duration_s is not None and now_s - self.started_s >= self.plan.duration_s

    def remaining_s(self, now_s: float) -> float | None:
        """Seconds left under --duration, or None without one."""
        if self.plan.duration_s is None:
            return None
        return max(0.0, self.started_s + self.plan.duration_s - now_s)

    def idle_notice(self, now_s: float) -> str | None:
        """A one-time note on stderr once nothing was printed for IDLE_NOTICE_S."""
        if self.quiet_since_s is None or now_s - self.quiet_since_s < IDLE_NOTICE_S:
            return None
        self.quiet_since_s = None
        quiet = format_duration(IDLE_NOTICE_S)
        if self.plan.since_s is not None:
            return f"no stored requests yet match {self.plan.description} (read for {quiet})"
        return (
            f"waiting for requests of {self.plan.description} "
            f"(nothing for {quiet}; max {self.plan.max_rps} rps; Ctrl-C stops)"
        )
