"""``fuzz.start_metadata``: hypothesis-generated ``start`` sequences against the live bot.

Every example gets its own call and a genuine token (an authenticated webhook), opens the
socket, sends the frames (:mod:`simulator.audit.fuzzing`), listens a moment, and ends the
connection as generated (``stop``, a bare close, or a drop). Two live victims (one in the
same account, one in another) are what the forged ids aim at. The invariant (README.md,
check ``fuzz.start_metadata``), checked after each example:

- no Voice API request about any call but the example's own (both its account and its
  call id; :func:`~simulator.audit.fuzzing.about_trusted_call`), each such request tied
  to the example that caused it;
- when the bot hangs a call up, it is its own call, not a forged one;
- the bot does not close the socket with 1011 (its own error) or 1006 (no close frame:
  a crash) before ``stop``;
- no 5xx on the upgrade, and the bot keeps serving.

The pinned examples run first, one by one. Then hypothesis generates the rest from a seed
(``--fuzz-seed``, else ``HYPOTHESIS_SEED``, else a random one) that the verdict prints:
the same seed sends the same examples again. A failing example is shrunk by hypothesis
(each try a live call, at most :data:`SHRINK_CALLS` of them) and written out as a bwsim
scenario that replays it (``bwsim run FILE --app BOT``). :data:`LANES` hypothesis runs go
at once (fewer under ``--max-calls``), each with its own two victims and the seed plus
its number; within a lane examples run one at a time, so a request about a lane's victim
is tied to the example that lane was running (the evidence names it), and a late
hang-up of an earlier example's own call is recognised as such.

Hypothesis runs in a worker thread and hands each example to the audit's event loop, so
the other checks keep running; the lanes take turns inside hypothesis (it is not
thread-safe) and overlap only in their live calls. No example database is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

from simulator.audit.context import AuditContext, MintError
from simulator.audit.fuzz_rules import (
    CRASHED,
    FuzzRun,
    choose_seed,
    example_problems,
    headline_rank,
)
from simulator.audit.model import (
    Verdict,
    failed,
    inconclusive,
    missed,
    passed,
    skipped,
    warned,
)
from simulator.audit.probe import RawStream
from simulator.audit.rules import sentence
from simulator.rest.journal import JournalEntry
from simulator.rest.routes import CALL_ROUTES
from simulator.runner.targets import describe_exit

__all__ = ["CRASHED", "SHRINK_CALLS", "choose_seed", "example_problems", "start_metadata"]

CHECK = "fuzz.start_metadata"
LISTEN_S = 0.3
"""How long each example listens after its frames before ending the connection."""
ACT_WAIT_S = 0.5
"""How long after the connection ends each example waits for the bot's Voice API request."""
EXAMPLE_TIMEOUT_S = 60.0
LANES = 4
"""Examples at once (the default --max-calls), each lane with its own victims, its own
seed (the seed plus its number) and its own shrinking."""
SHRINK_CALLS = 40
"""Live calls hypothesis may spend shrinking a failing example."""
_KEPT = 5


class _Broken(AssertionError):
    """An example broke the invariant; hypothesis shrinks what raises this."""


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
    failures: list[FuzzRun] = field(default_factory=list)
    own_calls: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Every example's own call id → its account and example number."""
    running: dict[int, str] = field(default_factory=dict)
    """The examples under way → the text of their frames."""
    accounts: set[str] = field(default_factory=set)
    """The accounts the examples' calls and victims are in."""
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    """Requests about a call no example owns that several running examples could have caused."""
    lane_victims: dict[str, int] = field(default_factory=dict)
    """Each lane's victim call ids → the lane: a request about one is that lane's."""
    shrink_calls: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hypothesis: threading.Lock = field(default_factory=threading.Lock)
    """Held by a lane while hypothesis itself runs: it is not thread-safe (two lanes at once
    broke its internal caches: a ``KeyError``, a ``SystemError`` from ``ast.parse``). A lane
    lets it go while its example's live call runs, so the calls still overlap."""


@dataclass
class _Lane:
    """One of the concurrent hypothesis runs: its own victims, seed and shrinking."""

    number: int
    targets: Any
    seed: int
    known: dict[str, FuzzRun] = field(default_factory=dict)
    last_failure: FuzzRun | None = None
    shrink_calls: int = 0


def _shown(frames: list[Any]) -> list[str]:
    out = []
    for f in frames[:6]:
        text = repr(f) if not isinstance(f, str) else f
        out.append(text if len(text) <= 300 else text[:300] + f"… ({len(text)} chars)")
    return out


def _key(frames: list[Any], ending: str) -> str:
    return hashlib.sha256(repr((frames, ending)).encode("utf-8", "replace")).hexdigest()


class _Watch:
    """An event set by a Voice API request that may be this example's doing.

    That is one about its own call, its lane's victims, or a call no example owns.
    """

    def __init__(self, ctx: AuditContext, stats: _Stats, lane: int, own: str) -> None:
        self.seen = asyncio.Event()
        self._stats, self._lane, self._own = stats, lane, own
        self._unsubscribe = ctx.fake.journal.subscribe(self._note)

    def _note(self, entry: JournalEntry) -> None:
        if entry.route not in CALL_ROUTES:
            return
        call = entry.call_id or ""
        lane = self._stats.lane_victims.get(call)
        unowned = lane is None and call not in self._stats.own_calls
        if call == self._own or lane == self._lane or unowned:
            self.seen.set()

    def close(self) -> None:
        """Stop watching the journal."""
        self._unsubscribe()


def _ours(
    ctx: AuditContext, entries: list[JournalEntry], stats: _Stats, run: FuzzRun
) -> list[JournalEntry]:
    """The example's foreign requests: tied to it by the call they name.

    - about an example's own call: that example's; foreign only when the account is not
      the call's own (:func:`~simulator.audit.fuzzing.about_trusted_call`: both ids must
      match), so a late hang-up of an earlier example's call is no spoof;
    - about a lane's victim: the example that lane is running;
    - about another check's call: that check's;
    - about a call no one owns (garbled ids): the example whose frames carry the id, or
      the only one running; otherwise it is kept aside as ambiguous (the check still fails
      on it, but no single example is blamed or shrunk for it).
    """
    from simulator.audit.fuzzing import Targets, about_trusted_call  # noqa: PLC0415

    others = {c for c, o in ctx.trusted.items() if o != CHECK}
    others |= {c for c, o in ctx.decoys.items() if o != CHECK}
    text = stats.running.get(run.number, "")
    out = []
    for e in entries:
        call = e.call_id or ""
        if e.route not in CALL_ROUTES or call in others:
            continue
        if call in stats.own_calls:
            account, number = stats.own_calls[call]
            trusted = Targets(call, account, "", "", "", "")
            if number == run.number and not about_trusted_call(e.account_id, call, trusted):
                out.append(e)
            continue
        if call in stats.lane_victims:
            # The lane's running example, if its frames name that victim; else a late
            # request of an earlier example of the lane (a loaded machine): ambiguous.
            if stats.lane_victims[call] == run.lane and call in text:
                out.append(e)
            elif stats.lane_victims[call] == run.lane:
                _ambiguous(stats, e)
            continue
        # Every example names the same few accounts: only an id no one owns tells them apart.
        ids = [i for i in (e.call_id, e.account_id) if i and i not in stats.accounts]
        carriers = [n for n, t in stats.running.items() if any(i in t for i in ids)]
        if (ids and any(i in text for i in ids)) or list(stats.running) == [run.number]:
            out.append(e)
        elif not carriers:
            _ambiguous(stats, e)
    return out


async def _example(ctx: AuditContext, run: FuzzRun, stats: _Stats) -> None:
    from simulator.audit.fuzzing import OWN_CALL, encode  # noqa: PLC0415 - hypothesis is lazy

    call = ctx.new_call(CHECK)
    stats.own_calls[call.call_id] = (call.account_id, run.number)
    stats.running[run.number] = "\n".join(
        w if isinstance(w, str) else w.decode("latin-1") for w in map(encode, run.frames)
    )
    mark = ctx.mark()
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
        stats.running.pop(run.number, None)
        return
    watch = _Watch(ctx, stats, run.lane, call.call_id)
    try:
        stream = RawStream(minted.ws_url, minted.headers)
        if await stream.open():
            for frame in run.frames:
                wire = encode(frame)
                if isinstance(wire, str):
                    wire = wire.replace(OWN_CALL, call.call_id)
                if not await stream.send(wire):
                    break
            await stream.wait(LISTEN_S)
            closing = (
                stream.drop() if run.ending == "drop" else stream.close(stop=run.ending == "stop")
            )
            result = await closing
            watch.seen.clear()
            if ctx.is_up(call.call_id):
                # The bot's request (its hang-up, or the forged one) follows the close.
                await _wait(watch.seen, ACT_WAIT_S)
        else:
            result = stream.result
    finally:
        watch.close()
    key = result.outcome if result.close_code is None else f"closed {result.close_code}"
    if result.http_status is not None:
        key = f"HTTP {result.http_status}"
    run.outcome = key
    stats.outcomes[key] = stats.outcomes.get(key, 0) + 1
    if result.http_status is not None and result.http_status >= 500:
        stats.server_errors.append(
            {"frames": _shown(run.frames), "http_status": result.http_status}
        )
        run.problems.append(f"the socket upgrade got HTTP {result.http_status}")
    run.foreign = _ours(ctx, ctx.requests_since(mark), stats, run)
    stats.running.pop(run.number, None)
    run.problems += example_problems(
        result.outcome, result.close_code, run.foreign, ctx.is_up(call.call_id)
    )
    shown = {
        "example": run.number,
        "lane": run.lane,
        "frames": _shown(run.frames),
        "ending": run.ending,
        "outcome": key,
    }
    stats.previous = shown
    if len(stats.samples) < _KEPT:
        stats.samples.append(shown)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


def _ambiguous(stats: _Stats, e: JournalEntry) -> None:
    """Keep a foreign request no single example can be blamed for (the check fails on it)."""
    with stats.lock:
        if e.seq not in {a["seq"] for a in stats.ambiguous}:
            stats.ambiguous.append(
                {
                    "seq": e.seq,
                    "request": f"{e.method} {e.path}"[:300],
                    "status": e.status,
                    "examples_running": sorted(stats.running),
                }
            )


def _send(
    ctx: AuditContext,
    loop: asyncio.AbstractEventLoop,
    stats: _Stats,
    *,
    lane: int,
    frames: list[Any],
    ending: str,
    source: str,
) -> FuzzRun:
    with stats.lock:
        stats.examples += 1
        number = stats.examples
    run = FuzzRun(number, lane, source, frames, ending)
    future = asyncio.run_coroutine_threadsafe(_example(ctx, run, stats), loop)
    future.result(timeout=EXAMPLE_TIMEOUT_S)
    return run


def _run_lane(
    ctx: AuditContext,
    loop: asyncio.AbstractEventLoop,
    stats: _Stats,
    lane: _Lane,
    count: int,
) -> None:
    """One lane: the pinned examples (lane 0 only), then ``count`` generated ones."""
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415
    from hypothesis import seed as with_seed  # noqa: PLC0415

    from simulator.audit.fuzzing import endings, frame_sequences, pinned_examples  # noqa: PLC0415

    targets = lane.targets
    for frames, ending in pinned_examples(targets) if lane.number == 0 else []:
        if stats.down is not None or stats.stop.is_set():
            return
        run = _send(ctx, loop, stats, lane=0, frames=frames, ending=ending, source="pinned")
        if run.problems:
            stats.failures.append(run)

    def body(frames: list[Any], ending: str) -> None:
        key = _key(frames, ending)
        run = lane.known.get(key)  # hypothesis replays the shrunk example: no second call
        if run is None:
            if stats.down is not None or stats.stop.is_set():
                return  # the bot is gone: the rest of the budget would only repeat that
            if lane.last_failure is not None:
                if lane.shrink_calls >= SHRINK_CALLS:
                    return  # shrinking has had its live calls: keep the smallest so far
                lane.shrink_calls += 1
                with stats.lock:
                    stats.shrink_calls += 1
            send = functools.partial(_send, ctx, loop, stats, lane=lane.number, source="generated")
            stats.hypothesis.release()  # the live call: other lanes' hypothesis may run
            try:
                run = send(frames=frames, ending=ending)
            finally:
                stats.hypothesis.acquire()
            if run.problems:
                lane.known[key] = run
        if run.problems:  # one raise site: hypothesis tells failures apart by where they raise
            lane.last_failure = run
            raise _Broken(run.problems[0])

    test = given(frames=frame_sequences(targets), ending=endings())(body)
    test = settings(
        max_examples=max(1, count),
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )(test)
    test = with_seed(lane.seed)(test)
    try:
        with stats.hypothesis:
            test()  # raises the shrunk example's _Broken, which is lane.last_failure
    except Exception:
        # _Broken, or hypothesis's own complaint about a live bot answering a replayed
        # example differently: either way the failing example is already recorded.
        if lane.last_failure is None:
            raise
    if lane.last_failure is not None:
        with stats.lock:
            stats.failures.append(lane.last_failure)


def _write_replay(
    ctx: AuditContext, run: FuzzRun, seed: int, targets: Any
) -> tuple[str | None, str, list[str]]:
    """The replay scenario's file (None without ``fuzz_out``), its YAML, what it leaves out."""
    import yaml  # noqa: PLC0415

    from simulator.audit.fuzzing import replay_scenario  # noqa: PLC0415

    what = run.problems[0]
    scenario, notes = replay_scenario(
        run.frames,
        run.ending,  # type: ignore[arg-type]  # one of the generated endings
        targets,
        name=f"fuzz.start_metadata seed {seed} example {run.number}",
        description=(
            f"Written by bwsim audit (fuzz.start_metadata, --fuzz-seed {seed}): the "
            f"{run.source} example {run.number} broke the invariant: {what}."
        ),
    )
    text = (
        "# Replays a failing fuzz example: bwsim run THIS_FILE --app YOUR_BOT\n"
        + yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False, allow_unicode=True)
    )
    folder = ctx.config.fuzz_out
    if folder is None:  # run_audit from code: the YAML is in the evidence, no file left behind
        return None, text, notes
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"fuzz-start-metadata-seed-{seed}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path), text, notes


def _failure_evidence(run: FuzzRun, ctx: AuditContext) -> dict[str, Any]:
    return {
        "example": run.number,
        "source": run.source,
        "frames": _shown(run.frames),
        "ending": run.ending,
        "outcome": run.outcome,
        "problems": run.problems,
        "foreign_requests": [
            {**ctx.evidence([e])[0], "example": run.number} for e in run.foreign[:5]
        ],
    }


def _lanes(ctx: AuditContext, stats: _Stats, seed: int, targets: Any, own_call: str) -> list[_Lane]:
    """One lane per call slot (up to :data:`LANES`), each with its own two victim calls."""
    lanes: list[_Lane] = []
    for number in range(max(1, min(LANES, ctx.config.max_calls))):
        victim = ctx.new_call(CHECK, decoy=True)
        other = ctx.new_call(CHECK, decoy=True, account=ctx.other_account())
        stats.lane_victims |= {victim.call_id: number, other.call_id: number}
        stats.accounts |= {victim.account_id, other.account_id}
        lane_targets = targets(
            own_call=own_call,
            own_account=ctx.account.account_id,
            victim_call=victim.call_id,
            victim_account=victim.account_id,
            other_call=other.call_id,
            other_account=other.account_id,
        )
        lanes.append(_Lane(number, lane_targets, seed + number))
    return lanes


async def _run_lanes(ctx: AuditContext, stats: _Stats, lanes: list[_Lane], share: int) -> None:
    """Every lane at once, each hypothesis run in a worker thread.

    Hypothesis warns when it prints a large example (a 64 KB id); under a warnings-as-
    errors filter (pytest's) that warning failed examples the bot had passed.
    """
    loop = asyncio.get_running_loop()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Generating overly large repr")
            await asyncio.gather(
                *(asyncio.to_thread(_run_lane, ctx, loop, stats, lane, share) for lane in lanes)
            )
    except asyncio.CancelledError:
        stats.stop.set()
        raise


async def start_metadata(ctx: AuditContext) -> Verdict:
    """Run the pinned and generated examples; each is checked as it ends."""
    try:
        from simulator.audit.fuzzing import OWN_CALL, Targets  # noqa: PLC0415
    except ImportError:
        return skipped("hypothesis is not installed: pip install hypothesis, then audit again")
    stats = _Stats()
    seed = choose_seed(ctx.config.fuzz_seed)
    lanes = _lanes(ctx, stats, seed, Targets, OWN_CALL)
    count = ctx.config.fuzz_examples
    await _run_lanes(ctx, stats, lanes, -(-count // len(lanes)))  # each lane's part
    alive = stats.down is None
    if alive:
        served, smoke = await ctx.smoke_call(CHECK)
    else:
        served, smoke = False, {}
    reproduce = f"bwsim audit --only {CHECK} --fuzz-seed {seed}"
    evidence: dict[str, Any] = {
        "seed": seed,
        "reproduce": reproduce,
        "examples_run": stats.examples,
        "example_budget": count,
        "shrink_calls": stats.shrink_calls,
        "outcomes": stats.outcomes,
        "lanes": len(lanes),
        "victims": {call: ctx.phase(call) for call in stats.lane_victims},
        "failing_examples": [_failure_evidence(r, ctx) for r in stats.failures],
        "server_errors": stats.server_errors[:_KEPT],
        "ambiguous_requests": stats.ambiguous[:_KEPT],
        "first_examples": stats.samples,
        "next_call": smoke,
    }
    if stats.down is not None:
        evidence["last_example_before_it_stopped"] = stats.previous
    problems: list[str] = []
    if stats.failures:
        chosen = min(stats.failures, key=lambda r: headline_rank(r, lanes[r.lane].targets))
        path, text, notes = _write_replay(ctx, chosen, seed, lanes[chosen.lane].targets)
        evidence["scenario"] = path
        evidence["scenario_yaml"] = text
        evidence["scenario_not_replayed"] = notes
        where = (
            f"replay: bwsim run {path} --app YOUR_BOT"
            if path
            else "its replay scenario is the evidence's scenario_yaml"
        )
        pinned = sum(r.source == "pinned" for r in stats.failures)
        also = (
            f"; {pinned} pinned example(s) failed too"
            if pinned and chosen.source != "pinned"
            else ""
        )
        problems.append(
            f"the {chosen.source} example {chosen.number}"
            f"{' (shrunk)' if chosen.source == 'generated' else ''} broke the invariant: "
            f"{'; '.join(chosen.problems)}{also} ({where})"
        )
    if stats.ambiguous:
        first = stats.ambiguous[0]
        problems.append(
            f"{len(stats.ambiguous)} request(s) about a call no example owns, made while "
            f"examples {first['examples_running']} ran (not tied to one), first "
            f"{first['request']} (HTTP {first['status']})"
        )
    for victim_id, phase in evidence["victims"].items():
        if phase != "answered":
            problems.append(f"the victim call {victim_id} was {phase}")
    if stats.down is not None:
        problems.append(f"the bot stopped serving after {stats.examples} example(s): {stats.down}")
    elif not served:
        problems.append(f"after {stats.examples} examples the bot no longer served a call")
    if problems:
        fix = (
            "read only streamId from start (validated), never ids, ignore later start "
            "frames, and close the socket (1008) on anything unexpected"
        )
        # The one problem must be a failing example's crash: with no failing example the
        # problem is another (the bot stopped serving), and all() of nothing is True.
        crash_only = (
            len(problems) == 1
            and bool(stats.failures)
            and all(p.startswith(CRASHED) for r in stats.failures for p in r.problems)
        )
        if crash_only:
            # Only who holds the stream's one-time token (Bandwidth) can send that start:
            # surviving it is hardening beyond the contract, as for webhook.bad_body.
            return warned(
                f"seed {seed}: "
                + sentence(
                    problems,
                    "hardening: only Bandwidth (who holds the stream token) sends start, but "
                    "check its shape and close the socket 1008 on a malformed one instead "
                    "of raising",
                )
                + f" (again: {reproduce})",
                **evidence,
            )
        if stats.timed_out and len(problems) == 1:
            # Only a missed 15 s answer, the bot process alive: re-run, unreliable under load.
            return missed(
                f"seed {seed}: "
                + sentence(
                    problems,
                    "the bot's, not the audit's: the webhook's 15 s started only after the "
                    "audit's own queue, and the bot process was alive; answer webhooks at "
                    "once, and see the last example before it stopped in the evidence",
                ),
                **evidence,
            )
        return failed(f"seed {seed}: {sentence(problems, fix)} (again: {reproduce})", **evidence)
    if not stats.examples:
        return inconclusive(
            "no generated example ran, so nothing was observed: raise --fuzz-examples",
            **evidence,
        )
    return passed(
        f"seed {seed}: {stats.examples} start sequences (duplicate starts, media first, "
        "forged, huge and unicode ids) caused no request about another call, no 1011/1006 "
        f"close, no 5xx, and the bot stayed up (reproduce: {reproduce})",
        **evidence,
    )
