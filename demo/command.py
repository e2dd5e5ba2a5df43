"""`meshctl demo`: the main job — the emoji-voting demo behind meshproxy sidecars, or its check."""

from __future__ import annotations

import os
from pathlib import Path

import click

from meshpipe.demo.k8s_story import K8sDemoSettings, run_k8s_demo
from meshpipe.demo.netns import NetnsError, NetnsUnavailable
from meshpipe.demo.plan import DEFAULT_PORT_BASE, PlanError
from meshpipe.demo.runner import DemoSettings, default_run_dir, run_demo
from meshpipe.deploy.dev.clusterconf import ClusterSettings
from meshpipe.deploy.dev.procs import ProcessFailed
from meshpipe.deploy.dev.stack import DevStackSettings
from meshpipe.schemas.exits import CliError, ExitStatus


@click.command("demo")
@click.option(
    "--check",
    is_flag=True,
    help="Run headless, wait for traffic, check each step of the story; exit 0 only if all pass.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each process's log goes [./run/demo-<UTC timestamp>].",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="vote-bot's votes per second.",
)
@click.option(
    "--port-base",
    type=click.IntRange(1024, 65000),
    default=DEFAULT_PORT_BASE,
    show_default=True,
    help="First port of the demo's port table (it uses about 500 ports above it).",
)
@click.option("--keep-stack", is_flag=True, help="Leave Kafka and ClickHouse running at the end.")
@click.option(
    "--check-timeout",
    type=click.FloatRange(min=1),
    default=180.0,
    show_default=True,
    help="Seconds --check may wait for traffic and for the story to show.",
)
@click.option(
    "--netns",
    is_flag=True,
    help="Root only: run each service and its sidecar in its own network namespace pod, "
    "proxied transparently by iptables REDIRECT (the apps use no http_proxy).",
)
@click.option(
    "--k8s",
    is_flag=True,
    help="On a Kubernetes cluster: install the control plane unless there (--dev-cluster), "
    "inject and apply demo/k8s/emojivoto.yml, then the story from this machine through the API "
    "server (with --check: PASS/FAIL per step).",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="With --k8s [env KUBECONFIG].")
@click.option("--context", "kube_context", help="With --k8s: the kubeconfig context.")
def demo(
    check: bool,
    run_dir: Path | None,
    rate: float,
    port_base: int,
    keep_stack: bool,
    check_timeout: float,
    netns: bool,
    k8s: bool,
    kubeconfig: str | None,
    kube_context: str | None,
) -> ExitStatus:
    """Run the emoji-voting demo: the dev stack, a meshstreams worker, web, emoji, voting and
    vote-bot each behind its own meshproxy; print the story's commands; stop all on Ctrl-C.

    \b
    Exit codes: 0 ok, 3 a --check step failed, 4 something could not start, 130 interrupted.
    """
    if k8s:
        return _k8s(check, check_timeout, kubeconfig, kube_context)
    settings = DemoSettings(
        run_dir=run_dir or default_run_dir(),
        port_base=port_base,
        rate_rps=rate,
        keep_stack=keep_stack,
        check_timeout_s=check_timeout,
        netns=netns,
    )
    try:
        passed = run_demo(settings, DevStackSettings.from_env(), click.echo, check)
    except (PlanError, ProcessFailed, NetnsUnavailable, NetnsError) as exc:
        raise CliError(str(exc), ExitStatus.UNAVAILABLE) from exc
    if not passed:
        raise CliError("the demo's story check failed (see FAIL above)", ExitStatus.CHECK_FAILED)
    return ExitStatus.OK


def _k8s(
    check: bool, check_timeout: float, kubeconfig: str | None, context: str | None
) -> ExitStatus:
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or _dev_cluster_kubeconfig()
    settings = K8sDemoSettings(
        kubeconfig=kubeconfig, context=context, check_timeout_s=check_timeout
    )
    if not run_k8s_demo(settings, click.echo, check):
        raise CliError(
            "the demo's story on Kubernetes failed (see FAIL above)", ExitStatus.CHECK_FAILED
        )
    return ExitStatus.OK


def _dev_cluster_kubeconfig() -> str | None:
    """`meshctl dev cluster`'s kubeconfig when that cluster was brought up here."""
    path = ClusterSettings.from_env().kubeconfig
    return str(path) if path.exists() else None
