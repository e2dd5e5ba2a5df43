"""Reads and writes Kubernetes YAML streams, keeping key and document order (comments are lost)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

YAML_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(ValueError):
    """A manifest file cannot be read or is not valid YAML."""


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors/aliases, literal blocks for multi-line strings."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def load_documents(text: str, source: str = "<stdin>") -> list[Any]:
    """Every non-empty document of a YAML stream, in order."""
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {_one_line(exc)}") from exc


def dump_documents(docs: Iterable[Any]) -> str:
    """A multi-document YAML stream with `---` between documents."""
    return "---\n".join(dump_document(doc) for doc in docs)


def dump_document(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


def manifest_files(path: Path) -> Iterator[Path]:
    """path itself, or every YAML/JSON file under a directory (recursively, sorted)."""
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in YAML_SUFFIXES)
    elif path.exists():
        yield path
    else:
        raise ManifestError(f"{path}: no such file or directory")


def _one_line(exc: yaml.YAMLError) -> str:
    return " ".join(str(exc).split())
