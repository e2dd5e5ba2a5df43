"""Network-namespace "pods" on one host bridge, with linkerd-init-style iptables REDIRECT rules."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from meshpipe.deploy.dev.nsforward import enter_netns

# Used only inside the namespaces and on the bridge this module creates; pods get no default
# route, so their traffic can reach only each other and the bridge address.
DEFAULT_SUBNET = "10.254.77.0/24"
FIRST_POD_HOST = 10  # pods get .10, .11, ...; the bridge (the pods' gateway) gets .1
TOOLS = ("ip", "iptables", "setpriv")
COMMAND_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 0.5
# What ip says when the thing to delete does not exist (an interrupt came before its creation).
ALREADY_GONE = ("Cannot find device", "No such file or directory")


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be used here (not root, or a tool is missing)."""


class NetnsError(RuntimeError):
    """An ip or iptables command failed; the message has the command and its stderr."""


def require_netns(
    euid: int | None = None, which: Callable[[str], str | None] = shutil.which
) -> None:
    """NetnsUnavailable with one line saying what is missing."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise NetnsUnavailable("--netns needs root (network namespaces and iptables); use sudo")
    missing = [tool for tool in TOOLS if which(tool) is None]
    if missing:
        raise NetnsUnavailable(f"--netns needs {', '.join(missing)} on PATH (iproute2, iptables)")


@dataclass(frozen=True)
class Pod:
    name: str  # the service, e.g. web
    netns: str  # the namespace's name under /run/netns
    ip: str  # the pod's address on the bridge
    host_veth: str  # the veth end attached to the bridge
    pod_veth: str  # the veth end inside the namespace


@dataclass(frozen=True)
class PodNetwork:
    """Names and addresses of one run's pods: a tag keeps concurrent runs apart."""

    tag: str  # a few hex digits; interface names stay under 16 characters
    subnet: str = DEFAULT_SUBNET

    @property
    def bridge(self) -> str:
        return f"mpd{self.tag}br"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def pods(self, names: Sequence[str]) -> tuple[Pod, ...]:
        net = ipaddress.ip_network(self.subnet)
        return tuple(
            Pod(
                name,
                f"mpdemo-{self.tag}-{name}",
                str(net[FIRST_POD_HOST + i]),
                f"mpd{self.tag}h{i}",
                f"mpd{self.tag}p{i}",
            )
            for i, name in enumerate(names)
        )


@dataclass(frozen=True)
class Redirect:
    """A pod's iptables (nat) rules, as linkerd-init writes them."""

    proxy_uid: int  # the sidecar's own connections are never redirected
    outbound_port: int  # where the app's outgoing TCP goes
    inbound_port: int | None  # where incoming TCP goes; None: nothing listens (e.g. a bot)
    skip_inbound_ports: tuple[int, ...] = ()  # reach the pod directly, e.g. the admin port


def redirect_rules(r: Redirect) -> list[list[str]]:
    """iptables arguments, in order, for a pod's nat table."""
    own = ["-m", "owner", "--uid-owner", str(r.proxy_uid)]
    rules = [
        ["-A", "OUTPUT", "-p", "tcp", *own, "-j", "RETURN"],
        ["-A", "OUTPUT", "-p", "tcp", "-d", "127.0.0.0/8", "-j", "RETURN"],
        ["-A", "OUTPUT", "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(r.outbound_port)],
    ]  # fmt: skip
    if r.inbound_port is not None:
        rules += [
            ["-A", "PREROUTING", "-p", "tcp", "--dport", str(port), "-j", "RETURN"]
            for port in r.skip_inbound_ports
        ]
        rules.append(
            ["-A", "PREROUTING", "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(r.inbound_port)]
        )
    return [["-t", "nat", *rule] for rule in rules]


def in_netns(netns: str, uid: int | None = None, gid: int | None = None) -> list[str]:
    """The argv prefix that runs a command in netns, as uid:gid when given."""
    prefix = ["ip", "netns", "exec", netns]
    if uid is not None:
        group = uid if gid is None else gid
        prefix += ["setpriv", f"--reuid={uid}", f"--regid={group}", "--clear-groups", "--"]
    return prefix


def run_ip(*argv: str) -> None:
    """Run one ip/iptables command; NetnsError with its stderr when it fails."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed tools, arguments built here
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"`{' '.join(argv)}` failed: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")


def subnet_in_use(subnet: str) -> str:
    """The host addresses already in subnet, as `ip` prints them ('' when none)."""
    done = subprocess.run(  # noqa: S603 - fixed arguments
        ["ip", "-4", "-o", "addr", "show", "to", subnet],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return " ".join(line.split()[1] for line in done.stdout.splitlines() if line.strip())


class PodNetworkSetup:
    """Creates a run's bridge, namespaces, veths and rules, remembering how to undo each."""

    def __init__(
        self,
        network: PodNetwork,
        run: Callable[..., None] = run_ip,
        in_use: Callable[[str], str] = subnet_in_use,
    ) -> None:
        self.network = network
        self._run = run
        self._in_use = in_use
        self._undo: list[tuple[str, ...]] = []

    def create(self, pods: Sequence[Pod], redirects: dict[str, Redirect]) -> None:
        n = self.network
        used = self._in_use(n.subnet)
        if used:
            # Another run (or anything else) there would make the routes ambiguous.
            raise NetnsError(
                f"{n.subnet} is in use here ({used}): another `meshctl demo --netns` running? "
                "If not, a killed one left it: `ip link del` it and `ip netns del` its mpdemo-*"
            )
        self._do(("ip", "link", "add", n.bridge, "type", "bridge"), ("ip", "link", "del", n.bridge))
        self._run("ip", "addr", "add", f"{n.gateway}/{n.prefix_len}", "dev", n.bridge)
        self._run("ip", "link", "set", n.bridge, "up")
        for pod in pods:
            self._create_pod(pod, redirects.get(pod.name))

    def _create_pod(self, pod: Pod, redirect: Redirect | None) -> None:
        self._do(("ip", "netns", "add", pod.netns), ("ip", "netns", "del", pod.netns))
        add_veth: tuple[str, ...] = (
            "ip",
            "link",
            "add",
            pod.host_veth,
            "type",
            "veth",
            "peer",
            "name",
        )
        add_veth = (*add_veth, pod.pod_veth, "netns", pod.netns)
        # Deleting either end deletes the pair, even while a straggler keeps the namespace.
        self._do(add_veth, ("ip", "link", "del", pod.host_veth))
        self._run("ip", "link", "set", pod.host_veth, "master", self.network.bridge, "up")
        inside = in_netns(pod.netns)
        self._run(*inside, "ip", "link", "set", "lo", "up")
        cidr = f"{pod.ip}/{self.network.prefix_len}"
        self._run(*inside, "ip", "addr", "add", cidr, "dev", pod.pod_veth)
        self._run(*inside, "ip", "link", "set", pod.pod_veth, "up")
        for rule in redirect_rules(redirect) if redirect else []:
            self._run(*inside, "iptables", *rule)

    def _do(self, argv: tuple[str, ...], undo: tuple[str, ...]) -> None:
        # Undo is noted first: an interrupt right after the command must not lose it.
        self._undo.append(undo)
        try:
            self._run(*argv)
        except NetnsError:
            self._undo.pop()
            raise

    def destroy(self) -> list[str]:
        """Undo everything created, last first; the errors (an empty list when all went)."""
        errors = []
        while self._undo:
            argv = self._undo.pop()
            try:
                self._run(*argv)
            except NetnsError as exc:
                if not any(gone in str(exc) for gone in ALREADY_GONE):
                    errors.append(str(exc))
        return errors


def connects(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    with socket.socket() as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


def connects_in(netns: str | None, host: str, port: int) -> bool:
    """Whether host:port accepts a TCP connection, seen from inside netns (None: this host)."""
    if netns is None:
        return connects(host, port)
    result: list[bool] = []

    def probe() -> None:
        # A fresh thread each time: it ends inside the namespace and takes that with it.
        with contextlib.suppress(OSError):
            enter_netns(netns)
            result.append(connects(host, port))

    thread = threading.Thread(target=probe, name=f"probe-{netns}", daemon=True)
    thread.start()
    thread.join()
    return bool(result and result[0])
