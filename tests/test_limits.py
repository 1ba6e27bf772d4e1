"""Usage and rate limits: the real CLIs' recorded limit outputs (tests/record_limits.py) through their
parsers, the reset times read from their words, and a template's own limit phrases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_parsers import FIXTURES, replay

from orchestra.agents import make_parser
from orchestra.agents.limits import SCAN_CHARS, mentions_limit, reset_time

LIMIT_CASES = sorted(p.stem for p in FIXTURES.glob("*limit*.jsonl"))
NOW = datetime(2026, 12, 7, 15, 59, 0, tzinfo=UTC)


def meta(case: str) -> dict[str, object]:
    return json.loads((FIXTURES / f"{case}.meta.json").read_text())


def test_every_cli_has_recorded_limits() -> None:
    assert {case.split("-")[0] for case in LIMIT_CASES} == {"claude", "codex", "gemini"}
    assert len(LIMIT_CASES) >= 6


@pytest.mark.parametrize("case", LIMIT_CASES)
def test_a_recorded_limit_is_a_limit_not_a_plain_failure(case: str) -> None:
    r = replay(case)
    assert r.report.succeeded is False
    assert r.report.limit is not None, r.report.error
    assert r.report.limit.message
    assert r.of("raw") == []


def test_claude_subscription_limit_resets_when_the_rate_limit_event_says() -> None:
    r = replay("claude-subscription-limit")
    (notice,) = [e for e in r.of("system") if e.get("subtype") == "rate_limit"]
    assert notice["status"] == "rejected"
    assert r.report.limit is not None
    assert r.report.limit.resets_at == meta("claude-subscription-limit")["limit_resets_at"]
    assert r.report.limit.message.startswith("You've hit your 5-hour limit · resets")


@pytest.mark.parametrize("case", ["gemini-limit429", "gemini-usage-limit"])
def test_gemini_limit_resets_after_the_apis_retry_delay(case: str) -> None:
    before = datetime.now(UTC).timestamp()
    r = replay(case)
    assert r.report.limit is not None and r.report.limit.resets_at is not None
    recorded = meta(case)
    delay = float(recorded["limit_resets_at"]) - float(recorded["recorded_at"])  # type: ignore[arg-type]
    assert before + delay - 5 <= r.report.limit.resets_at <= datetime.now(UTC).timestamp() + delay + 5


def test_codex_usage_limit_resets_at_the_clock_time_it_names() -> None:
    r = replay("codex-usage-limit")
    assert r.report.limit is not None and r.report.limit.resets_at is not None
    at = datetime.fromtimestamp(r.report.limit.resets_at).astimezone()
    said = datetime.fromtimestamp(float(meta("codex-usage-limit")["limit_resets_at"])).astimezone()  # type: ignore[arg-type]
    assert (at.hour, at.minute) == (said.hour, said.minute)  # "try again at 7:16 PM."
    assert 0 < r.report.limit.resets_at - datetime.now(UTC).timestamp() <= 24 * 3600


@pytest.mark.parametrize("case", ["claude-limit429", "codex-limit429"])
def test_an_api_key_429_without_a_reset_time_is_a_limit_with_none(case: str) -> None:
    r = replay(case)
    assert r.report.limit is not None and r.report.limit.resets_at is None
    assert "429" in r.report.limit.message


@pytest.mark.parametrize("case", ["claude-http401", "codex-http401", "gemini-http500", "gemini-midstream",
                                  "claude-root-refusal"])
def test_other_failures_are_no_limit(case: str) -> None:
    assert replay(case).report.limit is None


def test_an_allowed_rate_limit_event_in_a_successful_run_is_only_a_notice() -> None:
    lines = (FIXTURES / "claude-tool.jsonl").read_text().splitlines()
    notice = {"type": "rate_limit_event", "rate_limit_info": {"status": "allowed_warning", "resetsAt": 1796670978,
                                                               "rateLimitType": "seven_day"}, "session_id": "s"}
    r = replay("claude-tool", [lines[0], json.dumps(notice), *lines[1:]])
    assert r.report.succeeded is True and r.report.limit is None
    assert [e["status"] for e in r.of("system") if e.get("subtype") == "rate_limit"] == ["allowed_warning"]


def test_a_limit_then_a_success_is_a_success() -> None:
    """Claude retried past a 429 and finished: nothing to park."""
    lines = (FIXTURES / "claude-tool.jsonl").read_text().splitlines()
    denied = {"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "resetsAt": 1796670978}}
    r = replay("claude-tool", [lines[0], json.dumps(denied), *lines[1:]])
    assert r.report.succeeded is True and r.report.limit is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Claude AI usage limit reached|1796670000", datetime(2026, 12, 7, 19, 0, tzinfo=UTC)),
    ("You've hit your limit · resets 4pm (Asia/Kuala_Lumpur)",
     datetime(2026, 12, 8, 16, 0, tzinfo=ZoneInfo("Asia/Kuala_Lumpur"))),
    ("You've hit your 5-hour limit · resets 7:16pm (UTC)", datetime(2026, 12, 7, 19, 16, tzinfo=UTC)),
    ("You've hit your limit · resets 3am (UTC)", datetime(2026, 12, 8, 3, 0, tzinfo=UTC)),
    ("Please retry in 30.5s.", NOW + timedelta(seconds=30.5)),
    ("Rate limit reached. Please try again in 120ms.", NOW + timedelta(milliseconds=120)),
    ("usage limit; try again in 3 hours 17 minutes", NOW + timedelta(hours=3, minutes=17)),
    ("Quota exceeded; retry after 2h 5m", NOW + timedelta(hours=2, minutes=5)),
])
def test_reset_times_in_the_clis_words(text: str, expected: datetime) -> None:
    assert reset_time(text, NOW) == pytest.approx(expected.timestamp())


@pytest.mark.parametrize("text", [
    "rate limited", "resets soon", "try again in a while", "retry in 99999999d",  # over MAX_WAIT_S
    "usage limit reached|12", "resets 25:99pm (UTC)", "resets 7 (Nowhere/Zone)", "try again at noon",
])
def test_no_believable_reset_time(text: str) -> None:
    assert reset_time(text, NOW) is None


def test_hostile_text_is_scanned_only_so_far() -> None:
    text = "retry in " * 200_000 + "retry in 5s"  # the only delay lies beyond SCAN_CHARS
    assert len(text) > SCAN_CHARS * 100
    assert reset_time(text, NOW) is None
    assert not mentions_limit("x" * SCAN_CHARS + " rate limit")


def test_a_templates_own_limit_phrase_on_stdout_or_stderr() -> None:
    parser = make_parser("text", ("Daily Budget Exhausted",))
    parser.feed("working…")
    parser.feed("error: daily budget exhausted, try again in 10 minutes")
    parser.finish(2, "")
    assert parser.report.succeeded is False
    assert parser.report.limit is not None and parser.report.limit.resets_at is not None

    on_stderr = make_parser("text", ("slow down",))
    on_stderr.finish(1, "boom\nSLOW DOWN: retry in 1 minute\n")
    assert on_stderr.report.limit is not None and on_stderr.report.limit.resets_at is not None

    succeeded = make_parser("text", ("daily budget exhausted",))
    succeeded.feed("daily budget exhausted? no.")
    succeeded.finish(0, "")
    assert succeeded.report.succeeded is True and succeeded.report.limit is None

    without = make_parser("text")
    without.feed("error: daily budget exhausted")
    without.finish(1, "rate limit")
    assert without.report.limit is None  # plain text agents: only their template's phrases count


def test_fixture_cases_say_what_produced_them() -> None:
    for case in LIMIT_CASES:
        recorded = meta(case)
        assert recorded["cli"] == case.split("-")[0] and Path(str(recorded["cwd"])) == Path("/home/dev/project")


def test_a_rate_limit_event_written_into_another_line_loses_neither() -> None:
    """Claude Code 2.1.74 was seen writing a rate_limit_event into the middle of another line."""
    lines = (FIXTURES / "claude-subscription-limit.jsonl").read_text().splitlines()
    init, notice, assistant, result = lines
    cut = len(assistant) // 2
    whole = replay("claude-subscription-limit")

    split_over_two = replay("claude-subscription-limit", [init, assistant[:cut] + notice, assistant[cut:], result])
    inside_one = replay("claude-subscription-limit", [init, assistant[:cut] + notice + assistant[cut:], result])
    for r in (split_over_two, inside_one):
        assert r.of("raw") == []
        assert sorted(e["kind"] for e in r.events) == sorted(e["kind"] for e in whole.events)
        assert r.report.limit == whole.report.limit and r.report.limit is not None

    dangling = make_parser("claude-stream-json")
    assert [e["kind"] for e in dangling.feed(assistant[:cut] + notice)] == ["system"]  # the event, at once
    closing = dangling.finish(1, "")
    assert closing[0] == {"kind": "raw", "line": assistant[:cut]}  # the half line is kept, raw
