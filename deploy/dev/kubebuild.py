"""Builds one Kubernetes release's binaries (and CoreDNS) from the Go module proxy into the
user's cache, once.

`go install k8s.io/kubernetes/cmd/...@vX` is refused (its go.mod replaces the staging modules
with local paths), so a module of our own requires k8s.io/kubernetes and replaces every staging
module with its published v0.Y.Z twin; the version ldflags make the binaries report vX.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.deploy.dev.kafka import default_cache_dir
from meshpipe.deploy.dev.procs import DevStackError

KUBE_VERSION = "v1.33.13"  # the newest 1.33 patch the module proxy serves
COREDNS_VERSION = "v1.12.1"
COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
    "kube-proxy",
)
MODULE_PATH = "meshpipe.local/kubebuild"
DOWNLOAD_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 3600.0  # ~15 min cold on 2 shared cores
VERSION_TIMEOUT_S = 30.0
NICE = "10"  # other people's tests share the machine's cores
# How the go command says the proxy would not give a module (403/404/410, or gone offline).
REFUSED = re.compile(r"(reading https?://\S+: \d{3} [^\n]*|dial tcp[^\n]*|[^\n]*: not found[^\n]*)")

Say = Callable[[str], None]


@dataclass(frozen=True)
class KubeBuild:
    """Where and what to build; the cache dir holds one directory per version."""

    version: str = KUBE_VERSION
    coredns_version: str = COREDNS_VERSION
    cache_dir: Path = field(default_factory=default_cache_dir)
    go: str = "go"

    @property
    def root(self) -> Path:
        return self.cache_dir / "kubernetes" / self.version

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def module_dir(self) -> Path:
        return self.root / "module"

    @property
    def log_file(self) -> Path:
        return self.root / "build.log"

    def binary(self, name: str) -> Path:
        return self.bin_dir / name

    @property
    def coredns(self) -> Path:
        return self.cache_dir / "coredns" / self.coredns_version / "coredns"

    @property
    def minor(self) -> tuple[str, str]:
        major, minor = self.version.lstrip("v").split(".")[:2]
        return major, minor


def reported_version(binary: Path) -> str | None:
    """The version a built binary reports (`--version`), or None when it cannot run."""
    argv = [str(binary), "version", "--client"] if binary.name == "kubectl" else [str(binary)]
    if binary.name != "kubectl":
        argv.append("--version")
    try:
        done = subprocess.run(  # noqa: S603 - our own binary
            argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"v\d+\.\d+\.\d+\S*", done.stdout)
    return found.group(0) if done.returncode == 0 and found else None


def missing_binaries(build: KubeBuild) -> list[str]:
    """The commands whose cached binary is absent or reports another version."""
    return [c for c in COMMANDS if reported_version(build.binary(c)) != build.version]


def go_env(build: KubeBuild, base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    # A toolchain download would leave the registries allowed here; static binaries need no cc.
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-buildvcs=false")
    return env


def _go(
    build: KubeBuild,
    args: list[str],
    cwd: Path,
    timeout_s: float,
    extra_env: Mapping[str, str] | None = None,
) -> str:
    """Run go (niced); its stdout, or a one-line DevStackError naming the refused module."""
    go = shutil.which(build.go)
    if go is None:
        raise DevStackError(
            f"`{build.go}` is not on PATH: the Kubernetes build needs Go 1.24+ "
            "(install Go, or set MESHPIPE_GO)"
        )
    build.root.mkdir(parents=True, exist_ok=True)
    with build.log_file.open("a") as log:
        log.write(f"$ go {' '.join(args)}\n")
        log.flush()
        try:
            done = subprocess.run(  # noqa: S603 - go with arguments built here
                ["nice", "-n", NICE, go, *args],  # noqa: S607 - nice from PATH
                cwd=cwd,
                env={**go_env(build), **(extra_env or {})},
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DevStackError(
                f"`go {args[0]}` did not finish within {timeout_s:.0f}s; see {build.log_file}"
            ) from None
        log.write(done.stderr)
    if done.returncode != 0:
        raise DevStackError(_failure_line(args, done.stderr, build.log_file))
    return done.stdout


def _failure_line(args: list[str], stderr: str, log: Path) -> str:
    refused = REFUSED.search(stderr)
    if refused:
        return f"the Go module proxy refused a module: {refused.group(0).strip()} (log: {log})"
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no output"
    return f"`go {args[0]}` failed: {last} (log: {log})"


def staging_modules(build: KubeBuild) -> list[str]:
    """The modules k8s.io/kubernetes's go.mod replaces with its staging directories."""
    out = _go(
        build,
        ["mod", "download", "-json", f"k8s.io/kubernetes@{build.version}"],
        build.root,
        DOWNLOAD_TIMEOUT_S,
    )
    gomod = Path(json.loads(out)["GoMod"]).read_text()
    found = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/", gomod, flags=re.MULTILINE)
    if not found:
        raise DevStackError(f"k8s.io/kubernetes@{build.version}'s go.mod lists no staging modules")
    return sorted(found)


def render_go_mod(build: KubeBuild, staging: list[str]) -> str:
    """Our module: k8s.io/kubernetes at the release, each staging module at its v0 twin."""
    _, minor = build.minor
    patch = build.version.lstrip("v").split(".")[2]
    twin = f"v0.{minor}.{patch}"
    replaces = "".join(f"\t{m} => {m} {twin}\n" for m in staging)
    return (
        f"module {MODULE_PATH}\n\ngo 1.24.0\n\ngodebug default=go1.24\n\n"
        f"require k8s.io/kubernetes {build.version}\n\nreplace (\n{replaces})\n"
    )


def render_tools_go() -> str:
    imports = "".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"\n' for c in COMMANDS)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n"


def ldflags(build: KubeBuild) -> str:
    major, minor = build.minor
    pkg = "k8s.io/component-base/version"
    values = {"gitVersion": build.version, "gitMajor": major, "gitMinor": minor}
    values["gitTreeState"] = "clean"
    return " ".join(["-s", "-w", *(f"-X {pkg}.{k}={v}" for k, v in values.items())])


def ensure_kubernetes(build: KubeBuild, say: Say) -> Path:
    """Build the release's commands into the cache unless they are there; their directory."""
    missing = missing_binaries(build)
    if not missing:
        say(f"kubernetes  {build.version} binaries cached in {build.bin_dir}")
        return build.bin_dir
    say(
        f"kubernetes  building {', '.join(missing)} {build.version} "
        f"(~15 min cold; {build.log_file})"
    )
    started = time.monotonic()
    build.module_dir.mkdir(parents=True, exist_ok=True)
    (build.module_dir / "go.mod").write_text(render_go_mod(build, staging_modules(build)))
    (build.module_dir / "tools.go").write_text(render_tools_go())
    _go(build, ["mod", "tidy"], build.module_dir, DOWNLOAD_TIMEOUT_S)
    partial = build.root / "bin.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    packages = [f"k8s.io/kubernetes/cmd/{c}" for c in COMMANDS]
    args = ["build", "-trimpath", "-o", f"{partial}/", "-ldflags", ldflags(build), *packages]
    _go(build, args, build.module_dir, BUILD_TIMEOUT_S)
    for command in COMMANDS:
        got = reported_version(partial / command)
        if got != build.version:
            raise DevStackError(f"the built {command} reports {got}, not {build.version}")
    shutil.rmtree(build.bin_dir, ignore_errors=True)
    partial.rename(build.bin_dir)
    say(f"kubernetes  built in {time.monotonic() - started:.0f}s into {build.bin_dir}")
    return build.bin_dir


def ensure_coredns(build: KubeBuild, say: Say) -> Path:
    """`go install` CoreDNS into the cache unless it is there; the binary."""
    target = build.coredns
    if _coredns_version(target) == build.coredns_version.lstrip("v"):
        say(f"coredns     {build.coredns_version} cached at {target}")
        return target
    say(f"coredns     building {build.coredns_version} (~5 min cold)")
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    args = ["install", "-trimpath", "-ldflags", "-s -w"]
    args.append(f"github.com/coredns/coredns@{build.coredns_version}")
    # A module of its own: no k8s.io/kubernetes replace directives to fight with.
    _go(build, args, build.root, BUILD_TIMEOUT_S, {"GOBIN": str(target.parent)})
    if _coredns_version(target) != build.coredns_version.lstrip("v"):
        raise DevStackError(
            f"the built CoreDNS at {target} does not report {build.coredns_version}"
        )
    say(f"coredns     built in {time.monotonic() - started:.0f}s at {target}")
    return target


def _coredns_version(binary: Path) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - our own binary
            [str(binary), "-version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"CoreDNS-(\S+)", done.stdout)
    return found.group(1) if found else None
