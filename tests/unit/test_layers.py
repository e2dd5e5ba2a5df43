"""The layering rule of `make lint` (tests/layers.py) holds here and catches what breaks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import layers

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_repository_keeps_the_layering() -> None:
    assert [str(v) for v in layers.check(REPO)] == []


def test_an_upward_import_is_reported_with_its_place(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "schemas/ok.py": "import json\n",
            "sinks/query.py": (
                "from meshpipe.schemas.ok import x\nfrom meshpipe.streams.rows import Row\n"
            ),
        },
    )
    [violation] = layers.check(root)
    assert violation.path == Path("sinks/query.py")
    assert violation.line == 2
    assert "sinks/ may not import `meshpipe.streams.rows`" in violation.message


def test_a_lazy_upward_import_inside_a_function_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"proxy/main.py": "def f() -> None:\n    import meshpipe.cli.exit\n"})
    assert [v.line for v in layers.check(root)] == [2]


def test_an_uninstalled_name_and_a_repository_only_package_are_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"cli/a.py": "from proxy import server\nimport bench.procs\n"})
    messages = [v.message for v in layers.check(root)]
    assert "import `meshpipe.proxy`" in messages[0]
    assert "repository-only `bench`" in messages[1]


def test_tests_and_bench_may_import_every_part(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {"bench/a.py": "import meshpipe.demo.web\n", "tests/t.py": "import meshpipe.cli.exit\n"},
    )
    assert layers.check(root) == []


def test_the_lint_command_fails_on_an_upward_import(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"schemas/a.py": "from meshpipe.sinks.client import NativeClient\n"})
    lint = [sys.executable, str(REPO / "tests" / "layers.py"), str(root)]
    result = subprocess.run(lint, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "schemas/a.py:1: schemas/ may not import `meshpipe.sinks.client`" in result.stderr
    clean = subprocess.run([*lint[:2], str(REPO)], capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stderr
