"""hostPath PersistentVolumes for the claims of `meshctl install`'s StatefulSets on the local
node (it has no storage provisioner): made under the cluster's directory, so `down` removes
them, and made usable again when an install that claimed them was deleted."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

Say = Callable[[str], None]
Run = Callable[[list[str]], subprocess.CompletedProcess[str]]
VOLUMES = 6  # claims a control plane makes: ClickHouse, Kafka, and room for a second install
VOLUME_SIZE = "100Gi"  # what each volume claims to hold (hostPath enforces no size)
VOLUME_LABEL = "meshpipe.io/dev-volume"


def volumes_manifest(root: Path, count: int = VOLUMES) -> str:
    """count hostPath PersistentVolumes under root, without a storage class: with no default
    class in the cluster, a claim that names none binds to one of them."""
    docs = []
    for index in range(count):
        path = root / str(index)
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # pods run as their own uids; hostPath has no fsGroup
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"meshpipe-dev-{index}", "labels": {VOLUME_LABEL: "true"}},
                "spec": {
                    "capacity": {"storage": VOLUME_SIZE},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})


def released(volumes: dict[str, object]) -> list[tuple[str, Path]]:
    """(name, directory) of our volumes whose claim was deleted (`kubectl get pv -o json`):
    a reinstall can use them again once emptied and freed of the old claim."""
    found = []
    for item in volumes.get("items") or []:  # type: ignore[attr-defined]
        labels = item.get("metadata", {}).get("labels") or {}
        if labels.get(VOLUME_LABEL) == "true" and item.get("status", {}).get("phase") == "Released":
            found.append((item["metadata"]["name"], Path(item["spec"]["hostPath"]["path"])))
    return found


def empty_dir(path: Path) -> None:
    """Removes what a previous claim left in a volume's directory, keeping the directory."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
