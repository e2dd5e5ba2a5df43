"""Checks that the generated protobuf code in schemas/gen matches the .proto contract."""

from __future__ import annotations

from pathlib import Path

from meshpipe.schemas.codegen import GEN_ROOT, generate


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh, committed = _files(tmp_path), _files(GEN_ROOT)
    stale = sorted(
        name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name)
    )
    assert not stale, (
        f"schemas/gen is stale ({', '.join(stale)} differ); "
        "run `make proto` (or `python -m meshpipe.schemas.codegen`)"
    )
