"""The local dev stack and process supervision: Apache Kafka and ClickHouse run on loopback for
`meshctl dev`, the demo, tests and benchmarks. The runtime CLIs (meshproxy, meshstreams,
meshstat, meshtap) never import this package."""
