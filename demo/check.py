"""`meshctl demo --check`: wait for the bot's traffic, then run and judge each step of the story."""

from __future__ import annotations

from typing import Protocol

from meshpipe.demo.story import STEPS, Rows, Step, by_name


class _Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class _Processes(Protocol):
    def check_alive(self) -> None: ...


class _Settings(Protocol):
    @property
    def check_timeout_s(self) -> float: ...


class DemoRun(Protocol):
    """What the check needs of a run: the local one (demo.runner) or a cluster's (k8s_story)."""

    @property
    def settings(self) -> _Settings: ...
    @property
    def clock(self) -> _Clock: ...
    @property
    def procs(self) -> _Processes: ...
    def say(self, text: str) -> None: ...
    def run_step(self, step: Step) -> tuple[Rows | None, str]: ...


RETRY_INTERVAL_S = 3.0
MIN_REQUESTS = 20  # per deployment before the story is judged


def _enough_traffic(rows: Rows) -> bool:
    found = by_name(rows)
    counts = [found.get(name, {}).get("requests") for name in ("web", "voting", "emoji")]
    return all(isinstance(c, int) and c >= MIN_REQUESTS for c in counts)


def wait_for_traffic(run: DemoRun, deadline: float) -> str:
    """'' once web, voting and emoji each served MIN_REQUESTS; else what was last seen."""
    last = "no answer yet"
    while run.clock.monotonic() < deadline:
        run.procs.check_alive()
        rows, error = run.run_step(STEPS[0])
        if rows is not None and _enough_traffic(rows):
            return ""
        last = error or f"rows so far: {rows}"
        run.clock.sleep(RETRY_INTERVAL_S)
    return last


def judge(run: DemoRun, step: Step, deadline: float) -> tuple[bool, str]:
    """Run step until it passes or the deadline (windows reach ClickHouse a little apart)."""
    while True:
        rows, error = run.run_step(step)
        passed, seen = step.judge(rows) if rows is not None else (False, error)
        if passed or run.clock.monotonic() >= deadline:
            return passed, seen
        run.procs.check_alive()
        run.clock.sleep(RETRY_INTERVAL_S)


def check_story(run: DemoRun) -> bool:
    """Print each step with PASS or FAIL; True only if every step passed."""
    deadline = run.clock.monotonic() + run.settings.check_timeout_s
    run.say(f"waiting for traffic (at least {MIN_REQUESTS} requests per deployment)...")
    waited = wait_for_traffic(run, deadline)
    if waited:
        run.say(f"FAIL  no traffic within {run.settings.check_timeout_s:g}s: {waited}")
        return False
    results = []
    for step in STEPS:
        passed, seen = judge(run, step, deadline)
        run.say(f"{'PASS' if passed else 'FAIL'}  {step.title}  [{seen}]")
        results.append(passed)
    return all(results)
