"""The local node's hostPath volumes for claims, and volumes of a deleted install made usable
again."""

from __future__ import annotations

import json
from pathlib import Path

from meshpipe.deploy.dev.nodestore import (
    VOLUME_LABEL,
    empty_dir,
    released,
    volumes_manifest,
)


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
