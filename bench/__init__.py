"""Benchmarks (programs, not tests): proxy overhead next to peers, pipeline, tap and query."""
