"""Pure functions over a project's dependency graph (node id -> the ids it depends on)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def find_cycle(depends_on: Mapping[str, Iterable[str]]) -> list[str] | None:
    """Return one cycle as a path ``[a, b, ..., a]`` (a depends on b ...), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(depends_on, WHITE)
    for start in depends_on:
        if colour[start] != WHITE:
            continue
        path: list[str] = [start]
        iterators = [iter(depends_on[start])]
        colour[start] = GREY
        while iterators:
            upstream = next(iterators[-1], None)
            if upstream is None:
                colour[path.pop()] = BLACK
                iterators.pop()
            elif colour.get(upstream, BLACK) == GREY:
                return [*path[path.index(upstream) :], upstream]
            elif colour.get(upstream) == WHITE:
                colour[upstream] = GREY
                path.append(upstream)
                iterators.append(iter(depends_on[upstream]))
    return None


def downstream_of(depends_on: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """The roots and every node that depends on them, directly or not."""
    dependents: dict[str, list[str]] = {node: [] for node in depends_on}
    for node, upstreams in depends_on.items():
        for upstream in upstreams:
            dependents.setdefault(upstream, []).append(node)
    seen = set(roots)
    stack = list(seen)
    while stack:
        for child in dependents.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen
