"""prompts.render_prompt: upstream results filled in, or appended when the prompt does not ask."""

from __future__ import annotations

from orchestra.core.prompts import UpstreamResult, render_prompt

PLAN = UpstreamResult("plan", "Plan", "step 1, step 2")
SPEC = UpstreamResult("spec.v2", "Spec", "the spec")


def test_no_upstream_leaves_the_prompt_alone() -> None:
    assert render_prompt("just do it", []) == "just do it"
    assert render_prompt("", []) == ""


def test_one_result_by_node_id() -> None:
    assert render_prompt("Build {{upstream.plan.result}} now", [PLAN, SPEC]) == "Build step 1, step 2 now"
    assert render_prompt("{{ upstream.spec.v2.result }}!", [PLAN, SPEC]) == "the spec!"


def test_all_results_labelled_by_title() -> None:
    rendered = render_prompt("Review:\n{{upstream.results}}", [PLAN, SPEC])
    assert rendered == "Review:\n### Plan (plan)\nstep 1, step 2\n\n### Spec (spec.v2)\nthe spec"


def test_without_a_placeholder_results_are_appended_under_a_heading() -> None:
    rendered = render_prompt("Check it", [PLAN, SPEC])
    assert rendered == ("Check it\n\n---\nResults of the tasks this one depends on:\n\n"
                        "### Plan (plan)\nstep 1, step 2\n\n### Spec (spec.v2)\nthe spec")


def test_placeholder_for_a_node_without_a_result_stays_visible() -> None:
    # Nothing is appended either: the prompt asked for placeholders, so it gets exactly what it asked.
    assert render_prompt("Use {{upstream.ghost.result}}", [PLAN]) == "Use {{upstream.ghost.result}}"


def test_results_are_inserted_literally() -> None:
    """A result holding placeholder syntax or regex escapes is text, not a template or a pattern."""
    tricky = UpstreamResult("a", "A", r"{{upstream.b.result}} \1 \g<0> $(rm -rf ~)")
    other = UpstreamResult("b", "B", "SECRET")
    rendered = render_prompt("x {{upstream.a.result}} y", [tricky, other])
    assert rendered == r"x {{upstream.b.result}} \1 \g<0> $(rm -rf ~) y"
    assert render_prompt("{{upstream.results}}", [tricky]) == "### A (a)\n" + tricky.result
