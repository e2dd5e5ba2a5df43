"""Deployment material: Kafka topic spec and local runner, mesh manifests."""
