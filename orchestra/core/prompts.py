"""The prompt actually sent to an agent: the node's prompt with its upstream results and the run's
launch inputs filled in.

``{{upstream.<node_id>.result}}`` is one upstream node's result, ``{{upstream.results}}`` all of
them labelled by title. A prompt that uses neither gets its direct upstream results appended under
a short heading, so a DAG passes results along without any template syntax. ``{{inputs.NAME}}`` is
a value given at launch (``/launch`` ``inputs``, ``--set NAME=value``); a launch that lacks one a
prompt uses is refused (:func:`input_names` says which).

All placeholders are replaced in one pass: a value that itself looks like a placeholder (an upstream
result quoting ``{{inputs.x}}``) is sent as it is, never expanded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

INPUT_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
# Linear over a prompt (a flow file's or a plan answer's is untrusted): every match starts at a literal "{{",
# and each quantifier runs over characters that cannot hold "{", so no two attempts scan the same text.
_PLACEHOLDER = re.compile(
    r"\{\{\s*(?:upstream\.(?P<one>[A-Za-z0-9][A-Za-z0-9_.-]*?)\.result|(?P<all>upstream\.results)"
    rf"|inputs\.(?P<input>{INPUT_NAME}))\s*\}}\}}")


@dataclass(frozen=True)
class UpstreamResult:
    node_id: str
    title: str
    result: str


def _labelled(results: list[UpstreamResult]) -> str:
    return "\n\n".join(f"### {r.title} ({r.node_id})\n{r.result}" for r in results)


def input_names(prompts: Iterable[str]) -> set[str]:
    """The launch inputs these prompts use."""
    return {m.group("input") for prompt in prompts for m in _PLACEHOLDER.finditer(prompt) if m.group("input")}


def render_prompt(prompt: str, upstream: list[UpstreamResult], inputs: Mapping[str, str] | None = None) -> str:
    by_id = {r.node_id: r.result for r in upstream}
    values = inputs or {}
    used_upstream = False

    def fill(match: re.Match[str]) -> str:
        nonlocal used_upstream
        if match.group("input"):
            return values.get(match.group("input"), match.group(0))
        used_upstream = True
        if match.group("all"):
            return _labelled(upstream)
        return by_id.get(match.group("one"), match.group(0))

    rendered = _PLACEHOLDER.sub(fill, prompt)
    if not used_upstream and upstream:
        rendered = f"{rendered}\n\n---\nResults of the tasks this one depends on:\n\n{_labelled(upstream)}"
    return rendered
