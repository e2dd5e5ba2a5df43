"""Images are rebuilt only when what they are made of changed (the key ensure_images caches by)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from meshpipe.deploy.dev.images import ImageBuildSettings, source_digest


def _repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "a.py").write_text("x = 1\n")
    (path / ".gitignore").write_text("build/\n")
    return path


def test_the_digest_follows_source_files_but_not_ignored_ones(tmp_path: Path) -> None:
    settings = ImageBuildSettings(repo=_repo(tmp_path / "repo"), out_dir=tmp_path / "out")
    first = source_digest(settings)
    assert source_digest(settings) == first
    (settings.repo / "build").mkdir()
    (settings.repo / "build" / "junk").write_text("ignored")
    assert source_digest(settings) == first
    (settings.repo / "a.py").write_text("x = 2\n")
    assert source_digest(settings) != first


def test_the_digest_names_the_targets(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    one = ImageBuildSettings(repo=repo, targets=("meshproxy",))
    two = ImageBuildSettings(repo=repo, targets=("meshproxy", "meshpipe-demo"))
    assert source_digest(one) != source_digest(two)


def test_tests_and_docs_do_not_rebuild_the_images(tmp_path: Path) -> None:
    settings = ImageBuildSettings(repo=_repo(tmp_path / "repo"), out_dir=tmp_path / "out")
    first = source_digest(settings)
    for folder in ("tests", "docs", "bench"):
        (settings.repo / folder).mkdir()
        (settings.repo / folder / "x.py").write_text("changed = True\n")
    assert source_digest(settings) == first
