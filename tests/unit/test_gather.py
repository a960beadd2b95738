"""The rules of one <Gather> collecting digits, on a clock the test controls."""

from __future__ import annotations

import pytest

from simulator.protocol.gather import DigitCollector, GatherResult, check_digits


def collector(**kw: float | int | str) -> DigitCollector:
    """A collector that starts at 0 s with Bandwidth's defaults unless ``kw`` says otherwise."""
    args: dict[str, float | int | str] = {
        "now": 0.0,
        "max_digits": 50,
        "terminating_digits": "",
        "first_digit_timeout_s": 5.0,
        "inter_digit_timeout_s": 5.0,
    }
    args.update(kw)
    return DigitCollector(**args)  # type: ignore[arg-type]


def press(c: DigitCollector, keys: str, at: float, gap: float = 0.2) -> GatherResult | None:
    """Press ``keys`` from ``at``; the result of the key that ended the gather, if one did."""
    for n, key in enumerate(keys):
        result = c.press(key, at + n * gap)
        if result is not None:
            return result
    return None


def test_a_terminating_digit_ends_the_gather_and_is_not_a_digit() -> None:
    """'12#' with terminatingDigits '#' gives digits '12' and terminatingDigit '#'."""
    result = press(collector(terminating_digits="#"), "12#", at=1.0)
    assert result == GatherResult("12", "#", "terminating-digit", 0)


def test_any_of_several_terminating_digits_ends_it() -> None:
    """Each character of terminatingDigits ends the gather; '*' here."""
    result = press(collector(terminating_digits="#*"), "9*", at=1.0)
    assert result is not None
    assert (result.digits, result.terminating_digit) == ("9", "*")


def test_the_max_digits_th_key_ends_it_with_no_terminating_digit() -> None:
    """With maxDigits 4, the 4th key ends the gather: '1234', terminatingDigit ''."""
    c = collector(max_digits=4, terminating_digits="#")
    assert press(c, "123", at=1.0) is None
    result = c.press("4", 1.6)
    assert result == GatherResult("1234", "", "max-digits", 0)


def test_a_terminator_alone_gives_no_digits() -> None:
    """Pressing only the terminating digit posts empty digits and that terminator."""
    result = press(collector(terminating_digits="#"), "#", at=0.5)
    assert result is not None
    assert (result.digits, result.terminating_digit) == ("", "#")


def test_inter_digit_timeout_runs_from_the_last_key() -> None:
    """After a key, interDigitTimeout without another ends the gather with what was pressed."""
    c = collector(inter_digit_timeout_s=3.0)
    press(c, "42", at=1.0)
    assert c.deadline == pytest.approx(4.2)
    assert c.timer(4.1) is None
    assert c.timer(4.2) == GatherResult("42", "", "inter-digit-timeout", 0)


def test_no_key_ends_after_the_prompt_and_first_digit_timeout() -> None:
    """With no key, the gather ends firstDigitTimeout after the prompt, with empty digits."""
    c = collector(prompt_s=2.0, first_digit_timeout_s=3.0)
    assert c.deadline == 5.0
    assert c.timer(4.9) is None
    assert c.timer(5.0) == GatherResult("", "", "first-digit-timeout", 1)


def test_repeat_count_replays_the_prompt_after_each_wait() -> None:
    """A repeatCount of 3 plays the prompt three times, each followed by firstDigitTimeout."""
    c = collector(prompt_s=2.0, first_digit_timeout_s=3.0, repeat_count=3)
    assert c.deadline == 15.0
    assert [c.prompting(t) for t in (1.0, 3.0, 6.0, 9.0, 11.0, 14.0)] == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert c.timer(15.0) == GatherResult("", "", "first-digit-timeout", 3)


def test_a_key_during_a_repeat_stops_the_prompts() -> None:
    """A key pressed in the second playing stops the prompts and starts interDigitTimeout."""
    c = collector(prompt_s=2.0, first_digit_timeout_s=3.0, repeat_count=3, max_digits=2)
    assert c.press("7", 6.0) is None
    assert not c.prompting(6.5)
    assert c.deadline == 11.0
    assert c.press("8", 7.0) == GatherResult("78", "", "max-digits", 2)


def test_repeat_count_without_prompts_waits_once() -> None:
    """With nothing to repeat, repeatCount does not lengthen the wait for the first key."""
    assert collector(repeat_count=5, first_digit_timeout_s=2.0).deadline == 2.0


def test_zero_first_digit_timeout_without_prompts_ends_at_once() -> None:
    """With firstDigitTimeout 0 and no prompt: the gather ends when it starts, with no digits."""
    c = collector(first_digit_timeout_s=0.0, now=3.0)
    assert c.timer(3.0) == GatherResult("", "", "first-digit-timeout", 0)


def test_check_digits_refuses_what_is_not_a_dtmf_key() -> None:
    """Letters past D and spaces are refused by name; 0-9 * # A-D pass."""
    assert check_digits("0123456789*#ABCD") == "0123456789*#ABCD"
    with pytest.raises(ValueError, match=r"'E', 'x' are not DTMF keys"):
        check_digits("1xE")
    with pytest.raises(ValueError, match="no keys"):
        check_digits("")
