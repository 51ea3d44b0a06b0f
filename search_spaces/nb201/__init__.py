"""NAS-Bench-201 search space: cell architectures, networks and benchmark metrics."""
