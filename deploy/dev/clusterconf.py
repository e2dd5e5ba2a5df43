"""The local cluster's settings and the configuration files its components read."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.deploy.dev.kafka import default_data_dir
from meshpipe.deploy.dev.kubebuild import KubeBuild

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # the name the CRI asks for; built locally
BUSYBOX_IMAGE = "meshpipe.local/busybox:1.35"
# Where `make images` leaves the project's docker-archives; `up` imports what is there.
IMAGES_DIR = Path(__file__).resolve().parents[2] / "build" / "images"


@dataclass(frozen=True)
class ClusterSettings:
    """Names, addresses (all inside the node's network namespace) and directories."""

    dir: Path = field(default_factory=lambda: default_data_dir() / "cluster")
    build: KubeBuild = field(default_factory=KubeBuild)
    netns: str = "meshpipe-node"
    node_name: str = "meshpipe-node"
    node_cidr: str = "10.254.78.0/24"  # the node's address (.2) on a veth inside its netns
    pod_cidr: str = "10.254.79.0/24"  # the CNI bridge (.1) and the pods
    service_cidr: str = "10.254.76.0/24"
    api_port: int = 16443  # on the host's loopback, forwarded into the node's namespace
    start_timeout_s: float = 120.0
    images_dir: Path = IMAGES_DIR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClusterSettings:
        env = os.environ if env is None else env
        base = Path(env.get("MESHPIPE_DEV_DIR") or default_data_dir())
        cache = env.get("MESHPIPE_CACHE_DIR")
        build = KubeBuild(go=env.get("MESHPIPE_GO") or "go")
        if cache:
            build = KubeBuild(cache_dir=Path(cache), go=build.go)
        port = env.get("MESHPIPE_CLUSTER_API_PORT")
        return cls(dir=base / "cluster", build=build, api_port=int(port) if port else 16443)

    @property
    def node_ip(self) -> str:
        return str(ipaddress.ip_network(self.node_cidr)[2])

    @property
    def service_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def dns_ip(self) -> str:
        return self.node_ip  # CoreDNS runs as a node process, not a pod

    @property
    def pki(self) -> Path:
        return self.dir / "pki"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def run(self) -> Path:
        return self.dir / "run"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def snapshot_file(self) -> Path:
        return self.dir / "host-before.json"


def kubeconfig(s: ClusterSettings, user: str, server: str) -> str:
    """A kubeconfig for one client certificate of the cluster's PKI."""
    pki = s.pki
    return f"""apiVersion: v1
kind: Config
clusters:
- name: meshpipe-dev
  cluster:
    certificate-authority: {pki / "ca.crt"}
    server: {server}
users:
- name: {user}
  user:
    client-certificate: {pki / f"{user}.crt"}
    client-key: {pki / f"{user}.key"}
contexts:
- name: meshpipe-dev
  context: {{cluster: meshpipe-dev, user: {user}}}
current-context: meshpipe-dev
"""


def containerd_config(s: ClusterSettings) -> str:
    d = s.dir / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{d / "root"}"
state = "{d / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{s.containerd_socket}"
[ttrpc]
  address = "{s.run / "containerd.ttrpc.sock"}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / "opt"}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # These VMs withhold CAP_SYS_RESOURCE: runc cannot lower oom_score_adj otherwise.
  restrict_oom_score_adj = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{d / "runc"}"
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{s.dir / "cni"}"
"""


def cni_config(s: ClusterSettings) -> str:
    gateway = str(ipaddress.ip_network(s.pod_cidr)[1])
    conf = {
        "cniVersion": "1.0.0",
        "name": "meshpipe-dev",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "mpcni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(s.dir / "cni-ipam"),
                    "ranges": [[{"subnet": s.pod_cidr, "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    return json.dumps(conf, indent=1)


def kubelet_config(s: ClusterSettings) -> str:
    pki = s.pki
    return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {pki / "ca.crt"}}}
authorization: {{mode: Webhook}}
address: {s.node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{s.containerd_socket}
clusterDomain: cluster.local
clusterDNS: [{s.dns_ip}]
resolvConf: {s.dir / "resolv.conf"}
podLogsDirectory: {s.dir / "pod-logs"}
evictionHard: {{memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%,
  nodefs.inodesFree: 1%}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
"""


def kube_proxy_config(s: ClusterSettings) -> str:
    return f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {s.dir / "kube-proxy.kubeconfig"}}}
mode: iptables
clusterCIDR: {s.pod_cidr}
bindAddress: {s.node_ip}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the host's conntrack limits and timeouts as they are.
conntrack: {{maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
# Pods share one bridge: without br_netfilter a reply would skip the service's un-DNAT.
iptables: {{masqueradeAll: true}}
"""


def corefile(s: ClusterSettings) -> str:
    return f""".:53 {{
    bind {s.dns_ip}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {s.dir / "coredns.kubeconfig"} meshpipe-dev
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
}}
"""
