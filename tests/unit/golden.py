"""Golden-file comparison for meshctl tests; MESHPIPE_UPDATE_GOLDEN=1 rewrites the files."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
# `meshctl install` flags by golden file (tests/golden/install/<name>.yaml): every option that
# changes which objects are written. The manifest-validation test renders the same variants.
INSTALL_VARIANTS = {
    "default": [],
    "clickhouse-operator": ["--clickhouse-operator", "--namespace", "observability"],
    "external-kafka": ["--kafka-bootstrap", "kafka-0.kafka:9092,kafka-1.kafka:9092"],
    "with-kafka-cluster": ["--with-kafka-cluster", "--streams-replicas", "3"],
    "dev-cluster": ["--dev-cluster"],
}


def check_golden(path: Path, actual: str) -> None:
    """Assert actual equals the golden file (or rewrite it when the update flag is set)."""
    if os.environ.get("MESHPIPE_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} missing: run with MESHPIPE_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path} differs; MESHPIPE_UPDATE_GOLDEN=1 rewrites it after review"
