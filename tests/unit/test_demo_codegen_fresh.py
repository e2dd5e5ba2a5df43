"""Checks that the generated demo code in demo/gen matches demo/proto/emojivoto.proto."""

from __future__ import annotations

from pathlib import Path

from meshpipe.demo.codegen import GEN_DIR, GEN_PACKAGE, generate


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_demo_code_matches_the_proto(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh, committed = _files(tmp_path / GEN_PACKAGE), _files(GEN_DIR)
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, (
        f"demo/gen is stale ({', '.join(stale)} differ); run `python -m meshpipe.demo.codegen`"
    )
