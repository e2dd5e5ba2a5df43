"""What `meshctl dev cluster` keeps on its node besides processes: images imported once per
build, hostPath volumes for claims, and volumes of a deleted install made usable again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from meshpipe.deploy.dev.nodestore import (
    VOLUME_LABEL,
    empty_dir,
    import_archives,
    released,
    volumes_manifest,
)


class FakeCtr:
    """Records the ctr calls; answers success."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        return subprocess.CompletedProcess(args, 0, "", "")


def _archive(directory: Path, name: str, inputs: str) -> Path:
    archive = directory / f"{name}.tar"
    archive.write_bytes(b"tar")
    archive.with_suffix(".inputs").write_text(f"{inputs} ghcr.io/meshpipe/{name}:0.1.0\n")
    return archive


def test_each_build_of_an_image_is_imported_once(tmp_path: Path) -> None:
    ctr, state = FakeCtr(), tmp_path / "state" / "images.json"
    proxy = _archive(tmp_path, "meshproxy", "aaa")
    kafka = _archive(tmp_path, "kafka", "bbb")
    assert import_archives([proxy, kafka], state, ctr, print) == [proxy, kafka]
    assert import_archives([proxy, kafka], state, ctr, print) == []
    _archive(tmp_path, "kafka", "ccc")  # rebuilt from other inputs
    assert import_archives([proxy, kafka], state, ctr, print) == [kafka]
    assert [call[:2] for call in ctr.calls] == [["images", "import"]] * 3


def test_volumes_have_no_class_and_directories_every_pod_can_write(tmp_path: Path) -> None:
    listing = json.loads(volumes_manifest(tmp_path / "volumes", count=2))
    [first, second] = listing["items"]
    assert first["metadata"]["labels"] == {VOLUME_LABEL: "true"}
    assert "storageClassName" not in first["spec"]
    assert second["spec"]["hostPath"]["path"] == str(tmp_path / "volumes" / "1")
    assert (tmp_path / "volumes" / "0").stat().st_mode & 0o777 == 0o777


def test_released_volumes_are_found_and_emptied(tmp_path: Path) -> None:
    path = tmp_path / "0"
    (path / "data").mkdir(parents=True)
    (path / "meta.properties").write_text("x")
    listing = {
        "items": [
            {
                "metadata": {"name": "meshpipe-dev-0", "labels": {VOLUME_LABEL: "true"}},
                "spec": {"hostPath": {"path": str(path)}},
                "status": {"phase": "Released"},
            },
            {
                "metadata": {"name": "meshpipe-dev-1", "labels": {VOLUME_LABEL: "true"}},
                "spec": {"hostPath": {"path": str(tmp_path / "1")}},
                "status": {"phase": "Bound"},
            },
        ]
    }
    assert released(listing) == [("meshpipe-dev-0", path)]
    empty_dir(path)
    assert path.is_dir()
    assert list(path.iterdir()) == []
