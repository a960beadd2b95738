"""How right bwsim's latency figures are: measured against a bot whose timing is known.

The bot (``tests/bots/turn_bot.py``, another process) greets 500 ms after ``start``,
answers each caller turn 700 ms after the turn's first silent frame reached it by
echoing the turn three times over, and sends ``clear`` 200 ms after a caller starts
talking over it. It writes down when it really sent each thing (``time.monotonic()``,
the same CLOCK_MONOTONIC as bwsim's call clock). Each call here: wait for the greeting,
say a 1 s tone, let the echo start, talk over it 800 ms in with a 0.6 s tone (a
barge-in), wait for the second answer, hang up.

The truth, per figure, on the call clock:

- response: the bot's send time of its reply minus the end of the caller's turn as
  bwsim scheduled it (the utterance's first sample + its length: exact by construction,
  no energy detection);
- barge-in → clear: the bot's send time of ``clear`` minus the start of the barge-in
  utterance;
- first audio: the bot's send time of its greeting minus the socket's opening.

bwsim's figures come from :func:`simulator.judge.metrics.measure` (speech found by energy on
both tracks, the clear from the timeline). The error is bwsim minus the truth; it
includes the bot → bwsim transit, which a caller does hear. The echo check aligns the
bot track with the μ-law round trip of the caller's turn and reports the largest sample
difference (0: bwsim recorded exactly what the bot sent, where the caller heard it).

    python benchmarks/accuracy.py [--calls 10] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import dist, emit, machine, note

from simulator import CallOptions, Harness, LiveCall
from simulator.call.pacer import quiet_gc
from simulator.call.result import CallResult
from simulator.judge.metrics import measure
from simulator.protocol.codec import ulaw_decode, ulaw_encode
from simulator.runner.load import loop_factory
from simulator.runner.targets import AppTarget

REPLY_MS, CLEAR_MS, GREETING_MS = 700, 200, 500


def tone(seconds: float, hz: float) -> np.ndarray:
    n = round(seconds * 8000 / 160) * 160  # whole frames: the speech ends on a frame edge
    t = np.arange(n) / 8000
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16)


TURN1, TURN2 = tone(1.0, 300), tone(0.6, 500)


async def caller(call: LiveCall) -> None:
    await call.wait_for("stream-accepted", timeout_ms=10_000)
    await call.wait_for("bot-speech-end", timeout_ms=10_000)
    await call.pause(300)
    await call.say(TURN1, "turn-1")
    start = await call.wait_for("bot-speech-start", timeout_ms=10_000, after_ms=call.ms())
    await call.pause(800 - (call.ms() - start.at_ms))
    await call.say(TURN2, "turn-2")
    reply = await call.wait_for("bot-speech-start", timeout_ms=10_000, after_ms=call.ms())
    await call.wait_for("bot-speech-end", timeout_ms=10_000, after_ms=reply.at_ms)
    await call.pause(300)


def _echo_check(result: CallResult, reply_at_ms: float, turn: np.ndarray) -> dict[str, Any]:
    bot = result.recorder.bot_track()
    expected = ulaw_decode(ulaw_encode(turn)).astype(np.int32)
    guess = round(reply_at_ms * 8)
    best: tuple[int, int] | None = None
    for shift in range(-40, 41):
        lo = guess + shift
        if lo < 0 or lo + len(expected) > len(bot):
            continue
        diff = int(np.max(np.abs(bot[lo : lo + len(expected)].astype(np.int32) - expected)))
        if best is None or diff < best[0]:
            best = (diff, shift)
    if best is None:
        return {"max_sample_diff": None, "offset_samples": None}
    return {"max_sample_diff": best[0], "offset_samples": best[1]}


def judge(result: CallResult, truth: list[dict[str, Any]]) -> dict[str, Any]:
    m = measure(result)
    t0 = result.recorder.clock.t0

    def on_clock(t: float) -> float:
        return (t - t0) * 1000

    starts = {e.detail.get("label"): e.at_ms for e in result.events("caller-audio-start")}
    sent = {(r["kind"], r["turn"]): on_clock(r["sent_at"]) for r in truth}
    row: dict[str, Any] = {"call": result.call_id, "failures": m.failures()}
    opened = m.stream_opened_at_ms
    if ("greeting", 0) in sent and m.first_audio_ms is not None and opened is not None:
        true = sent[("greeting", 0)] - opened
        row["first_audio"] = {"true": true, "measured": m.first_audio_ms}
    responses: list[dict[str, Any]] = []
    for n, (label, audio) in enumerate([("turn-1", TURN1), ("turn-2", TURN2)], start=1):
        turn = next((t for t in m.turns if t.label == label), None)
        if turn is None or turn.response_ms is None or ("reply", n) not in sent:
            responses.append({"turn": n, "missing": True})
            continue
        end = starts[label] + len(audio) / 8
        true = sent[("reply", n)] - end
        entry: dict[str, Any] = {"turn": n, "true": true, "measured": turn.response_ms}
        entry["speech_end_error_ms"] = turn.end_ms - end
        if n == 1 and turn.reply_at_ms is not None:
            entry["echo"] = _echo_check(result, turn.reply_at_ms, audio)
        responses.append(entry)
    row["responses"] = responses
    if m.barge_ins and ("clear", 2) in sent:
        b = m.barge_ins[0]
        true = sent[("clear", 2)] - starts["turn-2"]
        row["clear"] = {"true": true, "measured": b.clear_ms}
    return row


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bwsim-accuracy-"))
    truth_file = tmp / "truth.jsonl"
    env = {
        "TURN_BOT_TRUTH": str(truth_file),
        "TURN_BOT_REPLY_MS": str(REPLY_MS),
        "TURN_BOT_CLEAR_MS": str(CLEAR_MS),
        "TURN_BOT_GREETING_MS": str(GREETING_MS),
        "TURN_BOT_REPEAT": "3",
    }
    rows: list[dict[str, Any]] = []
    async with Harness(AppTarget("tests.bots.turn_bot:app"), bot_env=env) as h:
        quiet_gc()
        gate = asyncio.Semaphore(args.concurrency)

        async def one() -> CallResult:
            async with gate:
                return await h.place_call(caller, options=CallOptions(max_call_s=30))

        results = await asyncio.gather(*(one() for _ in range(args.calls)))
    truth = [json.loads(line) for line in truth_file.read_text().splitlines()]
    for result in results:
        row = judge(result, [r for r in truth if r["call"] == result.call_id])
        rows.append(row)
        emit({"benchmark": "accuracy", "row": row})

    def errors(key: str) -> list[float]:
        out = []
        for r in rows:
            items = r.get(key)
            for item in items if isinstance(items, list) else [items] if items else []:
                if "measured" in item and item["measured"] is not None:
                    out.append(abs(item["measured"] - item["true"]))
        return out

    bot_timer = [
        r["delay_ms"] - {"reply": REPLY_MS, "clear": CLEAR_MS, "greeting": GREETING_MS}[r["kind"]]
        for r in truth
    ]
    echo = [e["echo"]["max_sample_diff"] for r in rows for e in r["responses"] if e.get("echo")]
    emit(
        {
            "benchmark": "accuracy",
            "calls": args.calls,
            "concurrency": args.concurrency,
            "abs_error_ms": {
                "response": dist(errors("responses")),
                "clear": dist(errors("clear")),
                "first_audio": dist(errors("first_audio")),
            },
            "missing": sum(1 for r in rows for e in r["responses"] if e.get("missing")),
            "failures": [f for r in rows for f in r["failures"]],
            "echo_max_sample_diff": max(echo) if echo else None,
            "bot_timer_lateness_ms": dist(bot_timer),
            "target_error_ms": 20,
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=1)
    ns = parser.parse_args()
    note(f"accuracy: {ns.calls} call(s), {ns.concurrency} at a time …")
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main(ns))
