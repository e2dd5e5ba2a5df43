"""The Kubernetes build module: our go.mod, the version ldflags, the cache layout, and one-line
failures when go is missing or the module proxy refuses a module."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpipe.deploy.dev import kubebuild
from meshpipe.deploy.dev.kubebuild import KubeBuild, ldflags, render_go_mod, render_tools_go
from meshpipe.deploy.dev.procs import DevStackError


def test_go_mod_replaces_every_staging_module_with_its_v0_twin() -> None:
    text = render_go_mod(KubeBuild(version="v1.33.13"), ["k8s.io/api", "k8s.io/kubectl"])
    assert "require k8s.io/kubernetes v1.33.13" in text
    assert "\tk8s.io/api => k8s.io/api v0.33.13\n" in text
    assert "\tk8s.io/kubectl => k8s.io/kubectl v0.33.13\n" in text


def test_tools_file_names_every_command() -> None:
    text = render_tools_go()
    assert text.startswith("//go:build tools")
    for command in kubebuild.COMMANDS:
        assert f'"k8s.io/kubernetes/cmd/{command}"' in text


def test_ldflags_set_the_release_version() -> None:
    flags = ldflags(KubeBuild(version="v1.33.13"))
    assert "-X k8s.io/component-base/version.gitVersion=v1.33.13" in flags
    assert "gitMajor=1" in flags
    assert "gitMinor=33" in flags


def test_build_caches_under_the_version(tmp_path: Path) -> None:
    build = KubeBuild(cache_dir=tmp_path)
    assert build.bin_dir == tmp_path / "kubernetes" / kubebuild.KUBE_VERSION / "bin"


def test_a_refused_module_is_one_line_naming_it(tmp_path: Path) -> None:
    stderr = (
        "go: downloading k8s.io/kubernetes v1.33.14\n"
        "go: k8s.io/kubernetes@v1.33.14: reading https://proxy.golang.org/k8s.io/kubernetes/@v/"
        "v1.33.14.info: 403 Forbidden\n"
    )
    line = kubebuild._failure_line(["mod", "download"], stderr, tmp_path / "build.log")
    assert line.startswith("the Go module proxy refused a module: reading https://")
    assert "403 Forbidden" in line
    assert "\n" not in line


def test_missing_go_says_so_in_one_line(tmp_path: Path) -> None:
    build = KubeBuild(cache_dir=tmp_path, go="no-such-go-here")
    with pytest.raises(DevStackError, match=r"`no-such-go-here` is not on PATH"):
        kubebuild.ensure_kubernetes(build, lambda _line: None)


def test_a_failed_build_is_one_line_with_its_last_error(tmp_path: Path) -> None:
    stderr = "# k8s.io/kubernetes/cmd/kubelet\nlink: running gcc failed: exit status 1\n"
    line = kubebuild._failure_line(["build", "-o"], stderr, tmp_path / "build.log")
    assert line == (
        f"`go build` failed: link: running gcc failed: exit status 1 (log: {tmp_path}/build.log)"
    )
