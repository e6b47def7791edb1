"""The conversation graph: state, gate and execute nodes, the dependencies they receive, planning,
provenance."""
