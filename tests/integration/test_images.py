"""`make images` builds the sidecar image without Docker, and the image works as a pod runs it.

Builds meshproxy from deploy/images/Containerfile (the Debian base is cached in
~/.cache/meshpipe/images after its first debootstrap), unpacks the OCI image as a runtime would
and runs it in a chroot. Nothing may stay mounted, whatever fails.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_proxy_relay import free_port

from meshpipe.deploy.dev.compiled import CompileConfig, images_compiled
from meshpipe.deploy.dev.imagecheck import SidecarProbe, run_in, sidecar_ready_seconds, unpack
from meshpipe.deploy.dev.images import ImageBuildSettings, build_images, missing_tools
from meshpipe.deploy.dev.oci import BuiltImage, image_config
from meshpipe.deploy.dev.rootfs import mounts_under, remove_tree, run_tool
from meshpipe.deploy.mesh.proxyspec import default_proxy_image


def _unavailable() -> str:
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot)"
    missing = missing_tools()
    return f"needs {', '.join(missing)} (make system)" if missing else ""


pytestmark = [
    pytest.mark.images,
    pytest.mark.root,
    pytest.mark.timeout(900),
    pytest.mark.skipif(bool(_unavailable()), reason=_unavailable() or "available"),
]
SIZE_AIM = 150_000_000  # bytes unpacked; Linkerd's proxy is ~30 MB, Envoy's ~100 MB


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("images")
    try:
        yield path
    finally:
        leftover = mounts_under(path)
        remove_tree(path)
        assert leftover == [], f"still mounted after the tests: {leftover}"


@pytest.fixture(scope="module")
def sidecar(scratch: Path) -> BuiltImage:
    settings = ImageBuildSettings(targets=("meshproxy",), out_dir=scratch / "out")
    [image] = build_images(settings, print)
    assert mounts_under(scratch) == []
    return image


@pytest.fixture(scope="module")
def sidecar_root(sidecar: BuiltImage, scratch: Path) -> Path:
    return unpack(sidecar.layout, sidecar.reference.rsplit(":", 1)[1], scratch / "bundle")


def test_the_image_is_tagged_as_meshctl_inject_references_it(sidecar: BuiltImage) -> None:
    assert sidecar.reference == default_proxy_image()
    with tarfile.open(sidecar.archive) as archive:
        manifest = archive.extractfile("manifest.json")
        assert manifest is not None
        [entry] = json.load(manifest)
    assert entry["RepoTags"] == [default_proxy_image()]


def test_the_image_runs_meshproxy_as_the_proxy_user(sidecar: BuiltImage) -> None:
    config = image_config(sidecar.layout, sidecar.reference.rsplit(":", 1)[1])["config"]
    assert config["Entrypoint"] == ["/opt/meshpipe/bin/meshproxy"]
    assert config["User"] == "2102"
    assert "PYTHONDONTWRITEBYTECODE=1" in config["Env"]


def test_meshproxy_help_runs_inside_the_image(sidecar_root: Path) -> None:
    assert "--transparent" in run_in(sidecar_root, ["meshproxy", "--help"], user="2102:2102")


def test_the_image_holds_the_proxy_extra_and_no_worker_cluster_or_pip_packages(
    sidecar_root: Path,
) -> None:
    script = (
        "import importlib.metadata as m\n"
        "for d in m.distributions(): print(d.metadata['Name'].lower().replace('_', '-'))"
    )
    listing = run_in(sidecar_root, ["python3", "-c", script])
    names = set(listing.split())
    assert {"meshpipe", "aiokafka", "hpack", "httptools", "uvloop", "prometheus-client"} <= names
    workers = ("faust-streaming", "clickhouse-driver", "kubernetes", "pip", "meshpipe-demo")
    for absent in ("h2", "hyperframe", *workers):  # the relay needs hpack, not h2
        assert absent not in names
    assert not (sidecar_root / "var/lib/apt/lists/partial").exists()
    assert not list((sidecar_root / "usr/share/man").iterdir())


@pytest.mark.skipif(not images_compiled(), reason="MESHPIPE_COMPILE=0: pure images asked for")
def test_the_image_carries_the_compiled_build(sidecar_root: Path) -> None:
    names = [n for n in CompileConfig.read().module_names if not n.startswith("meshpipe.streams")]
    script = "import sys, importlib.util as u\nfor n in sys.argv[1:]: print(u.find_spec(n).origin)"
    origins = run_in(sidecar_root, ["python3", "-c", script, *names]).split()
    assert len(origins) == len(names) > 20
    assert [o for o in origins if not o.endswith(".so")] == []


def test_the_venvs_shared_objects_carry_no_debug_info_and_binutils_stays_out(
    sidecar_root: Path,
) -> None:
    objects = [p for p in (sidecar_root / "opt/meshpipe").rglob("*.so*") if p.is_file()]
    assert len(objects) > 10  # uvloop, httptools, aiokafka, upb, cramjam, ours
    sections = {p.name: run_tool(["readelf", "-S", "-W", p], "readelf") for p in objects}
    assert [name for name, text in sections.items() if ".debug_" in text] == []
    assert "Package: binutils\n" not in (sidecar_root / "var/lib/dpkg/status").read_text()
    assert not (sidecar_root / "usr/bin/strip").exists()


def test_the_init_container_finds_iptables_in_the_same_image(sidecar_root: Path) -> None:
    assert "iptables v1." in run_in(sidecar_root, ["/bin/sh", "-c", "iptables --version"])


def test_the_image_is_under_the_size_aim(sidecar: BuiltImage) -> None:
    print(sidecar.summary())
    assert sidecar.uncompressed <= SIZE_AIM


def test_the_sidecar_from_the_image_gets_ready_within_seconds(
    sidecar_root: Path, kafka_bootstrap: str
) -> None:
    probe = SidecarProbe(kafka_bootstrap, free_port(), free_port(), free_port())
    seconds = [sidecar_ready_seconds(sidecar_root, probe) for _ in range(3)]
    print(f"meshproxy start to /ready: {', '.join(f'{s:.2f} s' for s in seconds)}")
    assert max(seconds) < 10
    assert mounts_under(sidecar_root) == []


def test_the_build_left_no_work_tree_behind(sidecar: BuiltImage) -> None:
    out = sidecar.layout.parent
    assert sorted(p.name for p in out.iterdir()) == [
        "context",
        "meshproxy.inputs",
        "meshproxy.oci",
        "meshproxy.tar",
    ]
