"""The pure rules of ``fuzz.start_metadata``: what an example broke, which one to name, the seed.

Kept apart from the live check (:mod:`simulator.audit.checks.fuzz`) so they can be
tested without a bot, and so the check itself stays about driving the examples.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from typing import Any

from simulator.rest.journal import JournalEntry

__all__ = ["CRASHED", "FuzzRun", "choose_seed", "example_problems", "headline_rank"]

CRASHED = "the bot closed the socket with"
"""How an example's problem starts when the bot closed the socket 1011/1006 before ``stop``."""


@dataclass
class FuzzRun:
    """One example as it ran: where it came from, what it sent, what it broke."""

    number: int
    lane: int
    source: str
    frames: list[Any]
    ending: str
    outcome: str = ""
    problems: list[str] = field(default_factory=list)
    foreign: list[JournalEntry] = field(default_factory=list)


def headline_rank(run: FuzzRun, targets: Any) -> tuple[bool, bool, bool, bool, int]:
    """Which failure the verdict names and writes out as a scenario.

    A request or hang-up over a crash, a generated example over a pinned one, a request
    about a live victim call over one about no call (a garbled id), one the scenario
    format replays whole (its forged ids in a ``start`` frame's metadata) over one it can
    only come near (a garbled envelope), then the lowest number.

    The victim comes before the lowest number because it is the spoof itself, and
    because its request is tied to the example by the lane whose victim it is; a
    garbled id's request is tied to an example only when no other example was running
    when it came, so which of those failed varied with the machine's load (under a CPU
    hog a garbled-id example was named, and its replay had no victim to fail on).
    """
    from simulator.audit.fuzzing import replay_scenario  # noqa: PLC0415

    crash_only = all(p.startswith(CRASHED) for p in run.problems)
    victims = {targets.victim_call, targets.other_call}
    about_victim = any(e.call_id in victims for e in run.foreign)
    _, notes = replay_scenario(run.frames, run.ending, targets, name="", description="")  # type: ignore[arg-type]
    return crash_only, run.source != "generated", not about_victim, bool(notes), run.number


def example_problems(
    result_outcome: str,
    close_code: int | None,
    foreign: list[JournalEntry],
    own_up: bool,
) -> list[str]:
    """What one example broke, in words (empty when it kept the invariant).

    ``result_outcome`` is ``closed`` when the bot closed the socket before the example
    ended it; ``own_up`` whether the example's own call is still up afterwards.
    """
    problems: list[str] = []
    if foreign:
        e = foreign[0]
        problems.append(
            f"the bot sent {len(foreign)} request(s) for other calls, first "
            f"{e.method} {e.path} (HTTP {e.status})"
        )
        hung_up_other = any(
            '"completed"' in e.body or e.method == "DELETE" for e in foreign if e.body is not None
        )
        if hung_up_other and own_up:
            problems.append("it hung up a forged call and left its own call up")
    if result_outcome == "closed" and close_code in (1011, 1006):
        meaning = "its own error" if close_code == 1011 else "no close frame: it crashed"
        problems.append(f"{CRASHED} {close_code} ({meaning}) before stop")
    return problems


def choose_seed(configured: int | None) -> int:
    """``--fuzz-seed`` if given, else ``HYPOTHESIS_SEED`` if set, else a random seed."""
    if configured is not None:
        return configured
    env = os.environ.get("HYPOTHESIS_SEED", "").strip()
    if env:
        try:
            return int(env)
        except ValueError:
            return int.from_bytes(hashlib.sha256(env.encode()).digest()[:4], "big")
    return random.SystemRandom().randrange(2**32)
