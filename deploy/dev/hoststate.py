"""Records the host state a local Kubernetes node changes, and puts it back exactly.

The node runs in a network namespace of its own, so most of what the kubelet, kube-proxy and
the CNI plugins change stays there; what is global (a few sysctls, cgroups, mounts, directories
at hard-coded paths) is recorded before the first `up` and restored by `down`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

# Global sysctls the kubelet sets (and ip_forward, in case a plugin runs in the host's netns).
SYSCTLS = (
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.netfilter.nf_conntrack_max",
)
# Paths the kubelet, containerd and CNI use whatever their configuration says.
HARD_CODED = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/containerd",
    "/etc/cni",
    "/opt/cni",
    "/etc/kubernetes",
)
MOUNT_PREFIXES = ("/var/lib/kubelet", "/run/containerd", "/run/netns/cni-", "/var/run/netns/cni-")
TABLES = ("filter", "nat", "mangle")
OURS = re.compile(r"KUBE-|CNI-")
CGROUP_ROOTS = Path("/sys/fs/cgroup")
CGROUP_NAME = "kubepods"
COMMAND_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HostSnapshot:
    """What the node could change on the host, as plain data (saved as JSON)."""

    sysctls: dict[str, str]
    iptables: dict[str, str]  # "iptables/filter" -> normalized save output
    mounts: list[str]  # mount points under MOUNT_PREFIXES and the cluster dir
    paths: dict[str, bool]  # whether each hard-coded path existed
    cgroups: list[str]  # kubepods cgroup directories

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HostSnapshot:
        return cls(**json.loads(text))

    def differences(self, other: HostSnapshot) -> list[str]:
        """One line per thing that differs between self (before) and other (after)."""
        out = [
            f"sysctl {k}: {v} -> {other.sysctls.get(k)}"
            for k, v in self.sysctls.items()
            if other.sysctls.get(k) != v
        ]
        out += [
            f"{table} rules changed"
            for table, rules in self.iptables.items()
            if other.iptables.get(table) != rules
        ]
        out += [f"mount {m} added" for m in sorted(set(other.mounts) - set(self.mounts))]
        out += [f"mount {m} gone" for m in sorted(set(self.mounts) - set(other.mounts))]
        out += [
            f"path {p}: existed={v} -> {other.paths.get(p)}"
            for p, v in self.paths.items()
            if other.paths.get(p) != v
        ]
        out += [f"cgroup {c} added" for c in sorted(set(other.cgroups) - set(self.cgroups))]
        return out


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed tools
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def normalize_save(text: str) -> str:
    """iptables-save output without its comments and packet counters."""
    lines = [
        re.sub(r"\s*\[\d+:\d+\]$", "", line)
        for line in text.splitlines()
        if line and not line.startswith("#")
    ]
    return "\n".join(lines)


def read_sysctl(name: str) -> str:
    path = Path("/proc/sys") / name.replace(".", "/")
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def mount_points(under: Iterable[str]) -> list[str]:
    prefixes = tuple(under)
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefixes):
            points.append(point)
    return points


def kubepods_cgroups() -> list[str]:
    found = []
    for controller in sorted(CGROUP_ROOTS.glob("*")):
        candidate = controller / CGROUP_NAME
        if candidate.is_dir():
            found.append(str(candidate))
    return found


def take_snapshot(cluster_dir: Path, save: Callable[[list[str]], str] = _run) -> HostSnapshot:
    iptables = {
        f"{tool}/{table}": normalize_save(save([f"{tool}-save", "-t", table]))
        for tool in ("iptables", "ip6tables")
        for table in TABLES
    }
    return HostSnapshot(
        sysctls={name: read_sysctl(name) for name in SYSCTLS},
        iptables=iptables,
        mounts=mount_points((*MOUNT_PREFIXES, str(cluster_dir))),
        paths={p: Path(p).exists() for p in HARD_CODED},
        cgroups=kubepods_cgroups(),
    )


def restore(before: HostSnapshot, cluster_dir: Path) -> list[str]:
    """Undo what differs from before; the problems left (an empty list when all went)."""
    problems: list[str] = []
    now = take_snapshot(cluster_dir)
    for mount in sorted(set(now.mounts) - set(before.mounts), key=len, reverse=True):
        _run(["umount", mount])
        if mount in mount_points((mount,)):
            _run(["umount", "-l", mount])  # busy: detach now, freed when the last user goes
        if "/netns/cni-" in mount:
            Path(mount).unlink(missing_ok=True)  # a pod's namespace file, made by containerd
    for cgroup in sorted(set(now.cgroups) - set(before.cgroups)):
        problems += remove_cgroup_tree(Path(cgroup))
    for name, value in before.sysctls.items():
        if value and read_sysctl(name) != value:
            try:
                (Path("/proc/sys") / name.replace(".", "/")).write_text(value)
            except OSError as exc:
                problems.append(f"sysctl {name}: {exc}")
    for table, rules in before.iptables.items():
        current = now.iptables.get(table, "")
        if current != rules and OURS.search(current) and not OURS.search(rules):
            problems += _restore_table(table, rules)
    for path, existed in before.paths.items():
        if not existed and Path(path).exists():
            problems += _remove_tree(Path(path))
    after = take_snapshot(cluster_dir)
    return problems + before.differences(after)


def _restore_table(table: str, rules: str) -> list[str]:
    tool, name = table.split("/")
    done = subprocess.run(  # noqa: S603 - fixed tool
        [f"{tool}-restore", "-T", name],
        input=f"{rules}\n",
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return [] if done.returncode == 0 else [f"{table}: {done.stderr.strip()}"]


def _remove_tree(path: Path) -> list[str]:
    if any(m.startswith(str(path)) for m in mount_points((str(path),))):
        return [f"{path} still has mounts; left in place"]
    try:
        shutil.rmtree(path)
    except OSError as exc:
        return [f"{path}: {exc}"]
    return []


def cgroup_procs(root: Path) -> list[int]:
    """Every pid in the cgroup tree under root."""
    pids: list[int] = []
    for procs in _tree(root, "cgroup.procs"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in procs.read_text().split()]
    return pids


def _tree(root: Path, file_name: str | None = None) -> list[Path]:
    """The directories under root (or their files named file_name), walked so that a cgroup
    the kernel or the kubelet removes meanwhile is skipped, not an error (os.walk ignores
    directories it can no longer list; Path.rglob raises)."""
    found = []
    for directory, dirs, files in os.walk(root):
        if file_name is None:
            found += [Path(directory, d) for d in dirs]
        elif file_name in files:
            found.append(Path(directory, file_name))
    return found


def remove_cgroup_tree(root: Path) -> list[str]:
    """rmdir the (emptied) cgroup tree under root, deepest first."""
    dirs = sorted(_tree(root), key=lambda d: len(d.parts))
    problems = []
    for directory in [*reversed(dirs), root]:
        try:
            directory.rmdir()
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"cgroup {directory}: {exc.strerror}")
    return problems
