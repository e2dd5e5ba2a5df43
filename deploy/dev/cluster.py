"""Brings a single-node Kubernetes cluster up inside a network namespace, reports it, and takes
it down, restoring every host change it made."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev import clusterconf as conf
from meshpipe.deploy.dev.hoststate import (
    HostSnapshot,
    cgroup_procs,
    kubepods_cgroups,
    restore,
    take_snapshot,
)
from meshpipe.deploy.dev.kubebuild import ensure_coredns, ensure_kubernetes
from meshpipe.deploy.dev.nodeimages import PAUSE_CMD, ImageSpec, read_archive, write_archive
from meshpipe.deploy.dev.nodestore import (
    VOLUME_LABEL,
    empty_dir,
    released,
    volumes_manifest,
)
from meshpipe.deploy.dev.nsforward import connects_in
from meshpipe.deploy.dev.pki import ensure_pki, identities
from meshpipe.deploy.dev.procs import Daemon, DevStackError, port_open, signal_group, wait_until
from meshpipe.deploy.dev.stack import ComponentStatus

Say = Callable[[str], None]
COMMAND_TIMEOUT_S = 60.0
_FREE_CLAIM = '[{"op": "remove", "path": "/spec/claimRef"}]'
IMPORT_TIMEOUT_S = 600.0  # one image of a few hundred MB into containerd, on a busy machine
# Debian package of each tool the node runs.
TOOLS = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "openssl": "openssl",
}
FILES = {"/usr/lib/cni/bridge": "containernetworking-plugins", "/bin/busybox": "busybox-static"}


@dataclass(frozen=True)
class Component:
    """One node process: how to start it and where it answers once started."""

    name: str
    argv: tuple[str, ...]
    ready: tuple[str, int] | None  # (host, port) inside the node's namespace
    in_node: bool = True  # run inside the node's network namespace


class Cluster:
    """The local cluster as one thing: idempotent up, status, down."""

    def __init__(self, settings: conf.ClusterSettings) -> None:
        self.s = settings

    # --- pieces -----------------------------------------------------------------------------

    def daemon(self, name: str) -> Daemon:
        return Daemon(name, self.s.run / f"{name}.pid", self.s.logs / f"{name}.log")

    def components(self) -> list[Component]:
        s, pki, bins = self.s, self.s.pki, self.s.build.bin_dir
        d = s.dir
        etcd = (
            "etcd", "--name", "node", "--data-dir", str(d / "etcd"),
            "--listen-client-urls", "http://127.0.0.1:2379",
            "--advertise-client-urls", "http://127.0.0.1:2379",
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "node=http://127.0.0.1:2380",
        )  # fmt: skip
        apiserver = (
            str(bins / "kube-apiserver"), "--etcd-servers=http://127.0.0.1:2379",
            "--bind-address=0.0.0.0", "--secure-port=6443", f"--advertise-address={s.node_ip}",
            f"--service-cluster-ip-range={s.service_cidr}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
            "--kubelet-preferred-address-types=InternalIP",
            f"--cert-dir={d / 'apiserver'}",
        )  # fmt: skip
        cm_kc = str(d / "controller-manager.kubeconfig")
        controller_manager = (
            str(bins / "kube-controller-manager"), f"--kubeconfig={cm_kc}",
            f"--authentication-kubeconfig={cm_kc}", f"--authorization-kubeconfig={cm_kc}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true", "--leader-elect=false",
            "--bind-address=127.0.0.1", f"--cert-dir={d / 'controller-manager'}",
        )  # fmt: skip
        sched_kc = str(d / "scheduler.kubeconfig")
        scheduler = (
            str(bins / "kube-scheduler"), f"--kubeconfig={sched_kc}",
            f"--authentication-kubeconfig={sched_kc}", f"--authorization-kubeconfig={sched_kc}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--cert-dir={d / 'scheduler'}",
        )  # fmt: skip
        kubelet = (
            str(bins / "kubelet"), f"--config={d / 'kubelet.yaml'}",
            f"--kubeconfig={d / 'kubelet.kubeconfig'}", f"--root-dir={d / 'kubelet'}",
            f"--node-ip={s.node_ip}", f"--hostname-override={s.node_name}",
        )  # fmt: skip
        comps = [
            Component("etcd", etcd, ("127.0.0.1", 2379)),
            Component("kube-apiserver", apiserver, (s.node_ip, 6443)),
            Component("api-forward", self._forward_argv(), None, in_node=False),
            Component("kube-controller-manager", controller_manager, ("127.0.0.1", 10257)),
            Component("kube-scheduler", scheduler, ("127.0.0.1", 10259)),
            Component("containerd", ("containerd", "--config", str(d / "containerd.toml")), None),
            Component("kubelet", kubelet, ("127.0.0.1", 10248)),
            Component(
                "kube-proxy",
                (str(bins / "kube-proxy"), f"--config={d / 'kube-proxy.yaml'}"),
                ("127.0.0.1", 10256),
            ),
        ]
        if s.build.coredns.exists():
            coredns = (str(s.build.coredns), "-conf", str(d / "Corefile"))
            comps.append(Component("coredns", coredns, (s.dns_ip, 53)))
        return comps

    def _forward_argv(self) -> tuple[str, ...]:

        target = f"{self.s.node_ip}:6443"
        module = "meshpipe.deploy.dev.nsforward"
        return (sys.executable, "-m", module, str(self.s.api_port), self.s.netns, target)

    def kubectl(self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S) -> str:
        """Run the built kubectl against this cluster; its stdout (DevStackError on failure)."""
        argv = [str(self.s.build.binary("kubectl")), f"--kubeconfig={self.s.kubeconfig}", *args]
        done = _run(argv, timeout_s)
        if done.returncode != 0:
            raise DevStackError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    # --- up ---------------------------------------------------------------------------------

    def check_host(self) -> None:
        """One line for the first thing that keeps `up` from working here."""
        if os.geteuid() != 0:
            raise DevStackError(
                "`meshctl dev cluster up` needs root (network namespaces, cgroups, mounts)"
            )
        missing = sorted(
            {pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None}
            | {pkg for path, pkg in FILES.items() if not Path(path).exists()}
        )
        if missing:
            raise DevStackError(
                f"missing Debian packages: {' '.join(missing)} (`make system` as root)"
            )
        if not self._netns_exists():
            for cidr in (self.s.node_cidr, self.s.pod_cidr, self.s.service_cidr):
                taken = _run(["ip", "-4", "route", "show", "to", "match", cidr], 10).stdout
                taken = "\n".join(x for x in taken.splitlines() if not x.startswith("default"))
                if taken.strip():
                    raise DevStackError(
                        f"network range {cidr} is taken on this host: {taken.split()[0]}"
                    )
        forward = self.daemon("api-forward")
        if forward.pid() is None and port_open("127.0.0.1", self.s.api_port):
            raise DevStackError(
                f"port 127.0.0.1:{self.s.api_port} is taken by another process "
                "(set MESHPIPE_CLUSTER_API_PORT)"
            )

    def up(self, say: Say) -> list[str]:
        """Build what is not cached, start what is not running; the names of those started."""
        started_at = time.monotonic()
        self.check_host()
        ensure_kubernetes(self.s.build, say)
        ensure_coredns(self.s.build, say)  # the demo's apps call Services by name
        self.s.dir.mkdir(parents=True, exist_ok=True)
        if not self.s.snapshot_file.exists():
            # Before any change, and never overwritten: `down` restores exactly this.
            self.s.snapshot_file.write_text(take_snapshot(self.s.dir).to_json())
        self._make_netns()
        self._write_files()
        started = []
        for comp in self.components():
            if self._start(comp):
                started.append(comp.name)
                say(f"{comp.name:<24} started (log {self.daemon(comp.name).log_file})")
            if comp.name == "api-forward":
                self._wait_api()
            if comp.name == "containerd":
                self._import_images(say)
        self._wait_node_ready()
        self._volumes()
        self.load_images(sorted(self.s.images_dir.glob("*.tar")), say)
        took = time.monotonic() - started_at
        what = f"started {', '.join(started)}" if started else "all were running"
        say(f"cluster     ready in {took:.0f}s ({what})")
        say(f"KUBECONFIG={self.s.kubeconfig}")
        return started

    def _netns_exists(self) -> bool:
        return (Path("/run/netns") / self.s.netns).exists()

    def _make_netns(self) -> None:
        if self._netns_exists():
            return
        ns, link = self.s.netns, "mpnode0"
        prefix = ipaddress.ip_network(self.s.node_cidr).prefixlen
        inside = ("ip", "netns", "exec", ns)
        for argv in (
            ("ip", "netns", "add", ns),
            (*inside, "ip", "link", "set", "lo", "up"),
            # A veth pair with both ends inside (no dummy driver on these kernels).
            (*inside, "ip", "link", "add", link, "type", "veth", "peer", "name", "mpnode1"),
            (*inside, "ip", "addr", "add", f"{self.s.node_ip}/{prefix}", "dev", link),
            (*inside, "ip", "link", "set", "mpnode1", "up"),
            (*inside, "ip", "link", "set", link, "up"),
            # Components want a default route; this one leads nowhere but the namespace's own veth.
            (*inside, "ip", "route", "add", "default", "dev", link),
        ):
            done = _run(list(argv), 30)
            if done.returncode != 0:
                raise DevStackError(f"`{' '.join(argv)}` failed: {done.stderr.strip()}")

    def _write_files(self) -> None:
        s = self.s
        for sub in ("run", "logs", "cni", "cni-ipam", "pod-logs", "kubelet"):
            (s.dir / sub).mkdir(parents=True, exist_ok=True)
        ensure_pki(s.pki, identities(s.node_name, s.node_ip, s.service_ip))
        inside = f"https://{s.node_ip}:6443"
        files = {
            "kubeconfig": conf.kubeconfig(s, "admin", f"https://127.0.0.1:{s.api_port}"),
            "controller-manager.kubeconfig": conf.kubeconfig(s, "controller-manager", inside),
            "scheduler.kubeconfig": conf.kubeconfig(s, "scheduler", inside),
            "kubelet.kubeconfig": conf.kubeconfig(s, "kubelet", inside),
            "kube-proxy.kubeconfig": conf.kubeconfig(s, "kube-proxy", inside),
            "coredns.kubeconfig": conf.kubeconfig(s, "coredns", inside),
            "containerd.toml": conf.containerd_config(s),
            "cni/10-meshpipe.conflist": conf.cni_config(s),
            "kubelet.yaml": conf.kubelet_config(s),
            "kube-proxy.yaml": conf.kube_proxy_config(s),
            "Corefile": conf.corefile(s),
            "resolv.conf": f"nameserver {s.dns_ip}\n",
        }
        for name, text in files.items():
            path = s.dir / name
            # Unchanged files stay untouched: kube-proxy exits when its config file is written.
            if not path.exists() or path.read_text() != text:
                path.write_text(text)

    def _start(self, comp: Component) -> bool:
        daemon = self.daemon(comp.name)
        if daemon.pid() is not None:
            return False
        argv = comp.argv
        if comp.in_node:
            argv = ("nsenter", f"--net=/run/netns/{self.s.netns}", "--", *argv)
        env = {**os.environ, "PATH": f"{self.s.build.bin_dir}:{os.environ.get('PATH', '')}"}
        daemon.start(argv, env=env, cwd=self.s.dir)
        ready = self._ready_check(comp)
        wait_until(
            ready,
            timeout_s=self.s.start_timeout_s,
            alive=lambda: daemon.pid() is not None,
            what=comp.name,
            log_file=daemon.log_file,
        )
        return True

    def _ready_check(self, comp: Component) -> Callable[[], bool]:
        if comp.name == "containerd":
            return self.s.containerd_socket.exists
        if comp.name == "api-forward":
            return lambda: port_open("127.0.0.1", self.s.api_port)
        if comp.ready is None:
            return lambda: True
        host, port = comp.ready
        return lambda: connects_in(self.s.netns, host, port)

    def _api_ready(self) -> bool:
        pki = self.s.pki
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        url = f"https://127.0.0.1:{self.s.api_port}/readyz"
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _wait_api(self) -> None:
        api = self.daemon("kube-apiserver")
        wait_until(
            self._api_ready,
            timeout_s=self.s.start_timeout_s,
            alive=lambda: api.pid() is not None,
            what="kube-apiserver /readyz",
            log_file=api.log_file,
        )

    def _ctr(
        self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        argv = ["ctr", "--address", str(self.s.containerd_socket), "-n", "k8s.io", *args]
        return _run(argv, timeout_s)

    def _import_images(self, say: Say) -> None:
        present = self._ctr("images", "ls", "-q").stdout.split()
        for spec in (
            ImageSpec(conf.PAUSE_IMAGE, PAUSE_CMD),
            ImageSpec(conf.BUSYBOX_IMAGE, ("sh",)),
        ):
            if spec.name in present:
                continue
            archive = write_archive(spec, self.s.dir / "images" / f"{spec.name.split('/')[-1]}.tar")
            done = self._ctr("images", "import", "--no-unpack=false", str(archive))
            if done.returncode != 0:
                raise DevStackError(f"importing {spec.name} failed: {done.stderr.strip()}")
            say(f"image       {spec.name} imported")

    def load_images(self, archives: Sequence[Path], say: Say) -> list[str]:
        """Import docker-archives (build/images/*.tar) into the node's containerd unless the
        same image (by id) is already there under each of its tags; the tags imported."""
        if not self.s.containerd_socket.exists():
            raise DevStackError("the cluster's containerd is not running (meshctl dev cluster up)")
        listed = self._ctr("images", "ls").stdout.splitlines()[1:]
        digests = {row.split()[0]: row.split()[2] for row in listed if len(row.split()) > 2}
        imported: list[str] = []
        for archive in archives:
            try:
                image = read_archive(archive)
            except ValueError as exc:
                raise DevStackError(str(exc)) from exc
            have = digests.get(image.image_id)
            if have is not None and all(digests.get(tag) == have for tag in image.tags):
                say(f"image       {', '.join(image.tags)} already loaded")
                continue
            done = self._ctr(
                "images", "import", "--no-unpack=false", str(archive), timeout_s=IMPORT_TIMEOUT_S
            )
            if done.returncode != 0:
                raise DevStackError(f"importing {archive} failed: {done.stderr.strip()}")
            say(f"image       {', '.join(image.tags)} imported ({image.image_id[:19]})")
            imported.extend(image.tags)
        return imported

    def _volumes(self) -> None:
        """hostPath PersistentVolumes for the claims of StatefulSets (no provisioner here)."""
        manifest = self.s.dir / "volumes.json"
        manifest.write_text(volumes_manifest(self.s.dir / "volumes"))
        self.kubectl("apply", "-f", str(manifest))
        listing = json.loads(self.kubectl("get", "pv", "-l", VOLUME_LABEL, "-o", "json"))
        for name, path in released(listing):  # a deleted install's: emptied, bound again
            empty_dir(path)
            self.kubectl(
                "patch", "pv", name, "--type=json", '-p=[{"op":"remove","path":"/spec/claimRef"}]'
            )

    def _wait_node_ready(self) -> None:
        kubelet = self.daemon("kubelet")
        jsonpath = '{.status.conditions[?(@.type=="Ready")].status}'

        def ready() -> bool:
            with contextlib.suppress(DevStackError):
                got = self.kubectl("get", "node", self.s.node_name, "-o", f"jsonpath={jsonpath}")
                return got.strip() == "True"
            return False

        wait_until(
            ready,
            timeout_s=self.s.start_timeout_s,
            alive=lambda: kubelet.pid() is not None,
            what=f"node {self.s.node_name} Ready",
            log_file=kubelet.log_file,
        )

    # --- status -----------------------------------------------------------------------------

    def status(self) -> list[ComponentStatus]:
        rows = []
        for comp in self.components():
            daemon = self.daemon(comp.name)
            pid = daemon.pid()
            ready = pid is not None and self._ready_check(comp)()
            if comp.name == "kube-apiserver" and ready:
                ready = self._api_ready()
            detail = "not running" if pid is None else (
                f"{'ready' if ready else 'not ready'} (pid {pid}, log {daemon.log_file})"
            )  # fmt: skip
            rows.append(ComponentStatus(comp.name, ready, detail))
        return rows

    # --- down -------------------------------------------------------------------------------

    def down(self, say: Say) -> list[str]:
        """Stop everything, remove the node and its files, restore the host; names stopped."""
        if os.geteuid() != 0 and self.s.snapshot_file.exists():
            raise DevStackError("`meshctl dev cluster down` needs root to restore the host")
        stopped = [c.name for c in self.components()[::-1] if self._stop_one(c.name)]
        self._kill_containers()
        with contextlib.suppress(OSError):
            if self._netns_exists():
                _run(["ip", "netns", "del", self.s.netns], 30)
        problems = []
        if self.s.snapshot_file.exists():
            before = HostSnapshot.from_json(self.s.snapshot_file.read_text())
            problems = restore(before, self.s.dir)
        if not problems:
            shutil.rmtree(self.s.dir, ignore_errors=True)
        for line in problems:
            say(f"not restored: {line}")
        if problems:
            raise DevStackError(f"{len(problems)} host changes could not be undone (see above)")
        return stopped

    def _stop_one(self, name: str) -> bool:
        if name == "containerd":
            self._kill_containers()
        return self.daemon(name).stop(timeout_s=15.0)

    def _our_kubepods(self) -> list[str]:
        """The kubepods cgroups our kubelet made (none there before `up`)."""
        if not self.s.snapshot_file.exists():
            return []
        before = HostSnapshot.from_json(self.s.snapshot_file.read_text())
        return sorted(set(kubepods_cgroups()) - set(before.cgroups))

    def _kill_containers(self) -> None:
        """SIGKILL every container process (our kubepods cgroups) and our containerd's shims."""
        for cgroup in self._our_kubepods():
            for pid in cgroup_procs(Path(cgroup)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        needle = f"{self.s.containerd_socket}".encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes()
                if b"containerd-shim" in cmdline and needle in cmdline:
                    signal_group(int(proc.name), signal.SIGKILL)
        time.sleep(0.5)  # let the kernel reap them before cgroups are removed


def _run(argv: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - tools and arguments built here
            argv, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))
