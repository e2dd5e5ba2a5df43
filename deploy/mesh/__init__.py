"""Kubernetes material: sidecar injection, the proxy init spec, control-plane manifests, Grafana."""
