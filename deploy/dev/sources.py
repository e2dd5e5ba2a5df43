"""The files a build reads: what git knows of the work tree, plus the built package data; and a
copy of them, as a clean clone would have them, for builds that must leave the tree alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from meshpipe.deploy.dev.procs import DevStackError

# Package data that `make assets` builds and git ignores (the dashboard's browser libraries from
# npm); the wheels must carry it.
BUILT_PACKAGE_DATA = ("dashboard/static/vendor",)


def source_files(repo: Path) -> list[str]:
    """The files git knows in repo (tracked, or new and not ignored), relative names."""
    listing = ["git", "-C", str(repo), "ls-files", "--cached", "--others", "--exclude-standard"]
    result = subprocess.run(listing, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise DevStackError(f"images are built from a git checkout of meshpipe; {repo} is not one")
    return [name for name in result.stdout.splitlines() if (repo / name).is_file()]


def built_package_files(repo: Path) -> list[str]:
    """The files of BUILT_PACKAGE_DATA, relative names; refuses when one folder is empty."""
    names: list[str] = []
    for folder in BUILT_PACKAGE_DATA:
        built = sorted(p for p in (repo / folder).glob("**/*") if p.is_file())
        if not built:
            raise DevStackError(f"{folder} is empty: run `make assets` (the wheel carries it)")
        names.extend(str(p.relative_to(repo)) for p in built)
    return names


def copy_source(repo: Path, dest: Path) -> None:
    """The files git knows copied to dest, as a clean clone would have them, plus the built
    package data (BUILT_PACKAGE_DATA): builds from the copy leave nothing in the work tree."""
    for name in [*source_files(repo), *built_package_files(repo)]:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, dest / name)
