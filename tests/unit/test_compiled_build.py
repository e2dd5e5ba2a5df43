"""The compiled build's rules that hold without compiling: what pyproject lists exists, setup.py
refuses loudly what it cannot do, and the listed modules avoid what mypyc compiles differently.

tests/integration/test_compiled_wheel.py builds the compiled wheel and runs it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshpipe.deploy.dev.compiled import CompileConfig, sources_digest

REPO = Path(__file__).resolve().parents[2]
CONFIG = CompileConfig.read(REPO)


def _setup_py(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """setup.py run as a build backend would, with env added; it stops before building."""
    return subprocess.run(
        [sys.executable, "setup.py", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_every_listed_module_exists_once_inside_a_staged_part() -> None:
    assert len(set(CONFIG.modules)) == len(CONFIG.modules)
    for module in CONFIG.modules:
        assert (REPO / module).is_file(), module
        assert module.split("/")[0] in CONFIG.parts, module


def test_the_shared_runtime_is_named_inside_a_part_of_the_namespace() -> None:
    namespace, part, _ = CONFIG.group_name.split(".")
    assert (namespace, part in CONFIG.parts) == ("meshpipe", True)


def test_the_work_tree_holds_no_compiled_module_beside_its_source() -> None:
    # The editable install runs these folders: an extension here would shadow the .py.
    assert [p for part in CONFIG.parts for p in (REPO / part).rglob("*.so")] == []


def _repo_with_a_wheel(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    pyproject = (
        '[tool.setuptools]\npackages = ["meshpipe.proxy", "meshpipe.cli", "meshpipe.dashboard"]\n'
        '[tool.meshpipe.compile]\nmodules = ["proxy/relay.py"]\nparts = ["proxy"]\n'
        'group_name = "meshpipe.proxy.compiled"\n'
    )
    for name, text in {
        "pyproject.toml": pyproject,
        "proxy/relay.py": "x = 1\n",
        "cli/meshproxy.py": "y = 1\n",
        "dashboard/static/vendor/lib.min.js": "var a;\n",  # `make assets`: built, not tracked
        "tests/unit/test_x.py": "z = 1\n",
        "bench/run.py": "w = 1\n",
    }.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def test_the_compiled_wheel_is_rebuilt_when_any_file_it_carries_changes(tmp_path: Path) -> None:
    # The images install cli/, deploy/ and dashboard/ from the compiled wheel too: a cached wheel
    # keyed on the compiled parts alone would put stale commands into them.
    repo = _repo_with_a_wheel(tmp_path)
    before = sources_digest(repo)
    for name in ("tests/unit/test_x.py", "bench/run.py"):
        (repo / name).write_text("changed = 1\n")
        assert sources_digest(repo) == before, name
    for name in ("proxy/relay.py", "cli/meshproxy.py", "dashboard/static/vendor/lib.min.js"):
        (repo / name).write_text("changed = 1\n")
        after = sources_digest(repo)
        assert after != before, name
        before = after


def test_asked_to_compile_an_editable_install_refuses_in_one_line() -> None:
    done = _setup_py("editable_wheel", MESHPIPE_COMPILE="1")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "MESHPIPE_COMPILE=1: an editable install stays pure Python; build a wheel instead"
    )


def test_asked_to_compile_without_a_c_compiler_says_so() -> None:
    done = _setup_py("build_ext", MESHPIPE_COMPILE="1", CC="/nonexistent/cc")
    assert done.returncode != 0
    assert "MESHPIPE_COMPILE=1: cannot compile without a C compiler (/nonexistent/cc" in done.stderr
    assert not (REPO / "proxy" / "http1.c").exists()


def test_an_unknown_switch_value_is_refused_not_taken_for_pure() -> None:
    done = _setup_py("bdist_wheel", MESHPIPE_COMPILE="yes")
    assert done.returncode != 0
    assert "MESHPIPE_COMPILE=1: unknown value 'yes'" in done.stderr


def _except_names(path: Path) -> list[str]:
    """Functions of path that bind one `except ... as NAME` to two different exception types."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        types: dict[str, set[str]] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.ExceptHandler) and node.name and node.type is not None:
                types.setdefault(node.name, set()).add(ast.unparse(node.type))
        found += [f"{path.name}:{fn.lineno} {n}" for n, t in types.items() if len(t) > 1]
    return found


@pytest.mark.parametrize("module", CONFIG.modules)
def test_a_compiled_module_names_each_caught_exception_type_differently(module: str) -> None:
    # mypyc gives `except A as e` ... `except B as e` in one function the first clause's type:
    # a B then fails with TypeError instead of being handled.
    assert _except_names(REPO / module) == []
