"""Root file systems into OCI images (umoci) and docker-archives (skopeo), with their sizes.

Each image gets two layers: the base root (the same bytes in every image, stored once by a
registry or containerd) and what the recipe added on top. All times are the recipe's
SOURCE_DATE_EPOCH, so the same roots give the same digests.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshpipe.deploy.dev.containerfile import ImageConfig
from meshpipe.deploy.dev.rootfs import copy_tree, remove_tree, run_tool, set_times

_CHUNK = 1 << 20
# The image is the host's architecture (debootstrap installs the host's), in OCI's names.
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Layer:
    digest: str
    compressed: int  # bytes (gzip, as pushed and pulled)
    uncompressed: int  # bytes (the tar, as unpacked)


@dataclass(frozen=True)
class BuiltImage:
    """One image on disk: its OCI layout, its docker-archive and what it weighs."""

    name: str
    reference: str  # e.g. ghcr.io/meshpipe/meshproxy:0.1.0
    layout: Path
    archive: Path
    manifest_digest: str
    layers: tuple[Layer, ...]

    @property
    def compressed(self) -> int:
        return sum(layer.compressed for layer in self.layers)

    @property
    def uncompressed(self) -> int:
        return sum(layer.uncompressed for layer in self.layers)

    def summary(self) -> str:
        mb = 1_000_000
        return (
            f"{self.reference}  {self.uncompressed / mb:.1f} MB unpacked, "
            f"{self.compressed / mb:.1f} MB compressed ({len(self.layers)} layers, "
            f"top {self.layers[-1].uncompressed / mb:.1f} MB), manifest {self.manifest_digest}"
        )


@dataclass(frozen=True)
class PackRequest:
    """What to pack: the base root (layer 1), the finished root (layer 2 = the difference)."""

    name: str
    reference: str
    base: Path
    root: Path
    config: ImageConfig
    out_dir: Path
    scratch: Path
    epoch: int


def pack(request: PackRequest) -> BuiltImage:
    """The OCI layout build/images/NAME.oci (tag = the reference's tag) and NAME.tar."""
    tag = request.reference.rsplit(":", 1)[1]
    layout = request.out_dir / f"{request.name}.oci"
    image = f"{layout}:{tag}"
    if layout.exists():
        remove_tree(layout)
    bundle = request.scratch / f"bundle-{request.name}"
    run_tool(["umoci", "init", "--layout", layout], "umoci init")
    run_tool(["umoci", "new", "--image", image], "umoci new")
    run_tool(["umoci", "unpack", "--image", image, bundle], "umoci unpack")
    rootfs = bundle / "rootfs"
    for source, refresh in ((request.base, ["--refresh-bundle"]), (request.root, [])):
        for child in list(rootfs.iterdir()):
            remove_tree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        copy_tree(source, rootfs)
        set_times(rootfs, request.epoch)
        run_tool(
            ["umoci", "repack", "--no-history", *refresh, "--image", image, bundle], "umoci repack"
        )
    run_tool(
        ["umoci", "config", "--no-history", "--image", image, *_config_flags(request)],
        "umoci config",
    )
    run_tool(["umoci", "gc", "--layout", layout], "umoci gc")
    remove_tree(bundle)
    archive = request.out_dir / f"{request.name}.tar"
    archive.unlink(missing_ok=True)
    run_tool(
        [
            "skopeo",
            "copy",
            "--quiet",
            f"oci:{image}",
            f"docker-archive:{archive}:{request.reference}",
        ],
        "skopeo copy",
    )
    return built_image(request.name, request.reference, layout, archive)


def built_image(name: str, reference: str, layout: Path, archive: Path) -> BuiltImage:
    """What an image packed earlier (its layout and archive on disk) weighs."""
    digest, layers = _layers(layout, reference.rsplit(":", 1)[1])
    return BuiltImage(name, reference, layout, archive, digest, layers)


def _config_flags(request: PackRequest) -> list[str]:
    config = request.config
    created = dt.datetime.fromtimestamp(request.epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    architecture = _ARCHITECTURES.get(platform.machine(), platform.machine())
    flags = [f"--created={created}", "--author=meshpipe", "--os=linux"]
    flags.append(f"--architecture={architecture}")
    flags += [f"--config.env={k}={v}" for k, v in config.env]
    flags += [f"--config.entrypoint={word}" for word in config.entrypoint]
    flags += [f"--config.cmd={word}" for word in config.cmd]
    if config.user:
        flags.append(f"--config.user={config.user}")
    if config.workdir:
        flags.append(f"--config.workingdir={config.workdir}")
    return flags


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hexdigest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hexdigest


def _manifest(layout: Path, tag: str) -> tuple[str, dict[str, Any]]:
    index = json.loads((layout / "index.json").read_text())
    [descriptor] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    manifest: dict[str, Any] = json.loads(_blob(layout, descriptor["digest"]).read_text())
    return descriptor["digest"], manifest


def _layers(layout: Path, tag: str) -> tuple[str, tuple[Layer, ...]]:
    digest, manifest = _manifest(layout, tag)
    layers = []
    for layer in manifest["layers"]:
        size = 0
        with gzip.open(_blob(layout, layer["digest"])) as tar:
            while chunk := tar.read(_CHUNK):
                size += len(chunk)
        layers.append(Layer(layer["digest"], layer["size"], size))
    return digest, tuple(layers)


def image_config(layout: Path, tag: str) -> dict[str, Any]:
    """The image's config document (entrypoint, env, user, ...), as a runtime reads it."""
    _digest, manifest = _manifest(layout, tag)
    config: dict[str, Any] = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    return config
