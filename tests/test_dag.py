"""dag.find_cycle and dag.downstream_of: pure functions over ``node -> the nodes it depends on``."""

from __future__ import annotations

from itertools import pairwise

import pytest

from orchestra.core.dag import downstream_of, find_cycle


def is_cycle_of(path: list[str] | None, graph: dict[str, list[str]]) -> bool:
    """``path`` is a closed walk along real edges: each node depends on the next one."""
    if not path or len(path) < 2 or path[0] != path[-1]:
        return False
    return all(b in graph[a] for a, b in pairwise(path))


@pytest.mark.parametrize(
    "graph",
    [
        {},
        {"a": []},
        {"a": [], "b": ["a"], "c": ["a", "b"]},
        {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]},  # a diamond is not a cycle
        {"a": ["outside"]},  # an upstream that is not in the graph is ignored
    ],
)
def test_acyclic_graphs_have_no_cycle(graph: dict[str, list[str]]) -> None:
    assert find_cycle(graph) is None


def test_cycle_path_follows_the_edges() -> None:
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "c", "b", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]


@pytest.mark.parametrize(
    "graph",
    [
        {"root": [], "x": ["root", "z"], "y": ["x"], "z": ["y"]},  # the cycle does not include the first node
        {"a": [], "b": ["a"], "c": ["b", "e"], "d": ["c"], "e": ["d"]},
        {"p": ["q"], "q": ["r", "s"], "r": [], "s": ["t"], "t": ["q"]},
    ],
)
def test_cycle_is_found_wherever_it_is(graph: dict[str, list[str]]) -> None:
    cycle = find_cycle(graph)
    assert is_cycle_of(cycle, graph), cycle
    assert cycle is not None and len(set(cycle)) == len(cycle) - 1  # a simple cycle


def test_long_chain_does_not_recurse() -> None:
    graph = {f"n{i}": [f"n{i - 1}"] if i else [] for i in range(20_000)}
    assert find_cycle(graph) is None
    graph["n0"] = ["n19999"]
    cycle = find_cycle(graph)
    assert is_cycle_of(cycle, graph) and cycle is not None and len(cycle) == 20_001


def test_downstream_of() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": [], "f": ["e", "c"]}
    assert downstream_of(graph, ["a"]) == {"a", "b", "c", "d", "f"}
    assert downstream_of(graph, ["c"]) == {"c", "f"}
    assert downstream_of(graph, ["e"]) == {"e", "f"}
    assert downstream_of(graph, ["b", "e"]) == {"b", "c", "e", "f"}
    assert downstream_of(graph, ["f"]) == {"f"}
    assert downstream_of(graph, []) == set()
    assert downstream_of({"a": ["a"], "b": ["a"]}, ["a"]) == {"a", "b"}  # terminates on a cycle
