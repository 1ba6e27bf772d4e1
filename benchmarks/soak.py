"""The soak: continuous runs for a while; the hub's RSS must stay flat (±10 %).

One hub subprocess, one project of ``nodes`` trivial agents in 10 fully connected layers, one
WebSocket subscriber checking every ``seq``; launch, wait for ``run.finished``, sample the hub's RSS,
repeat until ``minutes`` have passed. Drift = median RSS of the last five samples against the median
of the first five after a warm-up (the first 10 % of the time).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .dag import hub_run, shape_nodes
from .harness import Scratch, add_template, create_nodes, create_project, hub_env, run_hub, write_trivial_agent

MB = 1024 * 1024


async def run(work: Scratch, *, minutes: float, nodes: int = 100) -> dict[str, Any]:
    agent = write_trivial_agent(work.sub("bin"))
    samples: list[tuple[float, float]] = []
    runs = 0
    async with run_hub(work, hub_env(work, "soak.db")) as hub, hub.http() as http:
        await add_template(http, "bench-trivial", [str(agent), "{prompt}"], work.mark)
        project = await create_project(http, "soak")
        await create_nodes(http, project["id"], shape_nodes("layered", nodes))
        started = time.monotonic()
        while time.monotonic() - started < minutes * 60:
            await hub_run(hub, http, project["id"], nodes)
            runs += 1
            samples.append((time.monotonic() - started, hub.rss() / MB))
    warm = [rss for t, rss in samples if t >= minutes * 6][:5]
    last = [rss for _, rss in samples[-5:]]
    first_mb, last_mb = statistics.median(warm), statistics.median(last)
    return {
        "hub": "subprocess", "minutes": minutes, "nodes_per_run": nodes, "runs": runs,
        "rss_after_warmup_mb": first_mb, "rss_at_end_mb": last_mb,
        "rss_min_mb": min(r for _, r in samples), "rss_max_mb": max(r for _, r in samples),
        "drift_percent": (last_mb - first_mb) / first_mb * 100,
        "samples": [(round(t, 1), round(r, 2)) for t, r in samples[:: max(1, len(samples) // 200)]],
    }
