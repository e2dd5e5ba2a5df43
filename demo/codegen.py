"""Generates the demo's protobuf and gRPC Python code and type stubs into demo/gen, reproducibly."""

from __future__ import annotations

import sys
from pathlib import Path

from schemas.codegen import generated_files, run_protoc

PROTO = Path(__file__).resolve().parent / "proto" / "emojivoto.proto"
REPO_ROOT = Path(__file__).resolve().parent.parent
GEN_PACKAGE = "demo/gen"  # the import path the generated modules live under


def generate(out_root: Path) -> list[Path]:
    """Write demo/gen/* under out_root (the repository root for real); return the files."""
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
    run_protoc(args, str(PROTO))
    gen = out_root / GEN_PACKAGE
    (gen / "__init__.py").write_text('"""Generated demo code; run `python -m demo.codegen`."""\n')
    return generated_files(gen)


def main() -> int:
    for path in generate(REPO_ROOT):
        sys.stdout.write(f"{path.relative_to(REPO_ROOT)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
