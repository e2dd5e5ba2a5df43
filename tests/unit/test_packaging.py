"""pyproject.toml's package list names every folder of the installed parts, and nothing else."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALLED_PARTS = ("schemas", "proxy", "sinks", "streams", "deploy", "cli", "dashboard")
# Filled by `make assets` and shipped as package data of its parent (pyproject's package-data).
BUILT_ASSETS = ("vendor",)


def _folders(root: Path, part: str) -> set[str]:
    found = set()
    for folder in [root / part, *(root / part).rglob("*")]:
        relative = folder.relative_to(root).parts
        if not folder.is_dir() or any(_generated(p) for p in relative):
            continue
        if any(p.is_file() for p in folder.iterdir()):
            found.add("meshpipe." + ".".join(relative))
    return found


def _generated(name: str) -> bool:
    """Folders a build or an interpreter leaves (caches, egg-info, build trees)."""
    return name in ("__pycache__", "build", *BUILT_ASSETS) or name.endswith(".egg-info")


def _project(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text())


def test_every_folder_of_an_installed_part_is_a_listed_package() -> None:
    listed = set(_project(REPO / "pyproject.toml")["tool"]["setuptools"]["packages"])  # type: ignore[index]
    expected = set().union(*(_folders(REPO, part) for part in INSTALLED_PARTS))
    assert listed == expected


def test_the_demo_distribution_lists_every_demo_folder() -> None:
    listed = set(_project(REPO / "demo" / "pyproject.toml")["tool"]["setuptools"]["packages"])  # type: ignore[index]
    assert listed == _folders(REPO, "demo")
