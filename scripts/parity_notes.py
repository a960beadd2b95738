"""What differs from Bandwidth, by hand: the notes docs/parity.md adds to what the code says.

Whether bwsim serves an operation, sends a webhook or runs a verb is read from the code by
``scripts/parity.py``; only the "what differs" sentences live here, with the status of the
operations the fake serves (``simulated`` or ``partly``). The generator refuses a note for
an operation, webhook or verb the spec and the code do not know, and an operation the fake
serves without a note here, so this table cannot drift from either.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["CALLBACK_NOTES", "OPERATION_NOTES", "TOKEN_NOTE", "VERB_NOTES", "Served"]

Served = Literal["simulated", "partly"]

TOKEN_NOTE: Final[tuple[Served, str]] = (
    "simulated",
    "HTTP Basic client credentials (or `client_id`/`client_secret` in the form) and "
    "`grant_type=client_credentials`. The token's lifetime and the casing of `token_type` "
    "are settings (below); errors are RFC 6749's `invalid_client` (401) and "
    "`unsupported_grant_type` (400), since Bandwidth documents none.",
)
"""The OAuth token endpoint (the spec's ``OAuth2`` ``tokenUrl``; docs/bandwidth.md §4.2)."""

OPERATION_NOTES: Final[dict[str, tuple[Served, str]]] = {
    "createCall": (
        "partly",
        "The request body is checked field by field as `createCall` describes it (400 names "
        "the field). The call is placed at once (no queue, no dequeue rate) and goes to the "
        "callee a scenario or test expects; one nobody expects is answered 201, recorded as "
        "`unexpected-outbound-call` and ends `timeout`. `applicationId` must be the account's "
        "application. Machine detection answers at once: `answering-machine` for a callee "
        "that is a machine, else `human` (docs/bandwidth.md §4.7).",
    ),
    "listCalls": (
        "partly",
        "Filters by `to`, `from`, `disconnectCause`, `minStartTime` and `maxStartTime` and "
        "answers at most `pageSize` calls, oldest first (a bad `pageSize` or time is 400). "
        "There is no paging: no `Link` header, and `pageToken` is ignored "
        "(docs/bandwidth.md §4.8).",
    ),
    "getCallState": (
        "simulated",
        "The `callState` object, current at once (Bandwidth's is near-realtime). While a "
        "transfer holds the A-leg (`transfer_stream: ends`), GET answers as a modification "
        "would (404), so the two never disagree (docs/bandwidth.md §4.6, §5.5).",
    ),
    "updateCall": (
        "simulated",
        "The request body is checked as `updateCall` describes it (400 names the field). "
        "`state: completed` hangs up (cancels a ringing outbound call); `state: active` "
        "with `redirectUrl` sends a `redirect` webhook. An ended call answers 404, or 409 "
        "with the `ended_call_status` setting.",
    ),
    "updateCallBxml": (
        "simulated",
        "The document must have the `<Bxml>` root (a setting) and pass bwsim's BXML checks "
        "(docs/bandwidth.md §3); the running verb is interrupted and the new document runs. "
        "A `<Transfer>` in it hands the caller on.",
    ),
}
"""Status and notes of each Voice operation the fake serves, by ``operationId``."""

CALLBACK_NOTES: Final[dict[str, str]] = {
    "initiate": (
        "Inbound calls. `diversion`, `stirShaken`, `uui`, `sipCallId` and `sipHeaders` "
        "are never sent (bwsim has no SIP leg)."
    ),
    "answer": (
        "Outbound calls (Create Call). `machineDetectionResult` only in "
        "`sync` machine detection; `sipCallId` never sent."
    ),
    "disconnect": (
        "Every call, with the cause bwsim decided (`hangup`, `busy`, `timeout`, `cancel`, "
        "`invalid-bxml`, `callback-error`, …); `sipCallId` and `sipResponseCode` never sent."
    ),
    "redirect": "From `<Redirect>` and from Update Call with `redirectUrl`.",
    "gather": (
        'From `<Gather>` with the caller\'s keys (scenario DTMF); `terminatingDigit` is `""` '
        "when none was pressed."
    ),
    "dtmf": "From `<StartGather>`, one key at a time.",
    "machineDetectionComplete": (
        "`async` machine detection on Create Call; without a `callbackUrl` it goes to "
        "`answerUrl` and its answer is ignored (undocumented; docs/bandwidth.md §4.7)."
    ),
    "transferAnswer": "To the B-leg's `transferAnswerUrl` when a transfer target answers.",
    "transferComplete": "To the A-leg when the B-leg ends; its answer is run as BXML.",
    "transferDisconnect": "To the B-leg's `transferDisconnectUrl` when it ends.",
    "bridgeComplete": "`<Bridge>` is not simulated.",
    "bridgeTargetComplete": "`<Bridge>` is not simulated.",
    "conferenceCreated": "`<Conference>` is not simulated.",
    "conferenceRedirect": "`<Conference>` is not simulated.",
    "conferenceMemberJoin": "`<Conference>` is not simulated.",
    "conferenceMemberExit": "`<Conference>` is not simulated.",
    "conferenceCompleted": "`<Conference>` is not simulated.",
    "conferenceRecordingAvailable": "Conferences and recordings are not simulated.",
    "recordingComplete": "`<Record>` and `<StartRecording>` are not simulated.",
    "recordingAvailable": "Recordings are not simulated.",
    "transcriptionAvailable": "Recording transcriptions are not simulated.",
    "mediaStreamStarted": (
        "Documented by Bandwidth's guides, not by the spec: its envelope follows "
        "`answerCallback` and its `mediaStream` object docs/bandwidth.md §1.8."
    ),
    "mediaStreamStopped": (
        "As mediaStreamStarted; `closed` for a 1000 close, else `connection-error`."
    ),
    "mediaStreamRejected": "As mediaStreamStarted.",
}
"""What differs in each voice webhook, by ``eventType``."""

VERB_NOTES: Final[dict[str, str]] = {
    "StartStream": (
        "The stream of docs/bandwidth.md §1: a WebSocket to the bot, `start`/`media`/`stop`, "
        "the bot's `playAudio` and `clear`; does not block."
    ),
    "StopStream": '`wait="true"` blocks until the bot closes the socket.',
    "Pause": "Holds the call for `duration`.",
    "Ring": (
        "Holds the call for `duration`, ringback on the outbound track (a setting); answers it "
        'unless `answerCall="false"`.'
    ),
    "Hangup": "Ends the call (cause `hangup`).",
    "SpeakSentence": (
        "No speech is synthesised: the call is held as long as speaking the words would "
        "take (2.6 words a second, at least 1 s), a tone is heard meanwhile, and the text "
        "is in the trace."
    ),
    "Transfer": (
        "Dials the targets as B-legs whose behaviour a setting chooses; the transfer "
        "webhooks follow (docs/bandwidth.md §2.7, §5.5)."
    ),
    "Redirect": "Sends the `redirect` webhook and runs its answer.",
    "Gather": (
        "Collects the scenario's DTMF; a nested `<SpeakSentence>` prompt is timed as the "
        "verb is, a nested `<PlayAudio>` lasts 2 s (no audio is fetched)."
    ),
    "StartGather": "Sends a `dtmf` webhook for each key.",
    "StopGather": "Stops `<StartGather>`.",
    "Tag": "Sets the tag of later webhooks.",
    "PlayAudio": (
        "The file is fetched from the bot on loopback and played for its length (WAV or "
        "MP3); one bwsim cannot get or decode is 2 s of tone (a setting), noted."
    ),
    "SendDtmf": "No tones are sent to the caller.",
}
"""What differs in each BXML verb, by name; a verb without a note gets none."""
