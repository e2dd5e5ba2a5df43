"""The operator releases in deploy/operators.py are the ones deploy/mesh/README.md names."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshpipe.deploy.operators import ALTINITY, STRIMZI, STRIMZI_FIRST_V1, STRIMZI_KAFKA_VERSION

README = Path(__file__).resolve().parents[2] / "deploy" / "mesh" / "README.md"


@pytest.mark.parametrize(
    "fact",
    [
        f"| {STRIMZI.name} | {STRIMZI.version} | `{STRIMZI.api_version}` |",
        f"| {ALTINITY.name} | {ALTINITY.version} | `{ALTINITY.api_version}` |",
        f"serves v1 since {STRIMZI_FIRST_V1}",
        f"`--with-kafka-cluster` is {STRIMZI_KAFKA_VERSION}",
        f"~/.cache/meshpipe/crds/strimzi-{STRIMZI.version}/",
    ],
)
def test_mesh_readme_names_the_targeted_operator_release(fact: str) -> None:
    assert fact in README.read_text(), f"deploy/mesh/README.md should say: {fact}"
