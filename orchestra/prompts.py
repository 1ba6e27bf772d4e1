"""The prompt actually sent to an agent: the node's prompt with its upstream results filled in.

``{{upstream.<node_id>.result}}`` is one upstream node's result, ``{{upstream.results}}`` all of
them labelled by title. A prompt that uses neither gets its direct upstream results appended under
a short heading, so a DAG passes results along without any template syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE = re.compile(r"\{\{\s*upstream\.([A-Za-z0-9][A-Za-z0-9_.-]*?)\.result\s*\}\}")
_ALL = re.compile(r"\{\{\s*upstream\.results\s*\}\}")


@dataclass(frozen=True)
class UpstreamResult:
    node_id: str
    title: str
    result: str


def _labelled(results: list[UpstreamResult]) -> str:
    return "\n\n".join(f"### {r.title} ({r.node_id})\n{r.result}" for r in results)


def render_prompt(prompt: str, upstream: list[UpstreamResult]) -> str:
    by_id = {r.node_id: r.result for r in upstream}
    used = bool(_ONE.search(prompt) or _ALL.search(prompt))
    rendered = _ONE.sub(lambda m: by_id.get(m.group(1), m.group(0)), prompt)
    rendered = _ALL.sub(lambda _: _labelled(upstream), rendered)
    if not used and upstream:
        rendered = f"{rendered}\n\n---\nResults of the tasks this one depends on:\n\n{_labelled(upstream)}"
    return rendered
