"""Generates the demo's protobuf and gRPC Python code and type stubs into demo/gen, reproducibly."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from meshpipe.schemas.codegen import generated_files, run_protoc

PROTO = Path(__file__).resolve().parent / "proto" / "emojivoto.proto"
GEN_DIR = Path(__file__).resolve().parent / "gen"
GEN_PACKAGE = "meshpipe/demo/gen"  # the import path the generated modules live under


def generate(out_root: Path) -> list[Path]:
    """Write meshpipe/demo/gen/* under out_root; return the files."""
    out_root.mkdir(parents=True, exist_ok=True)
    plugins = Path(sys.executable).parent
    # The virtual include path makes protoc name the file demo/gen/emojivoto.proto, so the
    # generated gRPC module imports its messages as `meshpipe.demo.gen.emojivoto_pb2`.
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
    (gen / "__init__.py").write_text(
        '"""Generated demo code; run `python -m meshpipe.demo.codegen`."""\n'
    )
    return generated_files(gen)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / GEN_PACKAGE
        generate(Path(tmp))
        shutil.rmtree(GEN_DIR, ignore_errors=True)
        shutil.copytree(fresh, GEN_DIR, ignore=shutil.ignore_patterns("__pycache__"))
    for path in generated_files(GEN_DIR):
        sys.stdout.write(f"demo/gen/{path.relative_to(GEN_DIR)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
