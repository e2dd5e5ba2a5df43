"""The wheels install as users get them: one `meshpipe` namespace, extras per deployed part.

Builds both distributions (meshpipe and meshpipe-demo) and installs them into fresh virtual
environments: one with the sidecar's extra only, one with everything. Packages come from PyPI
(pip's cache makes that quick after `make setup`).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from meshpipe.deploy.dev.sources import copy_source

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)


def _run(argv: Sequence[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [str(a) for a in argv], capture_output=True, text=True, check=False, **kwargs
    )


def _ok(argv: Sequence[str | Path]) -> str:
    result = _run(argv)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both wheels, built from a copy of the files git knows (as from a clean clone), so the
    build leaves nothing in the work tree."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    copy_source(REPO, source)
    for project in (source, source / "demo"):
        _ok([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, project])
    return out


def _wheel(dist: Path, name: str) -> Path:
    [wheel] = dist.glob(f"{name}-*.whl")
    return wheel


def _venv(root: Path, *requirements: str, find_links: Path) -> Path:
    _ok([sys.executable, "-m", "venv", root])
    pip = [root / "bin" / "python", "-m", "pip", "install", "-q", "--find-links", find_links]
    _ok([*pip, *requirements])
    return root / "bin"


@pytest.fixture(scope="module")
def sidecar_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = _wheel(dist, "meshpipe")
    return _venv(
        tmp_path_factory.mktemp("sidecar"), f"meshpipe[proxy] @ {wheel.as_uri()}", find_links=dist
    )


def test_the_wheel_holds_one_namespace_and_no_benchmarks_demo_or_test_helpers(dist: Path) -> None:
    wheel = _wheel(dist, "meshpipe")
    assert wheel.name.endswith("-py3-none-any.whl")  # pure unless MESHPIPE_COMPILE=1 (setup.py)
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in names if n.endswith(".so")] == []
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"meshpipe", "meshpipe-0.1.0.dist-info"}
    assert not [n for n in names if n.startswith("meshpipe/__init__")]  # a namespace package
    parts = {n.split("/")[1] for n in names if n.startswith("meshpipe/")}
    assert parts == {"schemas", "proxy", "sinks", "streams", "deploy", "cli", "dashboard"}
    unwanted = ("bench", "results/", "demo/", "grafana_sql", "generate.py", "/tests/")
    assert [n for n in names if any(u in n for u in unwanted)] == []
    # What the running parts read as package data is there.
    for data in (
        "meshpipe/deploy/kafka/topics.yaml",
        "meshpipe/deploy/kafka/pom.xml",
        "meshpipe/deploy/mesh/clickhouse/users.xml",
        "meshpipe/dashboard/static/index.html",
        "meshpipe/dashboard/static/vendor/uPlot.iife.min.js",
        "meshpipe/dashboard/static/vendor/cytoscape.min.js",
        "meshpipe/schemas/gen/meshpipe/v1/meshpipe_pb2.py",
        "meshpipe/deploy/images/Containerfile",
    ):
        assert data in names
    assert [n for n in names if n.startswith("meshpipe/deploy/mesh/grafana/")]


def test_the_demo_wheel_holds_only_the_demo(dist: Path) -> None:
    names = zipfile.ZipFile(_wheel(dist, "meshpipe_demo")).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"meshpipe", "meshpipe_demo-0.1.0.dist-info"}
    assert {n.split("/")[1] for n in names if n.startswith("meshpipe/")} == {"demo"}


def test_the_sidecar_extra_runs_meshproxy_and_installs_nothing_else(sidecar_venv: Path) -> None:
    assert "meshproxy" in _ok([sidecar_venv / "meshproxy", "--help"])
    installed = _ok([sidecar_venv / "python", "-m", "pip", "list", "--format=freeze"]).lower()
    others = ("faust", "clickhouse-driver", "kubernetes", "grpcio", "pyyaml", "meshpipe-demo")
    for absent in (*others, "h2", "hyperframe"):  # the relay needs hpack, not h2
        assert f"\n{absent}==" not in f"\n{installed}"
    _ok([sidecar_venv / "python", "-c", "import meshpipe.proxy.server, meshpipe.cli.meshproxy"])


@pytest.mark.parametrize("name", ["proxy", "cli", "bench", "schemas", "demo", "streams"])
def test_no_generic_top_level_package_is_installed(sidecar_venv: Path, name: str) -> None:
    result = _run([sidecar_venv / "python", "-c", f"import {name}"], cwd="/")
    assert result.returncode != 0
    assert "ModuleNotFoundError" in result.stderr


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["meshstreams", "--help"], "streams"),  # faust, at import
        (["meshtap", "deploy/web"], "cli"),  # yaml, at import
        (["meshstat", "deploy"], "cli"),  # clickhouse_driver, when it connects
    ],
)
def test_a_command_without_its_extra_says_which_extra_in_one_line(
    sidecar_venv: Path, argv: list[str], extra: str
) -> None:
    result = _run([sidecar_venv / argv[0], *argv[1:]])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"{argv[0]}: the Python module")
    assert f"pip install 'meshpipe[{extra}]'" in result.stderr


def test_everything_installs_and_every_console_script_starts(
    dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    wheel = _wheel(dist, "meshpipe")
    bin_dir = _venv(
        tmp_path_factory.mktemp("all"), f"meshpipe[all] @ {wheel.as_uri()}", find_links=dist
    )
    for command in ("meshctl", "meshstat", "meshtap", "meshproxy", "meshstreams"):
        assert "Usage:" in _ok([bin_dir / command, "--help"])
    assert "emoji-voting demo" in _ok([bin_dir / "meshctl", "demo", "--help"])
