"""DTMF in scenario files: the ``dtmf`` caller action and the ``gather``/``dtmf_webhook`` checks."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from simulator.call.live import DTMF_GAP_MS
from simulator.call.recorder import TimelineEvent
from simulator.errors import ScenarioError
from simulator.judge.expect import Observation, judge
from simulator.judge.scenario import Scenario, parse_scenarios


def parse(caller: str = "", expect: str = "- gather: {}") -> Scenario:
    """One scenario with these caller steps and expectations (YAML list items)."""
    text = textwrap.dedent(
        """\
        scenarios:
          - name: t
            caller:
        {caller}
            expect:
        {expect}
        """
    ).format(
        caller=textwrap.indent(caller or "[]", "      "),
        expect=textwrap.indent(expect, "      "),
    )
    (s,) = parse_scenarios(text, Path("t.yaml"))
    return s


def error(caller: str = "", expect: str = "- gather: {}") -> ScenarioError:
    """The error a bad scenario raises."""
    with pytest.raises(ScenarioError) as info:
        parse(caller, expect)
    return info.value


def test_dtmf_takes_a_string_or_a_mapping_with_a_gap() -> None:
    """`dtmf: "12#"` uses the default gap; `{digits:, gap_ms:}` sets it."""
    s = parse('- dtmf: "12#"\n- dtmf: {digits: "*0", gap_ms: 80}\n  send_after: gather_start')
    first, second = s.caller
    assert (first.kind, first.digits, first.gap_ms) == ("dtmf", "12#", DTMF_GAP_MS)
    assert (second.digits, second.gap_ms, second.send_after) == ("*0", 80.0, "gather_start")
    assert first.describe() == "dtmf 12#"


@pytest.mark.parametrize(
    ("caller", "says"),
    [
        ("- dtmf: 1234", "quoted string"),
        ('- dtmf: "12x"', "'x' are not DTMF keys"),
        ('- dtmf: {digits: "1", gap: 5}', "gap"),
        ('- dtmf: {digits: "1", gap_ms: -1}', "dtmf.gap_ms must be a number"),
        ("- dtmf: {gap_ms: 100}", "quoted string"),
    ],
)
def test_a_bad_dtmf_action_is_named_with_its_line(caller: str, says: str) -> None:
    """A number, a key that is not DTMF, an unknown or bad option: refused at line 4."""
    exc = error(caller)
    assert says in str(exc)
    assert exc.line == 4


@pytest.mark.parametrize(
    ("expect", "says"),
    [
        ("- gather: {digits: 1234}", 'quoted string such as "1234"'),
        ('- gather: {terminating_digit: "#*"}', "is one key"),
        ("- gather: {reason: slow}", "gather.reason must be one of"),
        ('- dtmf_webhook: {digit: "x"}', "not DTMF keys"),
    ],
)
def test_a_bad_dtmf_expectation_is_refused(expect: str, says: str) -> None:
    """Unquoted digits, two terminators, an unknown reason, a non-key: each named."""
    assert says in str(error(expect=expect))


def _obs(*events: tuple[str, float, dict[str, Any]]) -> Observation:
    timeline = [TimelineEvent(kind, at, detail) for kind, at, detail in events]
    return Observation(
        call_id="c-1",
        timeline=timeline,
        exchange=None,
        streams=[],
        requests=[],
        phase="disconnected",
        cause="hangup",
    )


ENDED_BY_MAX = _obs(
    ("gather", 900.0, {"digits": "1234", "terminating_digit": "", "reason": "max-digits"})
)


def test_gather_passes_on_the_digits_and_terminator_it_names() -> None:
    """Expecting digits "1234" with terminating_digit "" matches a gather ended by maxDigits."""
    (e,) = parse(expect='- gather: {digits: "1234", terminating_digit: ""}').expect
    verdict = judge(ENDED_BY_MAX, e)
    assert verdict.passed
    assert verdict.at_ms == 900.0


def test_gather_fails_on_another_terminator_and_says_which() -> None:
    """Expecting terminating_digit "#" from a gather maxDigits ended fails, naming both."""
    (e,) = parse(expect='- gather: {digits: "1234", terminating_digit: "#"}').expect
    verdict = judge(ENDED_BY_MAX, e)
    assert not verdict.passed
    assert "its terminating_digit was '', not '#'" in verdict.detail


def test_gather_fails_when_no_gather_ended() -> None:
    """No gather event at all: the expectation fails with 'no gather'."""
    (e,) = parse(expect="- gather: {}").expect
    verdict = judge(_obs(("dtmf", 100.0, {"digit": "1"})), e)
    assert not verdict.passed
    assert "no gather" in verdict.detail


def test_dtmf_webhook_counts_per_digit() -> None:
    """Two dtmf webhooks: count 2 passes, digit "#" finds the second, digit "9" fails."""
    seen = _obs(
        ("dtmf-webhook", 100.0, {"digit": "1"}),
        ("dtmf-webhook", 300.0, {"digit": "#"}),
    )
    count, hash_, nine = parse(
        expect='- dtmf_webhook: {count: 2}\n- dtmf_webhook: {digit: "#"}\n'
        '- dtmf_webhook: {digit: "9"}'
    ).expect
    assert judge(seen, count).passed
    assert judge(seen, hash_).at_ms == 300.0
    missed = judge(seen, nine)
    assert not missed.passed
    assert "its digit was '1', not '9'" in missed.detail
