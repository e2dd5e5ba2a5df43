"""Kafka: the one topic specification and the local single-node broker runner."""
