"""ClickHouse: clients for the native server and chdb, versioned migrations rendered per server
version, the batch writer the workers store rows with, retention, daily rollups, and the query
layer meshstat and the dashboards read."""
