"""Makes the local cluster's container images (pause, busybox) from Debian's busybox-static as
docker-archive tarballs, for `ctr images import`: no registry is involved."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
APPLETS = (
    "sh",
    "sleep",
    "echo",
    "cat",
    "ls",
    "nslookup",
    "nc",
    "httpd",
    "hostname",
    "env",
    "printf",
)
# The sandbox's only job is to hold the pod's namespaces; as PID 1 it must act on TERM itself.
PAUSE_CMD = ("/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done")


@dataclass(frozen=True)
class ImageSpec:
    name: str  # repository:tag
    cmd: tuple[str, ...]


def _layer(busybox: Path) -> bytes:
    """A tar layer: /bin/busybox plus one symlink per applet, /tmp and /etc/hosts stubs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    return out.getvalue()


def write_archive(spec: ImageSpec, target: Path, busybox: Path = BUSYBOX) -> Path:
    """A docker-archive tarball of spec at target."""
    layer = _layer(busybox)
    diff_id = f"sha256:{hashlib.sha256(layer).hexdigest()}"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": list(spec.cmd), "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [spec.name], "Layers": ["layer.tar"]}]
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w") as tar:
        for name, payload in (
            ("layer.tar", layer),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(payload), 0o644
            tar.addfile(info, io.BytesIO(payload))
    return target


@dataclass(frozen=True)
class ArchiveImage:
    """What a docker-archive holds: its tags and its image id (the config's digest)."""

    tags: tuple[str, ...]
    image_id: str  # sha256:..., the id containerd's CRI also lists as a reference


def read_archive(path: Path) -> ArchiveImage:
    """The tags and image id of the (single-image) docker-archive at path; ValueError if none."""
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile("manifest.json")
            manifest = json.load(member) if member is not None else None
    except (OSError, KeyError, tarfile.TarError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a docker-archive ({exc})") from exc
    if not isinstance(manifest, list) or len(manifest) != 1 or "Config" not in manifest[0]:
        raise ValueError(f"{path}: want a docker-archive holding exactly one image")
    config = str(manifest[0]["Config"]).removesuffix(".json").rpartition("/")[2]
    return ArchiveImage(tuple(manifest[0].get("RepoTags") or ()), f"sha256:{config}")
