"""The Kubernetes build: the release's binaries (and CoreDNS), built once from the Go module
proxy into the user's cache, report the release's version; a second call finds them there."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from meshpipe.deploy.dev.kafka import default_cache_dir
from meshpipe.deploy.dev.kubebuild import (
    COMMANDS,
    KubeBuild,
    ensure_coredns,
    ensure_kubernetes,
    reported_version,
)

# Cold: ~15 min on 2 shared cores (kube-apiserver alone ~9); cached: seconds.
pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def build() -> KubeBuild:
    if os.environ.get("MESHPIPE_SKIP_CLUSTER") == "1":
        pytest.skip("MESHPIPE_SKIP_CLUSTER=1")
    cache = Path(os.environ.get("MESHPIPE_CACHE_DIR") or default_cache_dir())
    b = KubeBuild(cache_dir=cache, go=os.environ.get("MESHPIPE_GO") or "go")
    if shutil.which(b.go) is None:
        pytest.skip(f"{b.go} is not installed")
    return b


def test_every_built_binary_reports_the_release_version(build: KubeBuild) -> None:
    bin_dir = ensure_kubernetes(build, lambda _line: None)
    for command in COMMANDS:
        assert reported_version(bin_dir / command) == build.version, command


def test_a_cached_build_is_not_rebuilt(build: KubeBuild) -> None:
    ensure_kubernetes(build, lambda _line: None)
    said: list[str] = []
    started = time.monotonic()
    ensure_kubernetes(build, said.append)
    assert time.monotonic() - started < 30
    assert said == [f"kubernetes  {build.version} binaries cached in {build.bin_dir}"]


def test_coredns_is_built_once_into_the_cache(build: KubeBuild) -> None:
    binary = ensure_coredns(build, lambda _line: None)
    assert binary == build.coredns
    said: list[str] = []
    ensure_coredns(build, said.append)
    assert said == [f"coredns     {build.coredns_version} cached at {binary}"]
