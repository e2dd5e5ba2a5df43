"""Root file systems for local image builds: the Debian base (debootstrap, cached), chroot runs
with /proc and /dev mounted for the run only, copies and time stamps that repeat."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev.procs import DevStackError

Log = Callable[[str], None]

# What a RUN step sees besides the root: mounted in a private mount namespace of its own, so
# they vanish with the step even if it is killed; `unmount_under` is the second net.
_MOUNT_AND_CHROOT = """set -e
root=$1; shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount --bind /etc/resolv.conf "$root/etc/resolv.conf"
exec chroot "$@"
"""
# dpkg and apt settings of Debian's own slim images (debuerreotype): later installs stay slim.
_DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""
_APT_SLIM = """APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
"""
# Removed from the debootstrap result: downloads, indexes, docs, logs and files that differ
# between two runs of the same install.
_SLIM_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "usr/share/info/*",
    "usr/share/lintian/*",
    "usr/share/locale/*",
    "usr/share/man/*",
    "var/log/*",
    "var/cache/debconf/*-old",
    "var/lib/dpkg/*-old",
    "var/cache/ldconfig/aux-cache",
    "dev/*",
    "debootstrap",
    # Nothing of ours converts with iconv (Python has its own codecs): 8 MB.
    "usr/lib/x86_64-linux-gnu/gconv",
    # Python's offline help texts and its test-suite helpers: 2 MB no service imports.
    "usr/lib/python3.*/pydoc_data",
    "usr/lib/python3.*/test",
)


@dataclass(frozen=True)
class BaseSpec:
    """The Debian root every local image starts from (the `BASE` of the Containerfile)."""

    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = ("python3",)
    variant: str = "minbase"

    @property
    def key(self) -> str:
        text = f"{self.suite} {self.mirror} {self.variant} {','.join(self.packages)} v2"
        return f"debian-{self.suite}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def run_tool(argv: Sequence[str | Path], what: str, env: dict[str, str] | None = None) -> str:
    """Runs a host tool; its standard output, or DevStackError naming what failed and why."""
    result = subprocess.run(  # noqa: S603 - argv built here, never through a shell
        [str(a) for a in argv], capture_output=True, text=True, check=False, env=env
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-8:]
        raise DevStackError(f"{what} failed (exit {result.returncode}): {' | '.join(tail)}")
    return result.stdout


def base_root(spec: BaseSpec, cache_dir: Path, epoch: int, log: Log) -> Path:
    """The cached Debian root for spec, made once with debootstrap (about 2 minutes)."""
    done = cache_dir / "images" / spec.key
    root = done / "rootfs"
    if (done / "complete").exists():
        return root
    partial = cache_dir / "images" / f"{spec.key}.partial"
    if partial.exists():
        remove_tree(partial)
    partial.mkdir(parents=True)
    log(f"base: debootstrap {spec.variant} {spec.suite} + {' '.join(spec.packages)} (once)")
    argv = [
        "debootstrap",
        f"--variant={spec.variant}",
        f"--include={','.join(spec.packages)}",
        spec.suite,
        str(partial / "rootfs"),
        spec.mirror,
    ]
    try:
        # debootstrap mounts /proc and /sys in the target: in a namespace of its own they go
        # away with it, however it ends.
        run_tool(["unshare", "--mount", "--fork", "--", *argv], "debootstrap")
    finally:
        unmount_under(partial)
    _slim(partial / "rootfs")
    set_times(partial / "rootfs", epoch)
    (partial / "complete").write_text(f"{spec}\n")
    if done.exists():
        remove_tree(done)
    partial.rename(done)
    return root


def _slim(root: Path) -> None:
    for pattern in _SLIM_GLOBS:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    docs = root / "usr/share/doc"
    for path in sorted(docs.rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()
        elif path.name != "copyright":
            path.unlink()
    (root / "etc/dpkg/dpkg.cfg.d/meshpipe-slim").write_text(_DPKG_EXCLUDES)
    (root / "etc/apt/apt.conf.d/meshpipe-slim").write_text(_APT_SLIM)
    # The runtime provides these (the kubelet bind-mounts them); debootstrap copied the host's.
    for name in ("etc/resolv.conf", "etc/hostname"):
        (root / name).write_text("")


def set_times(root: Path, epoch: int) -> None:
    """Every file, directory and link under root gets the same time (a layer then repeats)."""
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.utime(Path(directory, name), (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def copy_tree(source: Path, dest: Path) -> None:
    """source's content into dest (created), owners, modes, links and times kept."""
    dest.mkdir(parents=True, exist_ok=True)
    run_tool(["cp", "-a", "--reflink=auto", f"{source}/.", dest], f"copying {source}")


def remove_tree(path: Path) -> None:
    """Removes path, never across a mount point that something left behind."""
    unmount_under(path)
    shutil.rmtree(path)


def chroot_command(
    root: Path, argv: Sequence[str], env: Sequence[tuple[str, str]], user: str | None
) -> list[str]:
    """The command line that runs argv inside root with only env, as user (None: root), with
    /proc, /dev and the host's resolver mounted in a mount namespace that ends with it."""
    chroot = ["--userspec", user] if user else []
    clean_env = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env)]
    script = ["/bin/sh", "-c", _MOUNT_AND_CHROOT, "sh", str(root)]
    return ["unshare", "--mount", "--fork", "--", *script, *chroot, str(root), *clean_env, *argv]


def chroot_run(
    root: Path, argv: Sequence[str], env: Sequence[tuple[str, str]], user: str | None
) -> str:
    """argv inside root, as a RUN step (apt and pip need /proc, /dev and a resolver); its
    output, or DevStackError with the last lines when it fails."""
    resolv = root / "etc/resolv.conf"
    created = not resolv.exists() and not resolv.is_symlink()
    if created:
        resolv.touch()
    try:
        return run_tool(chroot_command(root, argv, env, user), f"RUN {' '.join(argv)[:120]}")
    finally:
        unmount_under(root)
        if created:
            resolv.unlink()


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below path in this mount namespace, deepest first."""
    prefix = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def unmount_under(path: Path) -> None:
    """Detaches whatever is still mounted under path (normally nothing: see _MOUNT_AND_CHROOT)."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", str(point)], check=False)  # noqa: S603, S607


@contextlib.contextmanager
def work_dir(path: Path) -> Iterator[Path]:
    """A fresh scratch directory, removed afterwards (mounts first) whatever happens."""
    if path.exists():
        remove_tree(path)
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        remove_tree(path)
