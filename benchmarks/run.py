"""Run every benchmark on loopback hubs it starts itself; print a table and write JSON.

    .venv/bin/python -m benchmarks.run --out benchmarks/results/latest.json          # full (~6 min)
    .venv/bin/python -m benchmarks.run --quick --out /tmp/bench-quick.json            # smoke (~1 min)

Exit status: 0 when every run kept every event and left no process behind, 1 otherwise (timing
never fails a run: targets are reported as met or missed, in the table and the JSON).
``--only dag,events,rest,footprint`` picks scenarios (``--only soak`` runs the 30-minute soak);
``--profile DIR`` records py-spy stacks of each hub (collapsed format) into DIR. The issue-23 DAG shape
(500 nodes in 10 layers, each on its whole upper layer, 8 in parallel):
``--only dag --dag-nodes 500 --dag-parallel 8 --dag-shapes layered``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from . import dag, event_path, footprint, rest, soak
from .harness import BenchFailure, scratch
from .machine import Meter, describe, wait_for_quiet

SCENARIOS = ("dag", "events", "rest", "footprint")
EXTRA = ("soak",)  # only with --only soak (30 minutes by default, --soak-minutes)

FULL = {
    "dag": {"nodes": 1000, "runs": 3},
    "events": {"agents": 20, "lines": 10_000, "subscribers": 20, "runs": 3, "paced_total_rate": 20_000},
    "rest": {"nodes": 1000, "executions": 100_000, "requests": 1000, "runs": 3},
    "memory": {"projects": 1000, "hanging": 50, "runs": 3},
    "startup": {"projects": 1000, "events": 1_000_000, "runs": 5},
}
QUICK = {
    "dag": {"nodes": 100, "runs": 2},
    "events": {"agents": 4, "lines": 2_000, "subscribers": 4, "runs": 1, "paced_total_rate": 8_000},
    "rest": {"nodes": 200, "executions": 10_000, "requests": 200, "runs": 2},
    "memory": {"projects": 50, "hanging": 5, "runs": 1},
    "startup": {"projects": 50, "events": 50_000, "runs": 2},
}


@dataclass
class Row:
    scenario: str
    metric: str
    value: Any  # a spread dict (median/min/max) or a single number
    unit: str
    target: str = ""
    ok: bool | None = None  # None: no target


def _median(value: Any) -> float:
    return value["median"] if isinstance(value, dict) else value


def _rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "dag" in results:
        for shape, r in results["dag"]["shapes"].items():
            rows += [
                Row(f"dag {shape}", "raw baseline wall", r["baseline_wall_s"], "s"),
                Row(f"dag {shape}", "hub wall", r["hub_wall_s"], "s"),
                Row(f"dag {shape}", "overhead per node", r["overhead_ms_per_node_paired"], "ms", "<= 1",
                    r["overhead_ms_per_node"] <= 1),
                Row(f"dag {shape}", "hub wall / raw wall (medians)", _median(r["hub_wall_s"]) /
                    _median(r["baseline_wall_s"]), "x", "<= 2.5",
                    _median(r["hub_wall_s"]) / _median(r["baseline_wall_s"]) <= 2.5),
                Row(f"dag {shape}", "hub CPU per node", r["hub_cpu_ms_per_node"], "ms"),
                Row(f"dag {shape}", "baseline CPU per node", r["baseline_cpu_ms_per_node"], "ms"),
            ]
    if "events" in results:
        # Throughput is judged flat out (saturated: the agents offer more than any hub drains, so latency
        # there is backlog / rate); latency is judged at the target rate (paced: 20,000 events/s offered,
        # so its throughput can only match the offer).
        for mode, r in results["events"]["modes"].items():
            name = f"events {mode}"
            saturated = mode == "saturated"
            offered = "" if saturated else f"(offered {results['events']['agents'] * r['agent_rate_lines_per_s']:,.0f})"
            rows += [
                Row(name, "stored", r["stored_per_s"], "ev/s", ">= 20000" if saturated else offered,
                    _median(r["stored_per_s"]) >= 20_000 if saturated else None),
                Row(name, "delivered per subscriber", r["delivered_per_s_per_subscriber"], "ev/s",
                    ">= 20000" if saturated else offered,
                    _median(r["delivered_per_s_per_subscriber"]) >= 20_000 if saturated else None),
                Row(name, "latency p50", r["latency_p50_ms"], "ms"),
                Row(name, "latency p99", r["latency_p99_ms"], "ms", "" if saturated else "<= 50",
                    None if saturated else _median(r["latency_p99_ms"]) <= 50),
                Row(name, "latency max", r["latency_max_ms"], "ms"),
                Row(name, "4008 reconnects", r["reconnects_4008"], ""),
                Row(name, "hub CPU per agent event", r["hub_cpu_us_per_event"], "us"),
            ]
    if "rest" in results:
        targets = {"nodes": 30, "executions": 15}
        for name, r in results["rest"]["endpoints"].items():
            rows += [
                Row(f"rest {r['path']}", "requests/s", r["requests_per_s"], "req/s"),
                Row(f"rest {r['path']}", "p50", r["p50_ms"], "ms"),
                Row(f"rest {r['path']}", "hub CPU per request", r["hub_cpu_ms_per_request"], "ms"),
                Row(f"rest {r['path']}", "keep-alive closed by hub", r["reconnects"], ""),
                Row(f"rest {r['path']}", "p99", r["p99_ms"], "ms", f"<= {targets[name]}",
                    _median(r["p99_ms"]) <= targets[name]),
            ]
    if "footprint" in results:
        m, s = results["footprint"]["memory"], results["footprint"]["startup"]
        rows += [
            Row("footprint", "idle hub RSS", m["idle_rss_mb"], "MB", "<= 80", m["idle_rss_mb"] <= 80),
            Row("footprint", f"RSS with {m['projects']} idle projects", m["rss_with_idle_projects_mb"], "MB"),
            Row("footprint", "per idle project", m["per_idle_project_kb"], "KB", "<= 64",
                m["per_idle_project_kb"] <= 64),
            Row("footprint", "per running execution", m["per_running_execution_kb"], "KB", "<= 1024",
                _median(m["per_running_execution_kb"]) <= 1024),
            Row("footprint", "start-up to /health, empty db", s["empty"]["to_health_s"], "s"),
            Row("footprint", f"start-up, {s['projects']} projects + {s['events']:,} events",
                s["seeded"]["to_health_s"], "s", "<= 1", _median(s["seeded"]["to_health_s"]) <= 1),
            Row("footprint", "  hub CPU until /health, seeded", s["seeded"]["hub_cpu_s_at_health"], "s"),
        ]
    if "soak" in results:
        r = results["soak"]
        rows += [
            Row(f"soak {r['minutes']:g} min, {r['runs']} runs", "RSS after warm-up", r["rss_after_warmup_mb"], "MB"),
            Row(f"soak {r['minutes']:g} min, {r['runs']} runs", "RSS at the end", r["rss_at_end_mb"], "MB"),
            Row(f"soak {r['minutes']:g} min, {r['runs']} runs", "drift", r["drift_percent"], "%", "±10",
                abs(r["drift_percent"]) <= 10),
        ]
    return rows


def _fmt(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{value:,.0f}"
    if math.isnan(value):
        return "nan"
    magnitude = abs(value)
    return f"{value:,.0f}" if magnitude >= 1000 else f"{value:.1f}" if magnitude >= 10 else f"{value:.3g}"


def table(rows: list[Row], quick: bool) -> str:
    lines = [f"{'scenario':<44} {'metric':<30} {'median':>10} {'min':>10} {'max':>10}  {'unit':<6} "
             f"{'target':<10} status"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        if isinstance(row.value, dict):
            med, low, high = (_fmt(row.value[k]) for k in ("median", "min", "max"))
        else:
            med, low, high = _fmt(row.value), "", ""
        status = "" if row.ok is None else ("met" if row.ok else "MISSED")
        if quick and row.ok is not None:
            status = f"({status}, quick)"
        lines.append(f"{row.scenario:<44} {row.metric:<30} {med:>10} {low:>10} {high:>10}  {row.unit:<6} "
                     f"{row.target:<10} {status}")
    return "\n".join(lines)


async def _scenario(name: str, params: dict[str, Any], keep: bool, quiet_wait: float) -> dict[str, Any]:
    quiet = await wait_for_quiet(quiet_wait)
    meter = Meter()
    meter.start()
    async with scratch(keep) as work:
        if name == "dag":
            result = await dag.run(work, **params["dag"])
        elif name == "events":
            result = await event_path.run(work, **params["events"])
        elif name == "rest":
            result = await rest.run(work, **params["rest"])
        elif name == "soak":
            result = await soak.run(work, minutes=params["soak_minutes"])
        else:
            result = {"memory": await footprint.memory(work, **params["memory"]),
                      "startup": await footprint.startup(work, **params["startup"])}
    result["machine_load"] = quiet | meter.stop()
    return result


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    params = (QUICK if args.quick else FULL) | {"soak_minutes": args.soak_minutes}
    params["dag"] = params["dag"] | {"max_parallel": args.dag_parallel or os.cpu_count() or 2} | (
        {"nodes": args.dag_nodes} if args.dag_nodes else {}) | (
        {"shapes": tuple(args.dag_shapes.split(","))} if args.dag_shapes else {}) | (
        {"runs": args.dag_runs} if args.dag_runs else {})
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(SCENARIOS)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.run", *sys.argv[1:]]),
        "quick": args.quick, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": describe(),
        "params": {k: v for k, v in params.items()}, "results": {}, "failures": {},
    }
    quiet_wait = 0 if args.quick else args.quiet_wait
    for name in chosen:
        if name not in SCENARIOS + EXTRA:
            raise SystemExit(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS + EXTRA)}")
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            report["results"][name] = await _scenario(name, params, args.keep, quiet_wait)
        except BenchFailure as exc:
            report["failures"][name] = str(exc)
        except Exception:
            report["failures"][name] = traceback.format_exc()
        status = "FAILED: " + report["failures"][name][:500] if name in report["failures"] else "ok"
        print(f"[bench] {name} {status} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    rows = _rows(report["results"])
    report["table"] = [{"scenario": r.scenario, "metric": r.metric, "unit": r.unit, "target": r.target,
                        "ok": r.ok, "value": r.value} for r in rows]
    print(table(rows, args.quick))
    for name, result in report["results"].items():
        load = result["machine_load"]
        print(f"  {name}: other processes used {load['other_cpu_cores']:.2f} cores on average "
              f"(waited {load['waited_s']:.0f} s for a quiet machine)")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--quick", action="store_true", help="small sizes (~1 min), for CI smoke runs")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--profile", help="record py-spy stacks of every hub into this directory")
    parser.add_argument("--dag-nodes", type=int, help="nodes per DAG shape (default 1000, 100 with --quick)")
    parser.add_argument("--dag-parallel", type=int, help="max_parallel of the DAG runs (default: the CPU count)")
    parser.add_argument("--dag-shapes", help="comma-separated subset of independent,chain,layered")
    parser.add_argument("--dag-runs", type=int, help="hub runs (and raw runs) per DAG shape")
    parser.add_argument("--soak-minutes", type=float, default=30, help="length of the soak (--only soak)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directories (databases, logs)")
    parser.add_argument("--quiet-wait", type=float, default=120,
                        help="seconds to wait for an idle machine before each scenario (full mode)")
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["ORCHESTRA_BENCH_PROFILE"] = str(Path(args.profile).resolve())
    report = trio.run(main_async, args)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out}")
    for name, failure in report["failures"].items():
        print(f"FAILED {name}: {failure}", file=sys.stderr)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
