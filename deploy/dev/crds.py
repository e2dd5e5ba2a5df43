"""Fetches the CRDs of the operator releases in meshpipe.deploy.operators into the cache, and
reads back the schema of the API version meshpipe writes."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from meshpipe.deploy.dev.jvm import find_java, require_maven, run_maven
from meshpipe.deploy.dev.procs import DevStackError
from meshpipe.deploy.operators import STRIMZI

# The kinds whose CRDs are generated, and the Strimzi API class each one comes from.
STRIMZI_MODEL = {
    "Kafka": "io.strimzi.api.kafka.model.kafka.Kafka",
    "KafkaNodePool": "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
    "KafkaTopic": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "KafkaUser": "io.strimzi.api.kafka.model.user.KafkaUser",
}
STRIMZI_MIN_JAVA = 21  # Strimzi 1.x's jars are Java 21 class files
# The generator's arguments in Strimzi's own build of its install CRDs (api/pom.xml), so the
# files equal packaging/install/cluster-operator/04*-Crd-*.yaml of the release.
_GENERATOR = "io.strimzi.crdgenerator.CrdGenerator"
_GENERATOR_ARGS = [
    "--label", "app:strimzi", "--label", "strimzi.io/crd-install:true",
    "--target-kube", "1.16+", "--crd-api-version", "v1",
    "--api-versions", "v1", "--storage-version", "v1", "--yaml",
]  # fmt: skip
_HOW = "run `make setup` or `meshctl dev fetch`"


def strimzi_crd_dir(cache_dir: Path) -> Path:
    return cache_dir / "crds" / f"strimzi-{STRIMZI.version}"


def fetch_strimzi_crds(cache_dir: Path) -> Path:
    """Generate the targeted Strimzi release's CRDs from its Maven Central jars (once)."""
    out = strimzi_crd_dir(cache_dir)
    stamp = out / ".complete"
    if stamp.exists():
        return out
    mvn = require_maven()
    java = find_java(STRIMZI_MIN_JAVA, f"Strimzi {STRIMZI.version}'s CRD generator")
    pom = Path(str(resources.files("meshpipe.deploy.kafka").joinpath("strimzi-api.pom.xml")))
    sys.stderr.write(
        f"generating Strimzi {STRIMZI.version}'s CRDs from its Maven Central jars into {out} "
        "(first run only)\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    classpath = out / "classpath.txt"  # the jars in the local Maven repository, ':'-separated
    argv = [
        mvn, "-B", "-f", str(pom), "dependency:build-classpath",
        f"-Dstrimzi.version={STRIMZI.version}", "-DexcludeTransitive=true",
        f"-Dmdep.outputFile={classpath}",
    ]  # fmt: skip
    try:
        run_maven(argv, f"Strimzi {STRIMZI.version} jars")
    except DevStackError as exc:
        raise DevStackError(f"{exc} (Maven Central unreachable? then {_HOW} later)") from None
    targets = [f"{model}={out / f'{kind}.yaml'}" for kind, model in STRIMZI_MODEL.items()]
    argv = [java, "-cp", classpath.read_text().strip(), _GENERATOR, *_GENERATOR_ARGS, *targets]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DevStackError(f"generating Strimzi {STRIMZI.version}'s CRDs failed: {last[0]}")
    stamp.write_text(STRIMZI.version + "\n")
    return out


def load_strimzi_crds(cache_dir: Path) -> dict[str, dict[str, Any]]:
    """The fetched CRDs by kind; a one-line error saying how to fetch them when absent."""
    out = strimzi_crd_dir(cache_dir)
    if not (out / ".complete").exists():
        raise DevStackError(f"Strimzi {STRIMZI.version}'s CRDs are not in {out}: {_HOW}")
    return {kind: yaml.safe_load((out / f"{kind}.yaml").read_text()) for kind in STRIMZI_MODEL}


def version_schema(crd: dict[str, Any], version: str) -> dict[str, Any]:
    """`spec.versions[name == version].schema.openAPIV3Schema`; KeyError when not served."""
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry.get("served", True):
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{crd['metadata']['name']} serves no {version}")
