"""The compiled build (setup.py with MESHPIPE_COMPILE=1), made once per state of its sources: the
wheel under build/compiled/<digest>/ and virtual environments that install it.

The benchmark, the tests and `make images` take the wheel from here, so one run compiles once
(about 70 s on two cores) and later runs reuse it until a file the wheel carries, setup.py,
pyproject.toml, the Python version or mypy's changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.dev.rootfs import run_tool
from meshpipe.deploy.dev.sources import built_package_files, copy_source, source_files

Log = Callable[[str], None]
REPO = Path(__file__).resolve().parents[2]
SWITCH = "MESHPIPE_COMPILE"
# What decides the compiled wheel besides the staged parts' sources.
_BUILD_FILES = ("setup.py", "pyproject.toml")


def images_compiled() -> bool:
    """Whether the images carry the compiled build: yes, unless the environment asks for the
    pure one (MESHPIPE_COMPILE=0). Users run the images, so they get the faster sidecar; a wheel
    built by pip stays pure unless MESHPIPE_COMPILE=1 asks (setup.py)."""
    return os.environ.get(SWITCH, "") != "0"


@dataclass(frozen=True)
class CompileConfig:
    """pyproject.toml's [tool.meshpipe.compile]: what setup.py compiles."""

    modules: tuple[str, ...]  # paths under the namespace, e.g. proxy/http1.py
    parts: tuple[str, ...]  # folders staged for mypy to read
    group_name: str  # the shared runtime's module is GROUP__mypyc

    @classmethod
    def read(cls, repo: Path = REPO) -> CompileConfig:
        section = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["meshpipe"]
        config = section["compile"]
        return cls(tuple(config["modules"]), tuple(config["parts"]), str(config["group_name"]))

    @property
    def module_names(self) -> tuple[str, ...]:
        """The compiled modules' import names (meshpipe.proxy.http1, ...)."""
        return tuple("meshpipe." + m.removesuffix(".py").replace("/", ".") for m in self.modules)

    @property
    def runtime_module(self) -> str:
        return f"{self.group_name}__mypyc"


def wheel_sources(repo: Path = REPO) -> list[str]:
    """The files the compiled wheel is made from: every folder of the namespace it carries (not
    only the compiled parts: cli/, deploy/ and dashboard/ with its built assets ride along, and
    the images install them from this wheel), documents left out, and the build files."""
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]
    folders = tuple(sorted({f"{name.split('.')[1]}/" for name in packages}))
    names = [
        n
        for n in source_files(repo)
        if (n.startswith(folders) and not n.endswith(".md")) or n in _BUILD_FILES
    ]
    return names + built_package_files(repo)


def sources_digest(repo: Path = REPO, python: str = sys.executable) -> str:
    """sha256 over what the compiled wheel is made from (wheel_sources: names and contents), the
    Python version and mypy's version."""
    names = wheel_sources(repo)
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(f"{name}\0".encode())
        digest.update(hashlib.sha256((repo / name).read_bytes()).digest())
    versions = [
        python,
        "-c",
        "import sys, mypy.version; print(sys.version, mypy.version.__version__)",
    ]
    digest.update(run_tool(versions, "reading the Python and mypy versions").encode())
    return digest.hexdigest()[:16]


def cache_dir(repo: Path = REPO, python: str = sys.executable) -> Path:
    """build/compiled/<digest>: the wheel and the venvs of the current sources."""
    return repo / "build" / "compiled" / sources_digest(repo, python)


def compiled_wheel(repo: Path = REPO, python: str = sys.executable, log: Log = print) -> Path:
    """The compiled meshpipe wheel of repo's current sources, built (from a copy of the files git
    knows, so the work tree gets nothing) when the cache has none."""
    home = cache_dir(repo, python)
    if found := sorted(home.glob("meshpipe-*.whl")):
        return found[0]
    log(f"compiling the sidecar's modules with mypyc into {home} (about a minute or two)")
    with tempfile.TemporaryDirectory(prefix="meshpipe-compile-") as tmp:
        source, out = Path(tmp) / "source", Path(tmp) / "dist"
        copy_source(repo, source)
        env = {**os.environ, SWITCH: "1"}
        build: list[str | Path] = [python, "-m", "build", "--wheel", "--no-isolation"]
        build += ["--outdir", out, source]
        run_tool(build, "building the compiled wheel", env)
        [wheel] = out.glob("meshpipe-*.whl")
        if wheel.name.endswith("-none-any.whl"):
            raise DevStackError(f"{SWITCH}=1 built a pure wheel ({wheel.name})")
        home.mkdir(parents=True, exist_ok=True)
        partial = home / f".{wheel.name}"
        shutil.copy2(wheel, partial)
        partial.rename(home / wheel.name)  # whole or absent, for a run that stops halfway
    for stale in home.parent.iterdir():  # earlier source states' wheels and venvs
        if stale != home and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return home / wheel.name


def compiled_venv(
    extras: str,
    also: Sequence[str] = (),
    repo: Path = REPO,
    python: str = sys.executable,
    log: Log = print,
) -> Path:
    """build/compiled/<digest>/venv-<extras>: a virtual environment with the compiled wheel and
    `meshpipe[extras]` (and the requirements in also), at the versions python's environment
    has; made once, and again when those versions change. Returns its bin directory."""
    wheel = compiled_wheel(repo, python, log)
    label = "-".join([extras.replace(",", "-"), *(a.split("=")[0].split("<")[0] for a in also)])
    root = wheel.parent / f"venv-{label}"
    done = root / ".complete"
    pins = _pins(python)
    stamp = f"{wheel.name}\n{pins}"  # the venv is stale once python's environment moved on
    if done.exists() and done.read_text() == stamp:
        return root / "bin"
    if root.exists():
        shutil.rmtree(root)
    run_tool([python, "-m", "venv", root], "making the compiled venv")
    constraints = root / "constraints.txt"
    constraints.write_text(pins)
    pip: list[str | Path] = [root / "bin" / "python", "-m", "pip", "install", "-q"]
    pip += ["--constraint", constraints]
    run_tool([*pip, f"meshpipe[{extras}] @ {wheel.as_uri()}", *also], "installing the wheel")
    done.write_text(stamp)
    return root / "bin"


def _pins(python: str) -> str:
    """`name==version` of python's environment (editables left out): the venv gets the same."""
    freeze = [python, "-m", "pip", "freeze", "--exclude-editable"]
    result = subprocess.run(freeze, capture_output=True, text=True, check=True)  # noqa: S603
    lines = [line for line in result.stdout.splitlines() if "==" in line and " @ " not in line]
    return "".join(f"{line}\n" for line in lines)
