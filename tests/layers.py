"""The import-layering rule of `make lint`: imports flow one way, contract ← parts ← cli ←
dashboard ← demo.

Each top-level folder is a part of the `meshpipe` namespace (bench/ and tests/ are not installed).
A part may import only the parts below it (ALLOWED); every first-party import names the
installed namespace (`meshpipe.proxy`, never `proxy`). Imports inside functions count too: a lazy
upward import is still an upward import. Run as `python tests/layers.py [ROOT]`; exit 1 with one
line per violation.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NAMESPACE = "meshpipe"
# What each part may import besides itself: the layers, bottom (the contract) to top.
ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "proxy": frozenset({"schemas"}),
    "sinks": frozenset({"schemas"}),
    "streams": frozenset({"schemas", "sinks"}),
    "deploy": frozenset({"schemas", "sinks"}),
    "cli": frozenset({"schemas", "proxy", "sinks", "streams", "deploy"}),
    "dashboard": frozenset({"schemas", "proxy", "sinks", "streams", "deploy", "cli"}),
    "demo": frozenset({"schemas", "proxy", "sinks", "streams", "deploy", "cli", "dashboard"}),
}
# Repository-only folders: they may import any part, and no part may import them.
REPO_ONLY = ("bench", "tests")
SKIPPED_DIRS = frozenset({"gen", "__pycache__", "golden"})


@dataclass(frozen=True)
class Violation:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def check(root: Path) -> list[Violation]:
    """Every layering violation in the Python files under root's part folders."""
    found: list[Violation] = []
    for folder in (*ALLOWED, *REPO_ONLY):
        for path in _sources(root / folder):
            found.extend(_check_file(root, folder, path))
    return found


def _sources(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*.py")):
        if not SKIPPED_DIRS.intersection(path.relative_to(folder).parts):
            yield path


def _check_file(root: Path, part: str, path: Path) -> Iterator[Violation]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for line, module in _imports(tree):
        message = _judge(part, module)
        if message is not None:
            yield Violation(path.relative_to(root), line, message)


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _judge(part: str, module: str) -> str | None:
    """Why importing module from part breaks the layering, or None when it does not."""
    head, _, rest = module.partition(".")
    if head in ALLOWED:
        return f"`{module}` is not an installed name: import `{NAMESPACE}.{module}`"
    if head in REPO_ONLY and part in ALLOWED:
        return f"{part}/ is installed; it may not import the repository-only `{head}`"
    if head != NAMESPACE or part not in ALLOWED:
        return None
    target = rest.partition(".")[0]
    if target == part or target in ALLOWED[part]:
        return None
    if target not in ALLOWED:
        return f"`{module}` is no part of meshpipe"
    allowed = ", ".join(sorted(ALLOWED[part])) or "nothing but itself"
    return f"{part}/ may not import `{module}` (upward; {part}/ may import {allowed})"


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    violations = check(root)
    for violation in violations:
        sys.stderr.write(f"{violation}\n")
    if violations:
        sys.stderr.write(
            f"layers: {len(violations)} import(s) break the layering (tests/layers.py)\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
