"""Traces (OpenTelemetry) and Prometheus metrics for the graph and the runtime."""
