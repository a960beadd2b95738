"""The Sans-I/O BXML runner: Bandwidth's rules for running a document, events in, commands out."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simulator.protocol.bxml_runner as bxml_runner_module
from simulator.protocol.bxml import parse_bxml
from simulator.protocol.bxml_runner import (
    Answer,
    BxmlReplaced,
    BxmlRunner,
    CloseStream,
    Command,
    DigitPressed,
    Done,
    Ended,
    EndTransfer,
    Event,
    GatherEnded,
    HangUp,
    Note,
    OpenStream,
    Redirected,
    RejectStream,
    ReportOrphanedLeg,
    SendDtmf,
    SendWebhook,
    SetTimer,
    Started,
    StreamClosed,
    TimerFired,
    Trace,
    TransferCall,
    TransferEnded,
    VerbStarted,
    WebhookAnswered,
    WebhookFailed,
    orphaned_leg_detail,
)
from simulator.protocol.gather import GatherResult
from simulator.protocol.urls import stream_url
from simulator.protocol.verb_audio import AudioFetched, FetchAudio, PlayVerbAudio, TimedVerb
from simulator.protocol.verbs import (
    StartStream,
    Step,
    Transfer,
    plan,
    speech_seconds,
    stream_hold,
)

BASE = "https://bot.example/answer"
STREAM = '<StartStream name="a" destination="wss://bot.example/ws"/>'
IMPLICIT_HANGUP = [Note("BXML ran out: implicit hang-up"), HangUp("hangup"), Done()]


def steps(body: str) -> tuple[Step, ...]:
    """The planned steps of ``<Response>{body}</Response>``."""
    return tuple(plan(parse_bxml(f"<Response>{body}</Response>", context="webhook"), BASE))


def timed(body: str) -> TimedVerb:
    """The one verb of ``<Response>{body}</Response>``, a verb the caller hears."""
    [step] = steps(body)
    assert isinstance(step, TimedVerb)
    return step


def make_runner(*, grace: float = 5.0) -> BxmlRunner:
    """A runner whose stream ids are ``s-1``, ``s-2`` and so on."""
    ids = (f"s-{n}" for n in itertools.count(1))
    return BxmlRunner(orphan_grace_s=grace, stream_ids=lambda: next(ids))


def verbs(commands: list[Command]) -> list[str]:
    """The verbs the commands record as started, in order."""
    return [type(c.step).__name__ for c in commands if isinstance(c, VerbStarted)]


def plain(commands: list[Command]) -> list[Command]:
    """The commands without the ``verb`` timeline records."""
    return [c for c in commands if not isinstance(c, VerbStarted)]


def start(runner: BxmlRunner, body: str, now: float = 0.0) -> list[Command]:
    """Start ``runner`` on the document ``<Response>{body}</Response>``."""
    return runner.handle(Started(steps(body)), now)


# -- one rule each ---------------------------------------------------------------------


def test_start_stream_does_not_block() -> None:
    """<StartStream> answers, opens the stream and goes straight on to the next verb."""
    runner = make_runner()
    out = start(runner, STREAM)
    assert verbs(out) == ["StartStream"]
    [stream] = steps(STREAM)
    assert isinstance(stream, StartStream)
    assert plain(out) == [Answer(), OpenStream(stream, "s-1", "a"), *IMPLICIT_HANGUP]


def test_unnamed_stream_is_named_by_its_id() -> None:
    """A <StartStream> without a name is known by its stream id."""
    out = start(make_runner(), '<StartStream destination="wss://b/ws"/><Pause duration="1"/>')
    [opened] = [c for c in out if isinstance(c, OpenStream)]
    assert (opened.stream_id, opened.name) == ("s-1", "s-1")


def test_duplicate_stream_name_is_rejected() -> None:
    """A second <StartStream> with a name already in use is rejected, not opened."""
    out = start(make_runner(), STREAM + STREAM)
    assert [type(c) for c in plain(out)][:4] == [Answer, OpenStream, Answer, RejectStream]
    [rejected] = [c for c in out if isinstance(c, RejectStream)]
    assert (rejected.name, rejected.stream_id) == ("a", "s-2")
    assert (rejected.cause, rejected.original) == ("duplicate", "a")


def test_fifth_track_is_rejected_with_track_limit() -> None:
    """Four one-track streams open; a fifth is rejected with cause track-limit."""
    body = "".join(f'<StartStream name="s{n}" destination="wss://b/ws"/>' for n in range(5))
    out = start(make_runner(), body + '<Pause duration="1"/>')
    assert [c.name for c in out if isinstance(c, OpenStream)] == ["s0", "s1", "s2", "s3"]
    [rejected] = [c for c in out if isinstance(c, RejectStream)]
    assert (rejected.name, rejected.cause, rejected.original) == ("s4", "track-limit", None)


def test_both_tracks_count_twice_toward_the_limit() -> None:
    """tracks="both" counts 2: after two such streams a one-track stream is rejected."""
    both = '<StartStream name="b{}" tracks="both" destination="wss://b/ws"/>'
    body = both.format(1) + both.format(2) + '<StartStream name="x" destination="wss://b/ws"/>'
    out = start(make_runner(), body + '<Pause duration="1"/>')
    assert [c.name for c in out if isinstance(c, OpenStream)] == ["b1", "b2"]
    assert [(c.name, c.cause) for c in out if isinstance(c, RejectStream)] == [("x", "track-limit")]


def test_an_ended_stream_frees_its_name_and_tracks() -> None:
    """Once a stream has closed, its name may be used again and its tracks are free."""
    runner = make_runner()
    four = "".join(f'<StartStream name="s{n}" destination="wss://b/ws"/>' for n in range(4))
    start(runner, four + '<Pause duration="10"/>')
    runner.handle(StreamClosed("s0", accepted=True), 1.0)
    reuse = steps('<StartStream name="s0" destination="wss://b/w2"/>')
    again = runner.handle(BxmlReplaced(reuse), 2.0)
    assert [c.name for c in again if isinstance(c, OpenStream)] == ["s0"]
    assert not [c for c in again if isinstance(c, RejectStream)]


def test_a_stream_asked_to_stop_counts_until_it_has_closed() -> None:
    """A stopped stream whose socket is still open keeps its name and its track."""
    four = "".join(f'<StartStream name="s{n}" destination="wss://b/ws"/>' for n in range(4))
    body = four + '<StopStream name="s0"/><StartStream name="s0" destination="wss://b/ws"/>'
    out = start(make_runner(), body + '<Pause duration="1"/>')
    assert CloseStream("s0") in out
    assert [(c.name, c.cause) for c in out if isinstance(c, RejectStream)] == [("s0", "duplicate")]


def test_pause_holds_for_its_duration() -> None:
    """<Pause> answers and holds until its duration has passed, then the document goes on."""
    runner = make_runner()
    assert plain(start(runner, '<Pause duration="10"/>', now=100.0)) == [Answer(), SetTimer(110.0)]
    assert runner.handle(TimerFired(), 105.0) == [SetTimer(110.0)]  # woken early
    assert runner.handle(TimerFired(), 110.0) == IMPLICIT_HANGUP


def test_ring_answers_unless_told_not_to() -> None:
    """<Ring> rings for its duration and answers, except with answerCall="false"."""
    ring = timed('<Ring duration="3"/>')
    out = plain(start(make_runner(), '<Ring duration="3"/>'))
    assert out == [Answer(), PlayVerbAudio(ring, 3.0), SetTimer(3.0)]
    quiet_ring = timed('<Ring duration="3" answerCall="false"/>')
    quiet = start(make_runner(), '<Ring duration="3" answerCall="false"/>')
    assert plain(quiet) == [PlayVerbAudio(quiet_ring, 3.0), SetTimer(3.0)]


def test_speak_sentence_takes_speech_time() -> None:
    """<SpeakSentence> answers, traces the text, and holds for the time speaking it takes."""
    text = "one two three four five six seven eight nine ten"
    runner = make_runner()
    out = start(runner, f"<SpeakSentence>{text}</SpeakSentence>", now=1.0)
    assert plain(out) == [
        Answer(),
        Trace("speak", {"text": text}),
        PlayVerbAudio(timed(f"<SpeakSentence>{text}</SpeakSentence>"), speech_seconds(text)),
        SetTimer(1.0 + speech_seconds(text)),
    ]
    assert runner.handle(TimerFired(), 1.0 + speech_seconds(text)) == IMPLICIT_HANGUP


def test_stop_stream_without_wait_stops_and_goes_on() -> None:
    """<StopStream> without wait stops the stream and runs the next verb at once."""
    out = start(make_runner(), STREAM + '<StopStream name="a"/>')
    assert plain(out)[2:] == [CloseStream("a"), *IMPLICIT_HANGUP]


def test_stop_stream_wait_holds_until_the_socket_closes() -> None:
    """<StopStream wait="true"> holds the call until that stream's socket has closed."""
    runner = make_runner()
    out = start(
        runner,
        STREAM
        + '<StartStream name="b" destination="wss://x/ws"/>'
        + '<StopStream name="a" wait="true"/>',
    )
    assert not any(isinstance(c, CloseStream | HangUp) for c in out)
    assert runner.handle(StreamClosed("b", accepted=True), 1.0) == []
    assert runner.handle(StreamClosed("a", accepted=True), 2.0) == IMPLICIT_HANGUP


def test_stop_stream_wait_on_a_closed_stream_goes_on() -> None:
    """<StopStream wait="true"> for a stream already closed does not hold."""
    runner = make_runner()
    start(runner, STREAM + '<Pause duration="5"/><StopStream name="a" wait="true"/>')
    runner.handle(StreamClosed("a", accepted=False), 1.0)
    assert plain(runner.handle(TimerFired(), 5.0)) == IMPLICIT_HANGUP


def test_stop_stream_of_unknown_stream_is_noted() -> None:
    """<StopStream> naming no stream is noted and skipped."""
    out = start(make_runner(), '<StopStream name="nope" wait="true"/>')
    assert plain(out) == [Note("<StopStream name='nope'>: no such stream"), *IMPLICIT_HANGUP]


def test_hangup_ends_the_call_and_the_document() -> None:
    """<Hangup> hangs up; the verbs after it never run."""
    out = start(make_runner(), '<Hangup/><Pause duration="5"/>')
    assert verbs(out) == ["Hangup"]
    assert plain(out) == [HangUp("hangup"), Done()]


def test_transfer_dials_and_holds_the_document() -> None:
    """<Transfer> answers, asks for the targets to be dialled, and runs nothing more yet."""
    body = "<Transfer><PhoneNumber>+15555550123</PhoneNumber></Transfer><Pause/>"
    runner = make_runner()
    out = start(runner, body)
    transfer = steps(body)[0]
    assert isinstance(transfer, Transfer)
    assert plain(out) == [Answer(), TransferCall(transfer)]
    assert not runner.done


def test_without_a_complete_url_the_verbs_after_transfer_run() -> None:
    """Once the transfer is over, the verbs after <Transfer> run (docs/bandwidth.md §2.7)."""
    runner = make_runner()
    start(runner, '<Transfer><PhoneNumber>+15550100</PhoneNumber></Transfer><Pause duration="2"/>')
    out = runner.handle(TransferEnded(), 5.0)
    assert verbs(out) == ["Pause"]
    assert plain(out) == [Answer(), SetTimer(7.0)]


def test_with_a_complete_url_transfer_complete_is_sent_and_its_bxml_runs() -> None:
    """With transferCompleteUrl, transferComplete is asked for; the verbs after are ignored."""
    runner = make_runner()
    start(
        runner,
        '<Transfer transferCompleteUrl="/done" transferCompleteMethod="GET" tag="t">'
        '<PhoneNumber>+15550100</PhoneNumber></Transfer><Pause duration="2"/>',
    )
    out = runner.handle(TransferEnded(), 5.0)
    assert len(out) == 1 and isinstance(out[0], SendWebhook)
    assert (out[0].event, out[0].url, out[0].method, out[0].tag) == (
        "transferComplete",
        "https://bot.example/done",
        "GET",
        "t",
    )
    out = runner.handle(WebhookAnswered(steps("<Hangup/>")), 6.0)
    assert verbs(out) == ["Hangup"]


def test_new_bxml_while_bridged_ends_the_bridge_and_runs() -> None:
    """BXML put while the caller is bridged hangs the B-leg up and runs instead."""
    runner = make_runner()
    start(runner, "<Transfer><PhoneNumber>+15550100</PhoneNumber></Transfer>")
    out = runner.handle(BxmlReplaced(steps('<Pause duration="1"/>')), 2.0)
    assert out[0] == EndTransfer()
    assert verbs(out) == ["Pause"]
    assert runner.handle(TransferEnded(), 2.5) == []  # the ended bridge runs nothing more


def test_the_caller_hanging_up_during_a_transfer_ends_execution() -> None:
    """The A-leg ending while its transfer runs ends execution; no transferComplete."""
    runner = make_runner()
    start(
        runner,
        '<Transfer transferCompleteUrl="/done"><PhoneNumber>+15550100</PhoneNumber></Transfer>',
    )
    assert runner.handle(Ended(), 1.0) == [Done()]
    assert runner.handle(TransferEnded(), 2.0) == []


def test_unsimulated_verbs_are_noted_and_skipped() -> None:
    """A documented verb bwsim does not simulate is noted, then the next verb runs."""
    out = start(make_runner(), '<Record/><Pause duration="2"/>')
    assert verbs(out) == ["Unsimulated", "Pause"]
    assert Note("<Record> is not simulated; skipped") in out


def test_document_that_runs_out_hangs_up() -> None:
    """An empty document hangs up at once (implicit hang-up)."""
    assert start(make_runner(), "") == IMPLICIT_HANGUP


def test_redirect_runs_the_document_its_webhook_returns() -> None:
    """<Redirect> ends the document, sends the redirect webhook, and runs what it returns."""
    runner = make_runner()
    body = '<Redirect redirectUrl="/next" username="u" password="p"/><Hangup/>'
    out = start(runner, body)
    assert plain(out) == [SendWebhook("redirect", "https://bot.example/next", "u", "p")]
    assert runner.handle(TimerFired(), 1.0) == []
    nxt = runner.handle(WebhookAnswered(steps('<Pause duration="4"/>')), 1.0)
    assert plain(nxt) == [Answer(), SetTimer(5.0)]


def test_failed_webhook_ends_the_call_with_its_cause() -> None:
    """A redirect webhook that fails ends the call with the failure's cause."""
    runner = make_runner()
    start(runner, '<Redirect redirectUrl="/next"/>')
    out = runner.handle(WebhookFailed("callback-error", "timed out"), 1.0)
    assert out == [HangUp("callback-error", "timed out"), Done()]


def _press(runner: BxmlRunner, keys: str, at: float, gap: float = 0.2) -> list[Command]:
    """Press ``keys`` one every ``gap`` seconds from ``at``; all the commands, in order."""
    out: list[Command] = []
    for n, key in enumerate(keys):
        out += runner.handle(DigitPressed(key), at + n * gap)
    return out


def _ended(commands: list[Command]) -> list[GatherResult]:
    return [c.result for c in commands if isinstance(c, GatherEnded)]


def test_gather_posts_the_digits_up_to_the_terminator() -> None:
    """<Gather> speaks its prompts, then posts the digits before the terminating digit."""
    runner = make_runner()
    body = (
        '<Gather gatherUrl="/g" terminatingDigits="#"><SpeakSentence>hi there</SpeakSentence>'
        "</Gather><Hangup/>"
    )
    out = start(runner, body, now=0.0)
    prompt = speech_seconds("hi there")
    assert plain(out) == [Answer(), Trace("speak", {"text": "hi there"}), SetTimer(prompt + 5.0)]
    done = _press(runner, "12#3", at=prompt + 1.0)
    assert [r.digits for r in _ended(done)] == ["12"]
    assert SendWebhook("gather", "https://bot.example/g", None, None, "12", "#") in done
    assert done[-1] == Note("the caller pressed '3'; no <Gather> or <StartGather> collects it")
    assert plain(runner.handle(WebhookAnswered(steps("<Hangup/>")), 11.0)) == [
        HangUp("hangup"),
        Done(),
    ]


def test_max_digits_ends_the_gather_before_a_later_terminator() -> None:
    """With maxDigits=4, "1234#" posts "1234" as soon as the 4th key: no terminating digit."""
    runner = make_runner()
    start(runner, '<Gather gatherUrl="/g" maxDigits="4" terminatingDigits="#"/>')
    out = _press(runner, "1234#", at=1.0)
    assert SendWebhook("gather", "https://bot.example/g", None, None, "1234", "") in out
    assert [(r.digits, r.reason) for r in _ended(out)] == [("1234", "max-digits")]


def test_gather_without_digits_waits_for_the_first_digit_timeout() -> None:
    """With no digits pressed, <Gather> waits firstDigitTimeout before posting nothing."""
    runner = make_runner()
    out = start(runner, '<Gather gatherUrl="/g" firstDigitTimeout="7"/>', now=0.0)
    assert plain(out) == [Answer(), SetTimer(7.0)]
    assert runner.handle(TimerFired(), 6.0) == [SetTimer(7.0)]
    assert runner.handle(TimerFired(), 7.0)[-1] == SendWebhook(
        "gather", "https://bot.example/g", None, None, "", ""
    )


def test_gather_without_url_goes_on() -> None:
    """<Gather> without a gatherUrl records the digits and runs the next verb."""
    runner = make_runner()
    start(runner, '<Gather maxDigits="1"/><Hangup/>')
    out = _press(runner, "5", at=0.5)
    assert [r.digits for r in _ended(out)] == ["5"]
    assert out[-2:] == [HangUp("hangup"), Done()]


def test_start_gather_sends_a_dtmf_webhook_per_key_until_stop_gather() -> None:
    """After <StartGather> each key is a SendDtmf; after <StopGather> keys are only noted."""
    runner = make_runner()
    start(runner, '<StartGather dtmfUrl="/dtmf"/><Pause duration="10"/><StopGather/><Pause/>')
    out = _press(runner, "1#", at=1.0)
    assert [(c.step.url, c.digit) for c in out if isinstance(c, SendDtmf)] == [
        ("https://bot.example/dtmf", "1"),
        ("https://bot.example/dtmf", "#"),
    ]
    runner.handle(TimerFired(), 10.0)  # the pause ends: <StopGather> runs
    late = runner.handle(DigitPressed("2"), 10.5)
    assert not [c for c in late if isinstance(c, SendDtmf)]
    assert any(isinstance(c, Note) and "'2'" in c.text for c in late)


def test_start_gather_is_paused_while_a_gather_runs() -> None:
    """Keys pressed during <Gather> go to the gather only, never to <StartGather>'s URL."""
    runner = make_runner()
    start(runner, '<StartGather dtmfUrl="/dtmf"/><Gather gatherUrl="/g" maxDigits="2"/>')
    out = _press(runner, "12", at=1.0)
    assert not [c for c in out if isinstance(c, SendDtmf)]
    assert [r.digits for r in _ended(out)] == ["12"]


def test_a_redirect_during_a_gather_drops_it() -> None:
    """A Voice API redirect while <Gather> waits ends it: no gather webhook, keys later noted."""
    runner = make_runner()
    start(runner, '<Gather gatherUrl="/g"/>')
    out = runner.handle(Redirected("https://bot.example/next"), 1.0)
    assert out == [SendWebhook("redirect", "https://bot.example/next", None, None)]
    assert not _ended(runner.handle(DigitPressed("1"), 1.5))


# -- the Voice API interrupts ------------------------------------------------------------


def test_api_redirect_interrupts_a_pause() -> None:
    """A Voice-API redirect during <Pause> ends the pause and fetches the new document."""
    runner = make_runner()
    start(runner, '<Pause duration="60"/><Hangup/>')
    out = runner.handle(Redirected("https://bot.example/r", "u", "p"), 3.0)
    assert out == [SendWebhook("redirect", "https://bot.example/r", "u", "p")]
    assert runner.handle(TimerFired(), 60.0) == []  # the pause's timer is gone
    assert verbs(runner.handle(WebhookAnswered(steps('<Pause duration="1"/>')), 4.0)) == ["Pause"]


def test_bxml_replacement_interrupts_a_pause() -> None:
    """New BXML through the Voice API during <Pause> runs at once instead of the rest."""
    runner = make_runner()
    start(runner, '<Pause duration="60"/><Hangup/>')
    out = runner.handle(BxmlReplaced(steps("<SpeakSentence>bye</SpeakSentence>")), 3.0)
    assert verbs(out) == ["SpeakSentence"]
    assert runner.handle(TimerFired(), 3.0 + speech_seconds("bye")) == IMPLICIT_HANGUP


def test_invalid_bxml_replacement_runs_nothing_and_hangs_up() -> None:
    """A replacement the Voice API refused as invalid interrupts and runs nothing."""
    runner = make_runner()
    start(runner, '<Pause duration="60"/>')
    assert runner.handle(BxmlReplaced(None), 1.0) == IMPLICIT_HANGUP


def test_interrupt_during_stop_stream_wait() -> None:
    """A redirect ends a <StopStream wait="true"> hold."""
    runner = make_runner()
    start(runner, STREAM + '<StopStream name="a" wait="true"/>')
    out = runner.handle(Redirected("https://bot.example/r"), 1.0)
    assert out == [SendWebhook("redirect", "https://bot.example/r")]


def test_interrupt_while_a_webhook_is_in_flight_runs_instead_of_its_answer() -> None:
    """A redirect that comes while a webhook is pending replaces that webhook's answer."""
    runner = make_runner()
    start(runner, '<Redirect redirectUrl="/a"/>')
    assert runner.handle(BxmlReplaced(steps("<Hangup/>")), 1.0) == []
    out = runner.handle(WebhookAnswered(steps('<Pause duration="9"/>')), 2.0)
    assert verbs(out) == ["Hangup"]


def test_interrupt_before_the_document_replaces_it() -> None:
    """A replacement that comes before the first document runs in its place."""
    runner = make_runner()
    assert runner.handle(BxmlReplaced(steps("<Hangup/>")), 0.0) == []
    out = start(runner, '<Pause duration="9"/>')
    assert verbs(out) == ["Hangup"]


def test_hangup_during_pause_ends_execution() -> None:
    """The call ending (an API or caller hang-up) during <Pause> ends execution."""
    runner = make_runner()
    start(runner, '<Pause duration="60"/><Hangup/>')
    assert runner.handle(Ended(), 2.0) == [Done()]
    assert runner.done


# -- the orphaned leg --------------------------------------------------------------------


def _paused_with_stream(grace: float = 5.0) -> BxmlRunner:
    runner = make_runner(grace=grace)
    start(runner, STREAM + '<Pause duration="60"/><Hangup/>', now=0.0)
    return runner


def test_dropped_stream_under_pause_becomes_an_orphaned_leg() -> None:
    """An accepted stream closing under <Pause>, with no hang-up within the grace, is orphaned."""
    runner = _paused_with_stream(grace=5.0)
    assert runner.handle(StreamClosed("a", accepted=True), 10.0) == [SetTimer(15.0)]
    out = runner.handle(TimerFired(), 15.0)
    assert out == [
        ReportOrphanedLeg(orphaned_leg_detail(5.0)),
        Note("bwsim ends the orphaned call"),
        HangUp("hangup"),
        Done(),
    ]


def test_hanging_up_within_the_grace_is_not_an_orphan() -> None:
    """The bot hanging up within the grace leaves no orphaned leg."""
    runner = _paused_with_stream()
    runner.handle(StreamClosed("a", accepted=True), 10.0)
    assert runner.handle(Ended(), 12.0) == [Done()]
    assert runner.handle(TimerFired(), 15.0) == []


def test_pause_ending_before_the_grace_is_not_an_orphan() -> None:
    """When the pause ends before the grace does, the document just goes on."""
    runner = _paused_with_stream(grace=5.0)
    assert runner.handle(StreamClosed("a", accepted=True), 58.0) == [SetTimer(60.0)]
    out = runner.handle(TimerFired(), 60.0)
    assert verbs(out) == ["Hangup"]
    assert not any(isinstance(c, ReportOrphanedLeg) for c in out)


def test_never_opened_stream_leaves_the_pause_to_hold() -> None:
    """A stream that was never accepted closing under <Pause> does not start the orphan clock."""
    runner = _paused_with_stream()
    assert runner.handle(StreamClosed("a", accepted=False), 1.0) == []
    assert runner.handle(TimerFired(), 60.0)[-2:] == [HangUp("hangup"), Done()]


def test_stream_closed_before_the_pause_leaves_it_to_hold() -> None:
    """Streams that had all closed before <Pause> began leave the pause to simply hold."""
    runner = make_runner()
    start(runner, STREAM + '<StopStream name="a" wait="true"/><Pause duration="60"/>')
    out = runner.handle(StreamClosed("a", accepted=True), 1.0)
    assert plain(out) == [Answer(), SetTimer(61.0)]
    assert runner.handle(TimerFired(), 61.0) == IMPLICIT_HANGUP


def test_pause_with_no_stream_simply_holds() -> None:
    """A pause with no stream at all holds for its duration."""
    runner = make_runner()
    start(runner, '<Pause duration="2"/>')
    assert runner.handle(TimerFired(), 2.0) == IMPLICIT_HANGUP


# -- properties --------------------------------------------------------------------------

NON_BLOCKING = [
    STREAM.replace('name="a"', 'name="{n}"'),
    '<StopStream name="{n}"/>',
    "<Record/>",
    "<PlayAudio>https://x/a.wav</PlayAudio>",
    '<Pause duration="0.1"/>',
]


@given(st.lists(st.sampled_from(NON_BLOCKING), max_size=12), st.integers(0, 3))
def test_non_blocking_verbs_then_running_out_hang_up_once(picks: list[str], salt: int) -> None:
    """Any run of verbs that do not hand control away ends with exactly one hang-up, then Done."""
    body = "".join(p.format(n=f"s{i % (salt + 1)}") for i, p in enumerate(picks))
    runner = make_runner()
    out = start(runner, body)
    now, fetched = 0.0, 0
    while not runner.done:
        now += 0.1
        fetches = [c.step for c in out if isinstance(c, FetchAudio)]
        if len(fetches) > fetched:  # a <PlayAudio> waits for its file
            fetched += 1
            out += runner.handle(AudioFetched(fetches[-1], 0.1), now)
        else:
            out += runner.handle(TimerFired(), now)
    assert sum(isinstance(c, HangUp) for c in out) == 1
    assert out[-1] == Done()
    assert sum(isinstance(c, Done) for c in out) == 1


PLAYED = steps('<PlayAudio>/a.wav</PlayAudio><Pause duration="3"/>')
EVENTS: list[Event] = [
    Started(PLAYED),
    AudioFetched(PLAYED[0], 2.0),  # type: ignore[arg-type]  # a PlayAudio step
    TimerFired(),
    Ended(),
    TransferEnded(),
    StreamClosed("a", accepted=True),
    StreamClosed("a", accepted=False),
    Redirected("https://bot.example/r"),
    BxmlReplaced(None),
    BxmlReplaced(steps('<Pause duration="3"/>')),
    WebhookAnswered(steps(STREAM + '<Pause duration="3"/>')),
    WebhookFailed("callback-error"),
    Started(steps(STREAM + '<Pause duration="30"/><Redirect redirectUrl="/x"/>')),
]


@given(st.lists(st.sampled_from(EVENTS), max_size=25))
def test_nothing_is_commanded_after_done(events: list[Event]) -> None:
    """Whatever events come, the runner emits one Done at most and nothing after it."""
    runner = make_runner(grace=1.0)
    out: list[Command] = []
    for i, event in enumerate(events):
        out += runner.handle(event, float(i))
    if Done() in out:
        assert out.index(Done()) == len(out) - 1
        assert runner.done
        assert all(runner.handle(event, 1e9) == [] for event in EVENTS)


def test_runner_module_does_no_io() -> None:
    """The runner imports no I/O, concurrency or clock module."""
    tree = ast.parse(Path(bxml_runner_module.__file__).read_text("utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    forbidden = {
        "asyncio",
        "socket",
        "threading",
        "subprocess",
        "time",
        "datetime",
        "httpx",
        "websockets",
        "uvicorn",
        "aiohttp",
    }
    assert imported.isdisjoint(forbidden)


# -- the keep-alive rule and URL mapping the runner's shell relies on ---------------------


@pytest.mark.parametrize(
    ("body", "keeps", "seconds"),
    [
        (STREAM + '<Pause duration="30"/>', True, 30.0),
        (STREAM + '<StopStream name="a" wait="true"/>', True, None),
        (STREAM + '<StopStream name="a"/><Pause duration="30"/>', False, 0.0),
        (STREAM, False, 0.0),
        (STREAM + '<Hangup/><Pause duration="30"/>', False, 0.0),
        ('<Pause duration="30"/>', False, 0.0),
    ],
    ids=["pause", "stop-wait", "stopped", "nothing", "hangup-first", "no-stream"],
)
def test_stream_hold_says_what_keeps_the_call_up(
    body: str, keeps: bool, seconds: float | None
) -> None:
    """After <StartStream>, holds count until the stream stops or control leaves the document."""
    hold = stream_hold(list(steps(body)))
    assert (hold.keeps_up(), hold.seconds) == (keeps, seconds)


@pytest.mark.parametrize(
    ("url", "mapped"),
    [
        ("wss://bot.ngrok.app/ws?t=1", "ws://127.0.0.1:9000/ws?t=1"),
        ("ws://127.0.0.1:7000/ws", "ws://127.0.0.1:7000/ws"),
        ("ws://localhost/ws", "ws://127.0.0.1:9000/ws"),
    ],
)
def test_stream_urls_point_at_the_bot_on_loopback(url: str, mapped: str) -> None:
    """Any host but an explicit loopback address with a port means the bot under test."""
    assert stream_url(url, "http://127.0.0.1:9000") == mapped
