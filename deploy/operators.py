"""The Kubernetes operators whose custom resources `meshctl install` writes, and the one place
their versions are written down: the manifests, the CRD fetcher and the docs read them here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operator:
    """An operator release meshpipe targets; api_version is what its resources are written in."""

    name: str
    version: str
    api_version: str

    @property
    def group(self) -> str:
        return self.api_version.partition("/")[0]

    @property
    def label(self) -> str:
        """How the manifests and docs name it: `Strimzi 1.2.0 (kafka.strimzi.io/v1)`."""
        return f"{self.name} {self.version} ({self.api_version})"


# Strimzi 0.49.0 introduced kafka.strimzi.io/v1; 1.0.0 and later serve nothing else. The
# resources are validated against this release's CRDs (`meshctl dev fetch` generates them).
STRIMZI = Operator("Strimzi", "1.2.0", "kafka.strimzi.io/v1")
STRIMZI_FIRST_V1 = "0.49.0"
# A Strimzi Kafka runs one of the Kafka releases its operator supports (1.2.0: 4.2.x and 4.3.x).
STRIMZI_KAFKA_VERSION = "4.3.1"

# Only for `meshctl install --clickhouse-operator`. Its CRDs cannot be fetched here: the Go
# module proxy refuses github.com/altinity/clickhouse-operator (see the manifest test).
ALTINITY = Operator("Altinity clickhouse-operator", "0.25.6", "clickhouse.altinity.com/v1")
