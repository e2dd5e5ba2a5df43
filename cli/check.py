"""`meshctl check`: is the control plane healthy and are the proxies where they should be?"""

from __future__ import annotations

from dataclasses import dataclass

import click

from meshpipe.deploy.kafka.topics import load_spec
from meshpipe.deploy.mesh.checks import CheckResult, evaluate
from meshpipe.deploy.mesh.cluster import Facts, Kube, KubeSettings, NoClusterError, gather
from meshpipe.schemas.exits import CliError, ExitStatus


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
def check(namespace: str, kubeconfig: str | None, context: str | None) -> ExitStatus:
    """Check the cluster: API, control-plane pods, Kafka, topics, ClickHouse, schema, proxies.

    One line per check; exit 0 only when every check passes (3 otherwise).
    """
    options = CheckOptions(namespace, kubeconfig, context)
    facts = fetch(options.validate(), options.namespace)
    results = evaluate(facts, options.namespace, (t.name for t in load_spec().resolved()))
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
