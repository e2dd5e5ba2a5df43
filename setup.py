"""The opt-in compiled build: with MESHPIPE_COMPILE=1 a wheel build compiles the modules that
pyproject.toml's [tool.meshpipe.compile] lists with mypyc; without it the build is pure Python.

Everything else about the distribution (name, packages, data, extras) is in pyproject.toml.
mypyc names a module after its path, and this repository's root *is* the `meshpipe` package
(package-dir {"meshpipe" = "."}), so the parts are staged under build/mypyc/src/meshpipe/ and
compiled from there. The generated C lands in build/mypyc/c/. Editable installs never compile:
an extension next to its .py would run stale code after the next edit.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup

ROOT = Path(__file__).resolve().parent
SWITCH = "MESHPIPE_COMPILE"
# Commands that build extensions; metadata-only runs (egg_info, dist_info) skip the C generation.
_BUILDING = frozenset({"bdist_wheel", "build", "build_ext", "install"})
_EDITABLE = frozenset({"editable_wheel", "develop"})


class CompileError(SystemExit):
    """Asked to compile and cannot: the build stops with one line saying what is missing."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{SWITCH}=1: {message}")


def _compile_config() -> dict[str, Any]:
    """pyproject.toml's [tool.meshpipe.compile]: requires, group_name, parts, modules."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    config: dict[str, Any] = pyproject["tool"]["meshpipe"]["compile"]
    return config


def _missing_tools() -> list[str]:
    """What compiling needs and this machine lacks: mypyc, a C compiler, Python's headers."""
    missing = []
    try:
        import mypyc.build  # noqa: F401
    except ImportError:
        missing.append("mypyc (pip install mypy, or build with pip's default build isolation)")
    # The compiler setuptools will call: $CC when set, else the one Python was built with.
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")[0]
    if shutil.which(compiler) is None:
        missing.append(f"a C compiler ({compiler}; Debian: apt-get install gcc)")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        missing.append(f"Python's C headers ({headers}; Debian: apt-get install python3-dev)")
    return missing


def _stage(config: dict[str, Any]) -> tuple[Path, list[str]]:
    """A copy of the parts mypy must read under build/mypyc/src/meshpipe/; returns the staging
    root and the staged paths of the modules to compile."""
    stage = ROOT / "build" / "mypyc"
    src = stage / "src"
    if src.exists():
        shutil.rmtree(src)
    for part in config["parts"]:
        shutil.copytree(
            ROOT / part, src / "meshpipe" / part, ignore=shutil.ignore_patterns("__pycache__")
        )
    # Relative to the stage (mypyc runs there): mypyc writes these paths into the extension for
    # its tracebacks, and an absolute one (a temporary build directory) would make every compile
    # of the same sources, and so every image built from it, differ in bytes.
    modules = [f"src/meshpipe/{name}" for name in config["modules"]]
    for path in modules:
        if not (stage / path).is_file():
            raise CompileError(f"{path} is listed in [tool.meshpipe.compile] but does not exist")
    ini = stage / "mypy.ini"
    ini.write_text(
        "[mypy]\n"
        "python_version = 3.11\n"
        f"mypy_path = {src}\n"
        "explicit_package_bases = True\n"
        "namespace_packages = True\n"
        "ignore_missing_imports = True\n"
        f"cache_dir = {stage / 'mypy_cache'}\n"
    )
    return stage, modules


def _extensions() -> list[Any]:
    if os.environ.get(SWITCH, "") in ("", "0"):
        return []
    if os.environ[SWITCH] != "1":
        raise CompileError(f"unknown value {os.environ[SWITCH]!r} (1 compiles; unset or 0: pure)")
    if _EDITABLE.intersection(sys.argv):
        raise CompileError("an editable install stays pure Python; build a wheel instead")
    if not _BUILDING.intersection(sys.argv):
        return []
    if missing := _missing_tools():
        raise CompileError("cannot compile without " + "; ".join(missing))
    from mypyc.build import mypycify

    config = _compile_config()
    stage, modules = _stage(config)
    previous = Path.cwd()
    os.chdir(stage)  # mypyc writes its C under the working directory's target_dir
    try:
        extensions = mypycify(
            ["--config-file", str(stage / "mypy.ini"), *modules],
            opt_level=str(config.get("opt_level", "3")),
            debug_level="0",  # no C debug info: the sidecar image has a size aim
            group_name=str(config["group_name"]),
            target_dir=str(stage / "c"),
        )
    finally:
        os.chdir(previous)
    for extension in extensions:
        extension.extra_link_args.append("-Wl,--strip-all")  # keeps the dynamic PyInit_ symbols
    return extensions


def _build_requires() -> list[str]:
    """mypy (it ships mypyc) is a build requirement only of compiled builds."""
    if os.environ.get(SWITCH, "") in ("", "0"):
        return []
    return [str(_compile_config()["requires"])]


setup(ext_modules=_extensions(), setup_requires=_build_requires())
