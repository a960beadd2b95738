"""``fuzz.start_metadata``: hypothesis-generated ``start`` sequences against the live bot.

Every example gets its own call and a genuine token (an authenticated webhook), opens the
socket, sends the generated frames (:mod:`simulator.audit.fuzzing`), streams a moment of
silence, and ends the connection as generated (``stop``, a bare close, or a drop). The
invariant (README.md, check ``fuzz.start_metadata``): no Voice API request except for the
example's own call, no 5xx, and the bot stays up. Two live victims (one in the same
account, one in another) are what the forged ids aim at.

Hypothesis runs in a worker thread and hands each example to the audit's event loop, so
the other checks keep running. No example database is written, and failing examples are
not shrunk (each costs a live call): the report keeps the first examples that broke the
invariant as they were sent.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from simulator.audit.context import AuditContext, MintError
from simulator.audit.model import Verdict, failed, inconclusive, missed, passed, skipped
from simulator.audit.probe import RawStream
from simulator.audit.rules import sentence
from simulator.rest.journal import JournalEntry
from simulator.runner.targets import describe_exit

__all__ = ["start_metadata"]

LISTEN_S = 0.3
"""How long each example listens after its frames before ending the connection."""
EXAMPLE_TIMEOUT_S = 60.0
_KEPT = 5


@dataclass
class _Stats:
    examples: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    down: str | None = None
    timed_out: bool = False
    """The bot stopped serving only in that a webhook went unanswered for 15 s."""
    previous: dict[str, Any] | None = None
    """The last example sent before the bot stopped serving."""
    samples: list[dict[str, Any]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _shown(frames: list[Any]) -> list[str]:
    out = []
    for f in frames[:6]:
        text = repr(f) if not isinstance(f, str) else f
        out.append(text if len(text) <= 300 else text[:300] + f"… ({len(text)} chars)")
    return out


async def _example(ctx: AuditContext, frames: list[Any], ending: str, stats: _Stats) -> None:
    from simulator.audit.fuzzing import OWN_CALL, encode  # noqa: PLC0415 - hypothesis is lazy

    check = "fuzz.start_metadata"
    call = ctx.new_call(check)
    try:
        minted = await ctx.mint(call)
    except MintError as exc:
        process = ctx.bot.process
        if process is not None and process.returncode is not None:
            stats.down = (
                f"the bot process {describe_exit(process.returncode)} (full log: "
                f"{ctx.bot.log_path})"
            )
        else:
            stats.down = f"an authenticated webhook failed: {exc}"
            # The webhook went out under a gate lease taken beforehand (the audit's own
            # queue is not in its 15 s): a time-out is the bot's, if the machine allows.
            stats.timed_out = "within 15 s" in str(exc)
        return
    stream = RawStream(minted.ws_url, minted.headers)
    if await stream.open():
        for frame in frames:
            wire = encode(frame)
            if isinstance(wire, str):
                wire = wire.replace(OWN_CALL, call.call_id)
            if not await stream.send(wire):
                break
        await stream.wait(LISTEN_S)
        result = await (stream.drop() if ending == "drop" else stream.close(stop=ending == "stop"))
    else:
        result = stream.result
    key = result.outcome if result.close_code is None else f"closed {result.close_code}"
    if result.http_status is not None:
        key = f"HTTP {result.http_status}"
    stats.outcomes[key] = stats.outcomes.get(key, 0) + 1
    if result.http_status is not None and result.http_status >= 500:
        stats.server_errors.append({"frames": _shown(frames), "http_status": result.http_status})
    shown = {"frames": _shown(frames), "ending": ending, "outcome": key}
    stats.previous = shown
    if len(stats.samples) < _KEPT:
        stats.samples.append(shown)


def _run_hypothesis(
    ctx: AuditContext, loop: asyncio.AbstractEventLoop, stats: _Stats, count: int, targets: Any
) -> None:
    from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: PLC0415

    from simulator.audit.fuzzing import endings, frame_sequences, pinned_examples  # noqa: PLC0415

    def body(frames: list[Any], ending: str) -> None:
        if stats.down is not None or stats.stop.is_set():
            return  # the bot is gone: the rest of the budget would only repeat that
        stats.examples += 1
        future = asyncio.run_coroutine_threadsafe(_example(ctx, frames, ending, stats), loop)
        future.result(timeout=EXAMPLE_TIMEOUT_S)

    test = given(frames=frame_sequences(targets), ending=endings())(body)
    for frames, ending in reversed(pinned_examples(targets)):
        test = example(frames=frames, ending=ending)(test)
    test = settings(
        max_examples=max(1, count),
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(test)
    test()


async def start_metadata(ctx: AuditContext) -> Verdict:
    """Run the generated examples, then check the invariant on everything that happened."""
    check = "fuzz.start_metadata"
    try:
        from simulator.audit.fuzzing import OWN_CALL, Targets  # noqa: PLC0415
    except ImportError:
        return skipped("hypothesis is not installed: pip install hypothesis, then audit again")
    victim = ctx.new_call(check, decoy=True)
    other = ctx.new_call(check, decoy=True, account=ctx.other_account())
    targets = Targets(
        own_call=OWN_CALL,
        own_account=ctx.account.account_id,
        victim_call=victim.call_id,
        victim_account=victim.account_id,
        other_call=other.call_id,
        other_account=other.account_id,
    )
    stats = _Stats()
    mark = ctx.mark()
    loop = asyncio.get_running_loop()
    count = ctx.config.fuzz_examples
    try:
        await asyncio.to_thread(_run_hypothesis, ctx, loop, stats, count, targets)
    except asyncio.CancelledError:
        stats.stop.set()
        raise
    alive = stats.down is None
    if alive:
        served, smoke = await ctx.smoke_call(check)
    else:
        served, smoke = False, {}
    await ctx.quiet()
    foreign: list[JournalEntry] = ctx.foreign(check, ctx.requests_since(mark))
    evidence: dict[str, Any] = {
        "examples_run": stats.examples,
        "example_budget": count,
        "outcomes": stats.outcomes,
        "victims": {
            victim.call_id: ctx.phase(victim.call_id),
            other.call_id: ctx.phase(other.call_id),
        },
        "foreign_requests": ctx.evidence(foreign[:10]),
        "server_errors": stats.server_errors[:_KEPT],
        "first_examples": stats.samples,
        "next_call": smoke,
    }
    if stats.down is not None:
        evidence["last_example_before_it_stopped"] = stats.previous
    problems: list[str] = []
    if foreign:
        e = foreign[0]
        problems.append(
            f"a generated start frame made the bot send {len(foreign)} request(s) for other "
            f"calls, first {e.method} {e.path} (HTTP {e.status})"
        )
    for victim_id, phase in evidence["victims"].items():
        if phase != "answered":
            problems.append(f"the victim call {victim_id} was {phase}")
    if stats.server_errors:
        problems.append(f"{len(stats.server_errors)} socket upgrade(s) got a 5xx")
    if stats.down is not None:
        problems.append(f"the bot stopped serving after {stats.examples} example(s): {stats.down}")
    elif not served:
        problems.append(f"after {stats.examples} examples the bot no longer served a call")
    if problems:
        if stats.timed_out and len(problems) == 1:
            # Only a missed 15 s answer, the bot process alive: re-run, unreliable under load.
            return missed(
                sentence(
                    problems,
                    "the bot's, not the audit's: the webhook's 15 s started only after the "
                    "audit's own queue, and the bot process was alive; answer webhooks at "
                    "once, and see the last example before it stopped in the evidence",
                ),
                **evidence,
            )
        return failed(
            sentence(
                problems,
                "read only streamId from start (validated), never ids, ignore later start "
                "frames, and close the socket (1008) on anything unexpected",
            ),
            **evidence,
        )
    if not stats.examples:
        return inconclusive(
            "no generated example ran, so nothing was observed: raise --fuzz-examples",
            **evidence,
        )
    return passed(
        f"{stats.examples} generated start sequences (duplicate starts, media first, forged, "
        "huge and unicode ids) caused no request for another call, no 5xx, and the bot "
        "stayed up",
        **evidence,
    )
