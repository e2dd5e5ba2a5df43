"""Deployment material: the Kafka topic spec and Strimzi resources (kafka/), Kubernetes manifests,
inject, check and Grafana (mesh/), and the local dev stack with process supervision (dev/)."""
