"""Exporting a run's metrics: the textfile for node_exporter and the `/metrics` endpoint.

The collectors themselves are a sink (`agentflow.sinks.metrics`); this package only takes
what they hold out of the process while the run lasts (see docs/metrics.md).
"""
