"""The local node's hostPath volumes for claims, and volumes of a deleted install made usable
again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from meshpipe.deploy.dev.hoststate import cgroup_procs, remove_cgroup_tree
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


def test_cgroups_that_vanish_during_teardown_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet removes pod cgroups while `down` walks them: that must not be an error."""
    root = tmp_path / "kubepods"
    (root / "burstable" / "pod1" / "gone").mkdir(parents=True)
    (root / "burstable" / "pod1" / "cgroup.procs").write_text("4242\n")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith("gone"):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert cgroup_procs(root) == [4242]
    # A real cgroup directory goes with rmdir; here files keep some, and that is reported.
    problems = remove_cgroup_tree(root)
    assert problems
    assert all(p.endswith("Directory not empty") for p in problems)
