"""Generates the Python code and type stubs for the protobuf contract, reproducibly."""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent / "proto"
GEN_ROOT = Path(__file__).resolve().parent / "gen"
PROTO_FILES = ("meshpipe/v1/meshpipe.proto",)
PACKAGE_DIRS = ("", "meshpipe", "meshpipe/v1")


class CodegenError(RuntimeError):
    """protoc rejected the contract."""


def generate(out_dir: Path) -> list[Path]:
    """Write generated modules, stubs and package markers under out_dir; return the files."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    # grpc_tools ships the well-known types (timestamp.proto) beside its own module.
    well_known = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={Path(sys.executable).parent / 'protoc-gen-mypy'}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        *(str(PROTO_ROOT / name) for name in PROTO_FILES),
    ]
    run_protoc(args, ", ".join(PROTO_FILES))
    for package in PACKAGE_DIRS:
        marker = out_dir / package / "__init__.py"
        marker.write_text('"""Generated protobuf code; run `make proto` to refresh."""\n')
    return generated_files(out_dir)


def run_protoc(args: list[str], what: str) -> None:
    """Run grpc_tools' protoc with argv-style args; a failure is a CodegenError naming what."""
    from grpc_tools import protoc

    if protoc.main(args) != 0:
        raise CodegenError(f"protoc failed for {what}")


def generated_files(root: Path) -> list[Path]:
    """Every file under root, sorted, without bytecode caches."""
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def main() -> int:
    for path in generate(GEN_ROOT):
        sys.stdout.write(f"{path.relative_to(GEN_ROOT.parent.parent)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
