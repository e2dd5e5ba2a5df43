"""`meshctl check`: is the control plane healthy and are the proxies where they should be?"""

from __future__ import annotations

import time
from dataclasses import dataclass

import click

from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.deploy.mesh.checks import CheckResult, evaluate
from meshpipe.deploy.mesh.cluster import Facts, Kube, KubeSettings, NoClusterError, gather
from meshpipe.schemas.exits import CliError, ExitStatus

WAIT_INTERVAL_S = 3.0  # between rounds of --wait


@dataclass(frozen=True)
class CheckOptions:
    namespace: str
    kubeconfig: str | None
    context: str | None

    def validate(self) -> KubeSettings:
        if not self.namespace:
            raise CliError("--namespace must not be empty", ExitStatus.USAGE)
        return KubeSettings(kubeconfig=self.kubeconfig, context=self.context)


@click.command("check")
@click.option("--namespace", default="meshpipe", show_default=True, help="Control-plane namespace.")
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False), help="[env KUBECONFIG; ~/.kube/config]"
)
@click.option("--context", help="kubeconfig context (default: the current one).")
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Seconds to keep checking until every check passes (e.g. right after an install); "
    "the last round is printed. Unready pods are named with their events and log.",
)
def check(namespace: str, kubeconfig: str | None, context: str | None, wait_s: float) -> ExitStatus:
    """Check the cluster: API, control-plane pods, Kafka, topics, ClickHouse, schema, proxies,
    and the data path: events arriving, worker lag, dead letters, proxies dropping events.

    One line per check; exit 0 only when every check passes (3 otherwise).
    """
    options = CheckOptions(namespace, kubeconfig, context)
    settings = options.validate()
    topics = [t.name for t in load_spec().resolved()]
    deadline = time.monotonic() + wait_s
    while True:
        results = evaluate(fetch(settings, options.namespace), options.namespace, topics)
        if all(r.ok for r in results) or time.monotonic() >= deadline:
            break
        time.sleep(min(WAIT_INTERVAL_S, max(0.0, deadline - time.monotonic())))
    click.echo(render(results), nl=False)
    return ExitStatus.OK if all(r.ok for r in results) else ExitStatus.CHECK_FAILED


def fetch(settings: KubeSettings, namespace: str) -> Facts:
    try:
        kube = Kube(settings)
        try:
            return gather(kube, namespace)
        finally:
            kube.close()
    except NoClusterError as exc:
        raise CliError(str(exc), ExitStatus.UNAVAILABLE) from exc


def render(results: list[CheckResult]) -> str:
    lines: list[str] = []
    for result in results:
        mark = "✔" if result.ok else "×"
        detail = f" ({result.detail})" if result.detail else ""
        lines.append(f"{mark} {result.name}{detail}")
        if not result.ok and result.hint:
            lines.append(f"    hint: {result.hint}")
    passed = sum(r.ok for r in results)
    lines.append(
        f"Status check results are {'✔' if passed == len(results) else '×'} "
        f"({passed}/{len(results)} passed)"
    )
    return "\n".join(lines) + "\n"
