"""The local cluster's pieces that need no root: host snapshots, images, configuration, and the
one-line failures of `meshctl dev cluster`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from meshpipe.deploy.dev import cluster as cluster_mod
from meshpipe.deploy.dev.cluster import Cluster
from meshpipe.deploy.dev.clusterconf import ClusterSettings, cni_config, kubelet_config
from meshpipe.deploy.dev.hoststate import HostSnapshot, normalize_save
from meshpipe.deploy.dev.nodeimages import ImageSpec, read_archive, write_archive
from meshpipe.deploy.dev.procs import DevStackError


def test_snapshot_differences_name_each_change() -> None:
    before = HostSnapshot({"kernel.panic": "0"}, {"iptables/nat": "*nat"}, [], {"/a": False}, [])
    after = HostSnapshot(
        {"kernel.panic": "10"}, {"iptables/nat": "*nat\n:KUBE-X - "}, ["/m"], {"/a": True}, ["/c"]
    )
    diff = before.differences(after)
    assert "sysctl kernel.panic: 0 -> 10" in diff
    assert "iptables/nat rules changed" in diff
    assert "mount /m added" in diff
    assert "path /a: existed=False -> True" in diff
    assert "cgroup /c added" in diff
    assert before.differences(HostSnapshot.from_json(before.to_json())) == []


def test_iptables_save_is_compared_without_counters_and_comments() -> None:
    one = "# Generated on Mon\n*filter\n:INPUT ACCEPT [12:345]\nCOMMIT\n# Completed on Mon\n"
    two = "# Generated on Tue\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n# Completed on Tue\n"
    assert normalize_save(one) == normalize_save(two) == "*filter\n:INPUT ACCEPT\nCOMMIT"


def test_image_archive_has_a_manifest_config_and_layer(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF fake")
    archive = write_archive(ImageSpec("x.local/y:1", ("sh",)), tmp_path / "y.tar", fake)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        layer = tarfile.open(fileobj=tar.extractfile("layer.tar"))  # noqa: SIM115
        names = layer.getnames()
    assert manifest[0]["RepoTags"] == ["x.local/y:1"]
    assert config["config"]["Cmd"] == ["sh"]
    assert "bin/busybox" in names
    assert "bin/sh" in names


def test_an_archive_names_its_tags_and_image_id(tmp_path: Path) -> None:
    fake = tmp_path / "busybox"
    fake.write_bytes(b"\x7fELF fake")
    archive = write_archive(ImageSpec("x.local/y:1", ("sh",)), tmp_path / "y.tar", fake)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    image = read_archive(archive)
    assert image.tags == ("x.local/y:1",)
    assert image.image_id == f"sha256:{manifest[0]['Config'].removesuffix('.json')}"


def test_a_file_that_is_no_archive_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ValueError, match=r"junk\.tar: not a docker-archive"):
        read_archive(junk)


def test_loading_images_without_a_running_containerd_is_one_line(tmp_path: Path) -> None:
    node = Cluster(ClusterSettings(dir=tmp_path, netns="mp-test-none"))
    with pytest.raises(DevStackError, match="containerd is not running"):
        node.load_images([tmp_path / "x.tar"], lambda _line: None)


def test_node_config_keeps_paths_under_the_cluster_dir(tmp_path: Path) -> None:
    s = ClusterSettings(dir=tmp_path)
    kubelet = kubelet_config(s)
    assert "failCgroupV1: false" in kubelet
    assert "cgroupDriver: cgroupfs" in kubelet
    assert f"containerRuntimeEndpoint: unix://{tmp_path}" in kubelet
    cni = json.loads(cni_config(s))
    assert cni["plugins"][0]["ipam"]["dataDir"].startswith(str(tmp_path))


def test_addresses_come_from_the_project_ranges() -> None:
    s = ClusterSettings()
    assert s.node_ip == "10.254.78.2"
    assert s.service_ip == "10.254.76.1"


def test_up_as_non_root_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 1000)
    with pytest.raises(DevStackError, match="needs root"):
        Cluster(ClusterSettings(dir=tmp_path)).up(lambda _line: None)


def test_missing_packages_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster_mod.shutil, "which", lambda _tool: None)
    with pytest.raises(DevStackError, match=r"missing Debian packages: .*etcd-server"):
        Cluster(ClusterSettings(dir=tmp_path)).check_host()


def test_meshctl_cluster_up_as_non_root_exits_unavailable_with_one_line(tmp_path: Path) -> None:
    code = (
        "import os, sys; os.geteuid = lambda: 1000; sys.argv = ['meshctl'] + sys.argv[1:]; "
        "from meshpipe.cli.entry import meshctl; meshctl()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "dev", "--dir", str(tmp_path), "cluster", "up"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "needs root" in done.stderr


def _as_root_with_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster_mod.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(cluster_mod, "FILES", {})


def test_a_taken_api_port_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_root_with_tools(monkeypatch)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        node = Cluster(ClusterSettings(dir=tmp_path, netns="mp-test-none", api_port=port))
        with pytest.raises(DevStackError, match=f"port 127.0.0.1:{port} is taken"):
            node.check_host()


def test_a_taken_network_range_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _as_root_with_tools(monkeypatch)
    routes = subprocess.run(
        ["ip", "-4", "route", "show"], capture_output=True, text=True, check=False, timeout=10
    ).stdout.splitlines()
    local = [r.split()[0] for r in routes if r and not r.startswith("default") and "/" in r]
    if not local:
        pytest.skip("this host has no IPv4 route to collide with")
    node = Cluster(ClusterSettings(dir=tmp_path, netns="mp-test-none", pod_cidr=local[0]))
    with pytest.raises(DevStackError, match=f"network range {local[0]} is taken"):
        node.check_host()


def test_status_of_a_cluster_never_started_says_not_running(tmp_path: Path) -> None:
    rows = Cluster(ClusterSettings(dir=tmp_path, netns="mp-test-none")).status()
    assert [r.name for r in rows][:3] == ["etcd", "kube-apiserver", "api-forward"]
    assert all(not r.ready and r.detail == "not running" for r in rows)


def test_down_with_nothing_up_stops_nothing(tmp_path: Path) -> None:
    said: list[str] = []
    node = Cluster(ClusterSettings(dir=tmp_path / "cluster", netns="mp-test-none"))
    assert node.down(said.append) == []
    assert said == []


def test_down_as_non_root_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(cluster_mod.os, "geteuid", lambda: 1000)
    settings = ClusterSettings(dir=tmp_path, netns="mp-test-none")
    settings.snapshot_file.write_text("{}")
    with pytest.raises(DevStackError, match="down` needs root"):
        Cluster(settings).down(lambda _line: None)
