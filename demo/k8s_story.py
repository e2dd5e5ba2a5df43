"""`meshctl demo --k8s --check`: the story headless on a Kubernetes cluster. The control plane
is installed unless one is there (`meshctl install --dev-cluster`), emojivoto is meshed by
`meshctl inject` and applied, and each step of the story runs as the user would type it from
their machine (`meshstat`/`meshtap --kubeconfig`, through the API server), printed PASS/FAIL."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.demo.check import check_story
from meshpipe.demo.plan import NAMESPACE, command
from meshpipe.demo.story import STEPS, Rows, Step, step_result
from meshpipe.deploy.mesh.portforward import ClusterAccess, ClusterAccessError

Say = Callable[[str], None]
EMOJIVOTO = Path(__file__).resolve().parent / "k8s" / "emojivoto.yml"
STEP_TIMEOUT_S = 120.0
CONTROL_PLANE = "meshpipe"


@dataclass(frozen=True)
class K8sDemoSettings:
    """Which cluster, and how long the control plane and the story may take (seconds)."""

    kubeconfig: str | None = None
    context: str | None = None
    ready_timeout_s: float = 420.0
    check_timeout_s: float = 240.0
    manifest: Path = EMOJIVOTO

    def flags(self) -> tuple[str, ...]:
        kube = (f"--kubeconfig={self.kubeconfig}",) if self.kubeconfig else ()
        return kube + ((f"--context={self.context}",) if self.context else ())


class _Clock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _NoProcesses:
    """Nothing runs locally: the pods are the cluster's to restart."""

    def check_alive(self) -> None:
        return None


@dataclass
class K8sDemoRun:
    """What check_story needs (settings, say, clock, procs, run_step) for a cluster."""

    settings: K8sDemoSettings
    say: Say
    clock: _Clock = field(default_factory=_Clock)
    procs: _NoProcesses = field(default_factory=_NoProcesses)

    def access(self, namespace: str) -> ClusterAccess:
        s = self.settings
        return ClusterAccess(kubeconfig=s.kubeconfig, context=s.context, namespace=namespace)

    def cli(
        self, tool: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([command(tool), *args], stdin)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return _run([self.access(NAMESPACE).kubectl, *self.settings.flags(), *args], stdin)

    def run_step(self, step: Step) -> tuple[Rows | None, str]:
        done = self.cli(step.tool, *step.args, *self.settings.flags(), "-o", "json")
        return step_result(step.tool, done.returncode, done.stdout, done.stderr)


def _run(argv: list[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    """Our console scripts and kubectl, bounded by STEP_TIMEOUT_S (a timeout is exit 1)."""
    try:
        return subprocess.run(  # noqa: S603 - our console scripts and kubectl
            argv, input=stdin, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 1, "", f"no answer within {STEP_TIMEOUT_S:g}s")


def _last(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
    return lines[-1]


def _step(say: Say, title: str, passed: bool, seen: str) -> bool:
    say(f"{'PASS' if passed else 'FAIL'}  {title}  [{seen}]")
    return passed


def install(run: K8sDemoRun) -> bool:
    """The control plane: applied unless installed; then check --wait until its pods serve."""
    title = "meshctl install --dev-cluster | kubectl apply -f -"
    try:
        bootstrap = _bootstrap(run)
        seen = f"already installed (Kafka {bootstrap})"
    except ClusterAccessError:
        rendered = run.cli("meshctl", "install", "--dev-cluster")
        applied = run.kubectl("apply", "-f", "-", stdin=rendered.stdout)
        if rendered.returncode != 0 or applied.returncode != 0:
            return _step(run.say, title, False, _last(rendered if rendered.returncode else applied))
        seen = f"{len(applied.stdout.splitlines())} objects applied"
    if not _step(run.say, title, True, seen):
        return False
    wait = f"--wait={run.settings.ready_timeout_s:g}"
    checked = run.cli("meshctl", "check", *run.settings.flags(), wait)
    failed = [line for line in checked.stdout.splitlines() if line.startswith("×")]
    return _step(run.say, "meshctl check", checked.returncode == 0, "; ".join(failed) or "all ✔")


def _bootstrap(run: K8sDemoRun) -> str:
    data = json.loads(run.access(CONTROL_PLANE).get("configmap", "meshpipe-config", "-o", "json"))
    return str((data.get("data") or {})["kafka-bootstrap"])


def mesh_emojivoto(run: K8sDemoRun) -> bool:
    """`meshctl inject` the manifests with the install's Kafka, apply, wait for the pods."""
    title = f"meshctl inject {run.settings.manifest.name} | kubectl apply -f -"
    bootstrap = _bootstrap(run)
    injected = run.cli(
        "meshctl", "inject", "--kafka-bootstrap", bootstrap, str(run.settings.manifest)
    )
    applied = run.kubectl("apply", "-f", "-", stdin=injected.stdout)
    if injected.returncode != 0 or applied.returncode != 0:
        return _step(run.say, title, False, _last(injected if injected.returncode else applied))
    timeout = f"--timeout={run.settings.ready_timeout_s:g}s"
    ready = run.kubectl(
        "wait", "-n", NAMESPACE, "--for=condition=Available", "deploy", "--all", timeout
    )
    seen = (
        f"{len(ready.stdout.splitlines())} deployments available"
        if ready.returncode == 0
        else _last(ready)
    )
    return _step(run.say, title, ready.returncode == 0, seen)


def run_k8s_demo(settings: K8sDemoSettings, say: Say, check: bool) -> bool:
    """Install and mesh; with check, every step of the story printed PASS or FAIL (True only if
    all passed), else the story's commands to type."""
    run = K8sDemoRun(settings, say)
    if not install(run) or not mesh_emojivoto(run):
        return False
    if not check:
        say("the story, from this machine:")
        for step in STEPS:
            say(f"  {step.title} {' '.join(settings.flags())}".rstrip())
        return True
    story = check_story(run)
    checked = run.cli("meshctl", "check", *settings.flags(), "--wait=60")
    failed = [line for line in checked.stdout.splitlines() if line.startswith("×")]
    seen = "; ".join(failed) or "all ✔, data path included"
    return _step(say, "meshctl check", checked.returncode == 0, seen) and story
