"""The wheels' source copy: what git knows, plus the built package data git ignores."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.sources import BUILT_PACKAGE_DATA, copy_source


def _repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".gitignore").write_text("/dashboard/static/vendor/\n*.log\n")
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "noise.log").write_text("ignored")
    return root


def test_the_copy_carries_the_built_assets_git_ignores(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    [folder] = BUILT_PACKAGE_DATA
    (repo / folder).mkdir(parents=True)
    (repo / folder / "cytoscape.min.js").write_text("built")
    dest = tmp_path / "copy"
    dest.mkdir()
    copy_source(repo, dest)
    assert (dest / folder / "cytoscape.min.js").read_text() == "built"
    assert (dest / "pyproject.toml").exists()
    assert not (dest / "noise.log").exists()


def test_a_copy_without_the_built_assets_says_to_make_them(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    dest = tmp_path / "copy"
    dest.mkdir()
    with pytest.raises(DevStackError, match="make assets"):
        copy_source(repo, dest)
