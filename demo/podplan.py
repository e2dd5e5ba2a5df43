"""What `meshctl demo --netns` starts: each service and its transparent sidecar in its own pod."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from meshpipe.demo.config import split
from meshpipe.demo.netns import Pod, PodNetwork, Redirect, in_netns
from meshpipe.demo.plan import (
    HOST,
    NAMESPACE,
    PlanError,
    PlanSettings,
    Service,
    base_env,
    command,
    services,
    worker,
)
from meshpipe.deploy.dev.procs import ProcessSpec

# Every pod has its own network stack, so every pod uses the same ports, as in Kubernetes.
APP_PORT = 8080
INBOUND_PORT = 4143
OUTBOUND_PORT = 4140
ADMIN_PORT = 4191
PROXY_UID = 2102  # the sidecars' (and Kafka relays') uid: their traffic skips the redirect
APP_UID = 65534  # the apps run as nobody
FORWARD_OFFSET = 92  # the host's Kafka relay listens on the bridge at port base + this


def service_names(base: int) -> list[str]:
    return [s.name for s in services(base)]


def forward_port(base: int) -> int:
    return base + FORWARD_OFFSET


def kafka_address(bootstrap: str) -> tuple[str, int]:
    """The one loopback broker the relays carry; PlanError for anything else."""
    if "," in bootstrap:
        raise PlanError(f"--netns relays one Kafka broker, not {bootstrap!r}")
    host, port = split(bootstrap)
    if host not in ("127.0.0.1", "localhost"):
        raise PlanError(f"--netns relays a broker on 127.0.0.1 only, not {bootstrap!r}")
    return "127.0.0.1", port


def redirect(service: Service) -> Redirect:
    inbound = None if service.ports.app is None else INBOUND_PORT
    return Redirect(PROXY_UID, OUTBOUND_PORT, inbound, skip_inbound_ports=(ADMIN_PORT,))


def redirects(base: int) -> dict[str, Redirect]:
    return {s.name: redirect(s) for s in services(base)}


def _python(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module, *args)


def host_forward(
    settings: PlanSettings, network: PodNetwork, env: Mapping[str, str]
) -> ProcessSpec:
    """On the host: from the pods' gateway address to the broker on the host's loopback."""
    kafka_host, kafka_port = kafka_address(settings.kafka)
    listen = (network.gateway, forward_port(settings.port_base))
    argv = ["setpriv", f"--reuid={APP_UID}", f"--regid={APP_UID}", "--clear-groups", "--"]
    argv += _python(
        "meshpipe.demo.forward", f"{listen[0]}:{listen[1]}", f"{kafka_host}:{kafka_port}"
    )
    argv += ["--allow", network.subnet]
    return ProcessSpec("kafka-forward", tuple(argv), env, (listen,), stop_last=True)


def pod_forward(
    pod: Pod, settings: PlanSettings, network: PodNetwork, env: Mapping[str, str]
) -> ProcessSpec:
    """In a pod: the broker's own address (as Kafka advertises it) to the host's relay."""
    kafka_host, kafka_port = kafka_address(settings.kafka)
    target = f"{network.gateway}:{forward_port(settings.port_base)}"
    argv = in_netns(pod.netns, PROXY_UID) + list(
        _python("meshpipe.demo.forward", f"{kafka_host}:{kafka_port}", target)
    )
    ready = ((kafka_host, kafka_port),)
    name = f"{pod.name}-kafka-forward"
    return ProcessSpec(name, tuple(argv), env, ready, netns=pod.netns, stop_last=True)


def pod_sidecar(
    service: Service, pod: Pod, settings: PlanSettings, env: Mapping[str, str]
) -> ProcessSpec:
    argv = [*in_netns(pod.netns, PROXY_UID), command("meshproxy"), "--transparent"]
    argv += ["--workload", f"{NAMESPACE}/deployment/{service.name}", "--pod", f"{service.name}-0"]
    ready = [(HOST, OUTBOUND_PORT), (pod.ip, ADMIN_PORT)]
    if service.ports.app is not None:
        argv += ["--inbound", f"{pod.ip}:{INBOUND_PORT}={HOST}:{APP_PORT}"]
        ready.append((pod.ip, INBOUND_PORT))
    argv += ["--outbound", f"{HOST}:{OUTBOUND_PORT}", "--admin", f"{pod.ip}:{ADMIN_PORT}"]
    argv += ["--kafka", settings.kafka]
    return ProcessSpec(f"{service.name}-proxy", tuple(argv), env, tuple(ready), netns=pod.netns)


def pod_app(
    service: Service,
    pods: Mapping[str, Pod],
    settings: PlanSettings,
    env: Mapping[str, str],
) -> ProcessSpec:
    """The app knows nothing of the mesh: no proxy variables, peers at their pod IP and port."""
    pod = pods[service.name]
    app_env = dict(env)
    for variable, peer in service.peers.items():
        app_env[variable] = f"{pods[peer].ip}:{APP_PORT}"
    ready: tuple[tuple[str, int], ...] = ()
    if service.ports.app is not None:
        app_env["LISTEN_ADDR"] = f"{HOST}:{APP_PORT}"
        ready = ((HOST, APP_PORT),)
    else:
        app_env["VOTE_RATE_RPS"] = str(settings.rate_rps)
    argv = in_netns(pod.netns, APP_UID) + list(_python(service.module))
    return ProcessSpec(service.name, tuple(argv), app_env, ready, netns=pod.netns)


def pod_processes(
    settings: PlanSettings,
    network: PodNetwork,
    pods: Sequence[Pod],
    env: Mapping[str, str],
) -> list[ProcessSpec]:
    """Start order: worker and host relay, then per pod its relay, sidecar, app (bot last)."""
    clean = base_env(env)
    by_name = {p.name: p for p in pods}
    table = services(settings.port_base)
    relays = [pod_forward(by_name[s.name], settings, network, clean) for s in table]
    sidecars = [pod_sidecar(s, by_name[s.name], settings, clean) for s in table]
    apps = [pod_app(s, by_name, settings, clean) for s in table]
    host = [worker(settings, clean), host_forward(settings, network, clean)]
    return [*host, *relays, *sidecars, *apps]


def web_url(pods: Sequence[Pod]) -> str:
    web = next(p for p in pods if p.name == "web")
    return f"http://{web.ip}:{APP_PORT}/"
