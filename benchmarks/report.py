"""Render a results JSON as the Markdown table of docs/PERFORMANCE.md.

    .venv/bin/python -m benchmarks.report benchmarks/results/latest.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .run import _fmt, _rows


def markdown(report: dict) -> str:
    lines = ["| scenario | metric | median | min | max | unit | target | status |",
             "|---|---|---:|---:|---:|---|---|---|"]
    for row in _rows(report["results"]):
        if isinstance(row.value, dict):
            med, low, high = (_fmt(row.value[k]) for k in ("median", "min", "max"))
        else:
            med, low, high = _fmt(row.value), "", ""
        status = "" if row.ok is None else ("met" if row.ok else "**missed**")
        target = row.target.replace("<=", "≤").replace(">=", "≥")
        if row.target.startswith("(offered"):
            status = "(throughput judged flat out)"
        lines.append(f"| {row.scenario} | {row.metric.strip()} | {med} | {low} | {high} | {row.unit} | {target} | "
                     f"{status} |")
    loads = [f"{name}: {r['machine_load']['other_cpu_cores']:.2f}" for name, r in report["results"].items()]
    lines.append("")
    lines.append("CPU used by other processes on the machine during each scenario (cores, of "
                 f"{report['machine']['nproc']}): " + ", ".join(loads) + ".")
    return "\n".join(lines)


def main() -> None:
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))


if __name__ == "__main__":
    main()
