"""Small statistics helpers: percentiles, and median/min/max over repeated runs."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(p / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])


def latency_summary(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds."""
    values = sorted(samples_s)
    return {
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": (values[-1] if values else float("nan")) * 1000,
        "samples": len(values),
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median, min and max of one metric over several runs (the runs themselves are kept too)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }
