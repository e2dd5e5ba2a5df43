"""meshproxy, the sidecar: sans-IO HTTP/1.1, HTTP/2, gRPC and TCP layers, the one asyncio module
that runs them (server.py), and the publisher that sends one RequestEvent per request to Kafka
without ever slowing traffic. The command is meshpipe.cli.meshproxy."""
