"""Runs the demo: dev stack, worker, a sidecar per service, apps and bot; then stops it all."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

from meshpipe.demo.check import check_story
from meshpipe.demo.netns import Pod, PodNetwork, PodNetworkSetup, connects_in, require_netns
from meshpipe.demo.plan import (
    HOST,
    PlanSettings,
    check_ports_free,
    command,
    processes,
    services,
)
from meshpipe.demo.podplan import pod_processes, redirects, service_names, web_url
from meshpipe.demo.story import STEPS, Rows, Step, step_result
from meshpipe.deploy.dev.procs import Processes, ProcessSpec
from meshpipe.deploy.dev.stack import DevStack, DevStackSettings
from meshpipe.schemas.clock import Clock, SystemClock

Say = Callable[[str], None]
READY_TIMEOUT_S = 60.0
WATCH_INTERVAL_S = 1.0
STEP_TIMEOUT_S = 60.0  # one meshstat or meshtap invocation


@dataclass(frozen=True)
class DemoSettings:
    run_dir: Path
    port_base: int
    rate_rps: float  # the bot's votes per second
    keep_stack: bool = False  # leave Kafka and ClickHouse running even if this run started them
    check_timeout_s: float = 180.0  # --check: how long traffic and the story may take to show
    netns: bool = False  # each service and its transparent sidecar in its own network namespace


def default_run_dir(now: datetime.datetime | None = None) -> Path:
    stamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y%m%d-%H%M%S")
    return Path("run") / f"demo-{stamp}"


def readonly_url(stack: DevStackSettings) -> str:
    c = stack.clickhouse
    return f"clickhouse://meshpipe_ro@{c.host}:{c.tcp_port}/{stack.database}"


def story_flags(stack: DevStackSettings) -> dict[str, tuple[str, ...]]:
    """Connection flags each tool needs for this dev stack."""
    return {
        "meshstat": ("--clickhouse", readonly_url(stack)),
        "meshtap": ("--kafka", stack.kafka.bootstrap),
    }


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the demo the way Ctrl-C does."""

    def interrupt(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored inside (the cleanup they asked for is under way)."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class DemoRun:
    """One run: start everything, then either watch until interrupted or check the story."""

    def __init__(
        self, settings: DemoSettings, stack: DevStackSettings, say: Say, clock: Clock
    ) -> None:
        self.settings = settings
        self.stack_settings = stack
        self.say = say
        self.clock = clock
        self.procs = Processes(settings.run_dir, clock, connects_in)
        self.network = PodNetwork(tag=os.urandom(2).hex())
        self.pods = self.network.pods(service_names(settings.port_base))
        self.pod_setup = PodNetworkSetup(self.network)

    def plan(self, env: Mapping[str, str]) -> list[ProcessSpec]:
        s = self.settings
        plan = PlanSettings(
            kafka=self.stack_settings.kafka.bootstrap,
            clickhouse_url=self.stack_settings.clickhouse_url,
            port_base=s.port_base,
            rate_rps=s.rate_rps,
            run_dir=s.run_dir,
        )
        if not s.netns:
            return processes(plan, env)
        specs = pod_processes(plan, self.network, self.pods, env)  # PlanError before any change
        self.pod_setup.create(self.pods, redirects(s.port_base))
        self.say(f"pods        {', '.join(f'{p.name} {p.ip}' for p in self.pods)}")
        return specs

    def start(self, env: Mapping[str, str]) -> None:
        for spec in self.plan(env):
            running = self.procs.start(spec)
            self.procs.wait_ready(running, READY_TIMEOUT_S)
            self.say(f"started     {spec.name:<14} pid {running.process.pid}")

    def watch(self) -> None:
        """Until Ctrl-C or SIGTERM; a process that dies ends the run with its log's tail."""
        while True:
            self.procs.check_alive()
            self.clock.sleep(WATCH_INTERVAL_S)

    def stop(self) -> None:
        with signals_ignored():  # a second Ctrl-C must not leave processes or namespaces behind
            stopped = self.procs.stop_all()
            if stopped:
                self.say(f"stopped     {', '.join(stopped)}")
            # After the processes: one left in a namespace would keep it and its veth alive.
            for error in self.pod_setup.destroy():
                self.say(f"cleanup failed: {error}")

    def run_step(self, step: Step) -> tuple[Rows | None, str]:
        """The step's command with -o json: (rows, '') or (None, why it failed)."""
        argv = [command(step.tool), *step.args, *story_flags(self.stack_settings)[step.tool]]
        argv += ["-o", "json"]
        try:
            done = subprocess.run(  # noqa: S603 - our own console scripts
                argv, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return None, f"no answer within {STEP_TIMEOUT_S:g}s"
        return step_result(step.tool, done.returncode, done.stdout, done.stderr)


def intro(settings: DemoSettings, stack: DevStackSettings, pods: Sequence[Pod] = ()) -> list[str]:
    """What to try: the web page and the story's commands."""
    table = {s.name: s for s in services(settings.port_base)}
    web = f"http://{HOST}:{table['web'].ports.inbound}/"
    if pods:
        web = web_url(pods)
    extra = ""
    if stack.clickhouse.tcp_port != 9000 or stack.database != "meshpipe":
        extra = f" --clickhouse {readonly_url(stack)}"
    return [
        "",
        f"The emoji-voting demo is running; logs in {settings.run_dir}/",
        f"Vote in your browser: {web}  (emojis near the bottom fail)",
        "Then follow the story:",
        *(f"  {step.title}{extra if step.tool == 'meshstat' else ''}" for step in STEPS),
        "Stop everything with Ctrl-C.",
    ]


def run_demo(
    settings: DemoSettings,
    stack_settings: DevStackSettings,
    say: Say,
    check: bool,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> bool:
    """Run the demo (or its check); stop all it started. True unless a check step failed;
    KeyboardInterrupt (Ctrl-C, SIGTERM) goes on to the caller once everything is stopped."""
    if settings.netns:
        require_netns()
    check_ports_free(settings.port_base)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings = replace(settings, run_dir=settings.run_dir.resolve())
    run = DemoRun(settings, stack_settings, say, clock or SystemClock())
    stack = DevStack(stack_settings)
    started: list[str] = []
    with sigterm_as_interrupt():
        try:
            started = stack.up(say)
            run.start(os.environ if env is None else env)
            if check:
                return check_story(run)
            for line in intro(settings, stack_settings, run.pods if settings.netns else ()):
                say(line)
            run.watch()
        except KeyboardInterrupt:
            say("interrupted: stopping the demo")
            raise  # after the clean-up below: the command exits 130, as every CLI does
        finally:
            run.stop()
            if started and not settings.keep_stack:
                say(f"stopping    {', '.join(stack.down(only=started))} (started by this run)")
    return True
