"""The audit's pure judgements: what holds a call up, and how a barge-in went."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.audit.rules import keepalive, measure_barge_in, sentence
from simulator.protocol.bxml import parse_bxml
from simulator.protocol.verbs import plan


def steps(inner: str) -> list:  # type: ignore[type-arg]
    """The steps of a webhook answer holding ``inner``."""
    document = parse_bxml(f"<Response>{inner}</Response>", context="webhook")
    return plan(document, "http://bot.example/")


STREAM = '<StartStream name="bot" destination="wss://h/ws/t" mode="bidirectional"/>'


@pytest.mark.parametrize(
    ("inner", "holds", "verb"),
    [
        (STREAM + '<Pause duration="86400"/>', True, "Pause"),
        (STREAM + '<StopStream name="bot" wait="true"/>', True, "StopStream"),
        (STREAM, False, ""),
        (STREAM + '<Pause duration="30"/>', False, "Pause"),
        (STREAM + '<StopStream name="other" wait="true"/>', False, "StopStream"),
        (STREAM + '<Redirect redirectUrl="/next"/>', False, "Redirect"),
    ],
    ids=["pause", "stopstream-wait", "nothing", "short-pause", "wrong-stream-name", "redirect"],
)
def test_keepalive_says_whether_the_document_holds_the_call(
    inner: str, holds: bool, verb: str
) -> None:
    """<StartStream> does not block: only a long hold or StopStream wait on it keeps the call."""
    result = keepalive(steps(inner))
    assert (result.holds, result.verb) == (holds, verb), result.explanation


def test_a_bare_start_stream_is_explained_as_an_immediate_hang_up() -> None:
    """The explanation says why the call would end."""
    assert "hangs up at once" in keepalive(steps(STREAM)).explanation


def _track(segments: list[tuple[float, float]], total_ms: float = 6000) -> np.ndarray:
    """An 8 kHz track with a loud tone in the given (start_ms, end_ms) spans."""
    track = np.zeros(int(total_ms * 8), dtype=np.int16)
    t = np.arange(len(track)) / 8000
    tone = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
    for start, end in segments:
        track[int(start * 8) : int(end * 8)] = tone[int(start * 8) : int(end * 8)]
    return track


def test_a_bot_that_clears_and_goes_quiet_has_stopped() -> None:
    """Speaking when the caller starts, a clear 400 ms in, silence after it: stopped."""
    barge = measure_barge_in(_track([(0, 2400)]), [2400.0], 2000.0, 4500.0)
    assert barge.speaking
    assert barge.latency_ms == 400.0
    assert barge.stopped()
    assert barge.heard_after_start_ms == pytest.approx(400, abs=20)


def test_a_bot_that_clears_but_keeps_talking_has_not_stopped() -> None:
    """A clear followed by more audio while the caller talks is not a barge-in."""
    barge = measure_barge_in(_track([(0, 5000)]), [2400.0], 2000.0, 4500.0)
    assert barge.latency_ms == 400.0
    assert not barge.stopped()
    assert barge.heard_after_clear_ms is not None and barge.heard_after_clear_ms > 1500


def test_no_clear_and_a_silent_bot_are_told_apart() -> None:
    """No clear after the caller started gives no latency; silence before gives not speaking."""
    no_clear = measure_barge_in(_track([(0, 5000)]), [1000.0], 2000.0, 4500.0)
    assert no_clear.latency_ms is None
    assert not no_clear.stopped()
    quiet = measure_barge_in(_track([(0, 1000)]), [], 2000.0, 4500.0)
    assert not quiet.speaking


def test_sentence_puts_the_first_problem_the_count_and_the_fix_in_one_sentence() -> None:
    """One problem reads plainly; more are counted."""
    assert sentence(["a broke"], "fix it") == "a broke: fix it"
    assert sentence(["a broke", "b broke", "c broke"], "fix it") == (
        "a broke (and 2 more problems, see evidence): fix it"
    )
