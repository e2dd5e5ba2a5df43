"""The meshpipe data contract: protobuf messages (schemas.gen) and the small domain helpers every
side shares: identity, resources, edgekey, classify and latency (import those modules directly)."""
