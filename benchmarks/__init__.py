"""Orchestra's benchmarks: ``python -m benchmarks.run`` (see docs/PERFORMANCE.md)."""
