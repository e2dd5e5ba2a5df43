"""Generates the demo's protobuf and gRPC Python code and type stubs into demo/gen, reproducibly."""

from __future__ import annotations

import sys
from pathlib import Path

PROTO = Path(__file__).resolve().parent / "proto" / "emojivoto.proto"
REPO_ROOT = Path(__file__).resolve().parent.parent
GEN_PACKAGE = "demo/gen"  # the import path the generated modules live under


class CodegenError(RuntimeError):
    """protoc rejected the demo's contract."""


def generate(out_root: Path) -> list[Path]:
    """Write demo/gen/* under out_root (the repository root for real); return the files."""
    from grpc_tools import protoc

    out_root.mkdir(parents=True, exist_ok=True)
    plugins = Path(sys.executable).parent
    # The virtual include path makes protoc name the file demo/gen/emojivoto.proto, so the
    # generated gRPC module imports its messages as `demo.gen.emojivoto_pb2`.
    args = [
        "grpc_tools.protoc",
        f"-I{GEN_PACKAGE}={PROTO.parent}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        str(PROTO),
    ]
    if protoc.main(args) != 0:
        raise CodegenError(f"protoc failed for {PROTO}")
    gen = out_root / GEN_PACKAGE
    (gen / "__init__.py").write_text('"""Generated demo code; run `python -m demo.codegen`."""\n')
    return sorted(p for p in gen.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def main() -> int:
    for path in generate(REPO_ROOT):
        sys.stdout.write(f"{path.relative_to(REPO_ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
