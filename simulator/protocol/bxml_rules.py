"""Bandwidth's BXML rules: each verb's attributes and children, and the values they take.

Pure data and checks, no I/O (docs/bandwidth.md §3.6). The tables are the union of
Bandwidth's BXML reference pages and the ``bandwidth-sdk`` BXML models (§0 S4, S14): an
attribute Bandwidth documents is known here even when bwsim does not simulate what it
does, so a bot using it is not refused. A name that is in neither is refused, with the
closest known name as a suggestion: ``destinationUserName`` would otherwise be dropped
without a word, and the bot's stream credentials with it.
``tests/unit/test_bxml_strict.py`` checks the tables against the installed SDK.

:func:`check_verb` raises nothing but :class:`BxmlError`, which names the rule broken
and the line of the element at fault.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = [
    "CHILDREN",
    "DOCUMENTED_VERBS",
    "E164",
    "MAX_STREAM_PARAMS",
    "NESTED_ATTRIBUTES",
    "STREAM_PARAM_NAME_MAX",
    "STREAM_PARAM_VALUE_MAX",
    "VERB_ATTRIBUTES",
    "BxmlError",
    "check_verb",
    "suggest",
]


class BxmlError(ValueError):
    """A BXML document Bandwidth would refuse; names the rule and the line at fault."""

    def __init__(self, rule: str, detail: str, line: int | None = None) -> None:
        self.rule = rule
        self.detail = detail
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{detail} (rule {rule})")


_CALLBACK = ("username", "password", "fallbackUsername", "fallbackPassword", "tag")
"""The credentials and tag every verb with a callback URL takes (§0 S4, S14)."""

VERB_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "Bridge": frozenset({
        "bridgeCompleteUrl", "bridgeCompleteMethod", "bridgeCompleteFallbackUrl",
        "bridgeCompleteFallbackMethod", "bridgeTargetCompleteUrl",
        "bridgeTargetCompleteMethod", "bridgeTargetCompleteFallbackUrl",
        "bridgeTargetCompleteFallbackMethod", *_CALLBACK,
    }),
    "Conference": frozenset({
        "mute", "hold", "callIdsToCoach", "conferenceEventUrl", "conferenceEventMethod",
        "conferenceEventFallbackUrl", "conferenceEventFallbackMethod", "callbackTimeout",
        *_CALLBACK,
    }),
    "Connect": frozenset({"eventCallbackUrl", "eventFallbackUrl"}),
    "Forward": frozenset({
        "to", "from", "privacy", "callerDisplayName", "callTimeout", "diversionTreatment",
        "diversionReason", "uui",
    }),
    "Gather": frozenset({
        "gatherUrl", "gatherMethod", "gatherFallbackUrl", "gatherFallbackMethod",
        "terminatingDigits", "maxDigits", "interDigitTimeout", "firstDigitTimeout",
        "repeatCount", "input", "hints", "language", "partialResultCallback",
        "partialResultCallbackMethod", "profanityFilter", "speechModel", "speechTimeout",
        *_CALLBACK,
    }),
    "Hangup": frozenset(),
    "Pause": frozenset({"duration"}),
    "PauseRecording": frozenset(),
    "PlayAudio": frozenset({"username", "password"}),
    "Record": frozenset({
        "recordCompleteUrl", "recordCompleteMethod", "recordCompleteFallbackUrl",
        "recordCompleteFallbackMethod", "recordingAvailableUrl", "recordingAvailableMethod",
        "transcribe", "detectLanguage", "transcriptionAvailableUrl",
        "transcriptionAvailableMethod", "terminatingDigits", "maxDuration", "silenceTimeout",
        "fileFormat", "recordingName", *_CALLBACK,
    }),
    "Redirect": frozenset({
        "redirectUrl", "redirectMethod", "redirectFallbackUrl", "redirectFallbackMethod",
        *_CALLBACK,
    }),
    "Refer": frozenset({"referCompleteUrl", "referCompleteMethod", "tag"}),
    "ResumeRecording": frozenset(),
    "Ring": frozenset({"duration", "answerCall"}),
    "SendDtmf": frozenset({"toneDuration", "toneInterval"}),
    "SpeakSentence": frozenset({"voice", "gender", "locale"}),
    "StartGather": frozenset({"dtmfUrl", "dtmfMethod", "username", "password", "tag"}),
    "StartRecording": frozenset({
        "recordingAvailableUrl", "recordingAvailableMethod", "transcribe", "detectLanguage",
        "transcriptionAvailableUrl", "transcriptionAvailableMethod", "fileFormat",
        "multiChannel", "recordingName", "username", "password", "tag",
    }),
    "StartStream": frozenset({
        "destination", "destinationUsername", "destinationPassword", "name", "mode",
        "tracks", "streamEventUrl", "streamEventMethod", "username", "password",
    }),
    "StartTranscription": frozenset({
        "name", "tracks", "transcriptionEventUrl", "transcriptionEventMethod", "username",
        "password", "destination", "stabilized", "detectLanguage", "preferredLanguages",
    }),
    "StopGather": frozenset(),
    "StopRecording": frozenset(),
    "StopStream": frozenset({"name", "wait"}),
    "StopTranscription": frozenset({"name"}),
    "Tag": frozenset(),
    "Transfer": frozenset({
        "transferCallerId", "transferCallerDisplayName", "privacy", "callTimeout",
        "transferCompleteUrl", "transferCompleteMethod", "transferCompleteFallbackUrl",
        "transferCompleteFallbackMethod", "diversionTreatment", "diversionReason",
        *_CALLBACK,
    }),
}  # fmt: skip
"""Each verb's attributes, as Bandwidth documents them (§3.6; §0 S4, S14)."""

DOCUMENTED_VERBS = frozenset(VERB_ATTRIBUTES)
"""The verbs of Bandwidth's BXML reference (§3.2) and the SDK's Connect and Refer."""

_TARGET = frozenset({
    "transferAnswerUrl", "transferAnswerMethod", "transferAnswerFallbackUrl",
    "transferAnswerFallbackMethod", "transferDisconnectUrl", "transferDisconnectMethod",
    "uui", *_CALLBACK,
})  # fmt: skip

NESTED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "StreamParam": frozenset({"name", "value"}),
    "PhoneNumber": _TARGET,
    "SipUri": _TARGET,
    "CustomParam": frozenset({"name", "value"}),
    "Endpoint": frozenset(),
}
"""The attributes of elements that only appear inside a verb (§3.6; §0 S4, S14)."""

CHILDREN: Mapping[str, frozenset[str]] = {
    "StartStream": frozenset({"StreamParam"}),
    "Transfer": frozenset({"PhoneNumber", "SipUri"}),
    "Gather": frozenset({"SpeakSentence", "PlayAudio"}),
    "StartTranscription": frozenset({"CustomParam"}),
    "Connect": frozenset({"Endpoint"}),
    "Refer": frozenset({"SipUri"}),
}
"""Which elements each verb may nest; a verb not listed nests none, except
``<SpeakSentence>``, whose SSML tags are not checked (§3.6)."""

MAX_STREAM_PARAMS = 12
"""``<StreamParam>`` elements one ``<StartStream>`` may nest (§1.2)."""
STREAM_PARAM_NAME_MAX = 256
"""Characters in a ``<StreamParam name>`` (§1.2)."""
STREAM_PARAM_VALUE_MAX = 2048
"""Characters in a ``<StreamParam value>`` (§1.2)."""

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
"""An E.164 number as Bandwidth writes it: ``+``, a country code, at most 15 digits."""

_CALLER_ID_WORDS = ("Restricted", "Anonymous", "Private", "Unavailable")
"""What ``transferCallerId`` may be instead of an E.164 number (§3.2)."""

_ENUMS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("StartStream", "mode"): ("unidirectional", "bidirectional"),
    ("StartStream", "tracks"): ("inbound", "outbound", "both"),
    ("StartTranscription", "tracks"): ("inbound", "outbound", "both"),
    ("Transfer", "diversionTreatment"): ("none", "propagate", "stack"),
    ("Forward", "diversionTreatment"): ("none", "propagate", "stack"),
    ("SpeakSentence", "gender"): ("male", "female"),
    ("StopStream", "wait"): ("true", "false"),
    ("Ring", "answerCall"): ("true", "false"),
}
"""Attributes that take one of a few words (§1.2, §1.3, §3.2), compared as written."""


class Element(Protocol):
    """What the checks read of a parsed element (:class:`simulator.protocol.bxml.Verb`)."""

    @property
    def name(self) -> str: ...
    @property
    def attributes(self) -> dict[str, str]: ...
    @property
    def text(self) -> str: ...
    @property
    def line(self) -> int | None: ...
    @property
    def children(self) -> Sequence[Element]: ...


def suggest(name: str, known: frozenset[str] | Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the known name closest to ``name``, or ``""``."""
    by_case = [k for k in known if k.lower() == name.lower()]
    close = by_case or difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_attributes(element: Element, known: frozenset[str]) -> None:
    for attribute in element.attributes:
        if attribute not in known:
            raise BxmlError(
                "unknown-attribute",
                f"<{element.name}> has no attribute {attribute!r}{suggest(attribute, known)}",
                element.line,
            )
    for attribute, value in element.attributes.items():
        if attribute.endswith("Method"):
            allowed: tuple[str, ...] = ("GET", "POST")
            ok = value.upper() in allowed
        else:
            allowed = _ENUMS.get((element.name, attribute), ())
            ok = not allowed or value in allowed
        if not ok:
            raise BxmlError(
                "attribute-value",
                f"<{element.name}>: {attribute} must be {' or '.join(allowed)}, got {value!r}",
                element.line,
            )


def _check_range(verb: Element, attribute: str, low: float, high: float, default: float) -> None:
    raw = verb.attributes.get(attribute)
    try:
        value = default if raw is None else float(raw)
    except ValueError:
        raise BxmlError(
            "attribute-type", f"<{verb.name}>: {attribute}={raw!r} is not a number", verb.line
        ) from None
    if not low <= value <= high:
        raise BxmlError(
            "attribute-range",
            f"<{verb.name}>: {attribute} must be between {low:g} and {high:g}, got {raw}",
            verb.line,
        )


def _check_children(verb: Element) -> None:
    if verb.name == "SpeakSentence":
        return
    allowed = CHILDREN.get(verb.name, frozenset())
    for child in verb.children:
        if child.name not in allowed:
            inside = (
                f"<{verb.name}> nests only {', '.join(f'<{a}>' for a in sorted(allowed))}"
                if allowed
                else f"<{verb.name}> nests no elements"
            )
            raise BxmlError(
                "unknown-child",
                f"<{child.name}> is not allowed inside <{verb.name}>: {inside}"
                f"{suggest(child.name, allowed)}",
                child.line,
            )
        if child.name in VERB_ATTRIBUTES:
            check_verb(child)
        else:
            _check_attributes(child, NESTED_ATTRIBUTES[child.name])
            if child.children:
                inner = child.children[0]
                raise BxmlError(
                    "unknown-child",
                    f"<{inner.name}> is not allowed inside <{child.name}>: it nests no elements",
                    inner.line,
                )


def _check_phone_number(element: Element, what: str, value: str, words: tuple[str, ...]) -> None:
    if E164.fullmatch(value) or value in words:
        return
    also = f" or one of {', '.join(words)}" if words else ""
    raise BxmlError(
        "phone-number",
        f"<{element.name}>: {what} must be an E.164 number such as +15551230000{also}, "
        f"got {value!r}",
        element.line,
    )


def _check_start_stream(verb: Element) -> None:
    a = verb.attributes
    destination = a.get("destination", "")
    if not destination.startswith(("ws://", "wss://")):
        raise BxmlError(
            "missing-attribute" if not destination else "attribute-value",
            f"<StartStream>: destination must be a ws:// or wss:// URI, got {destination!r}",
            verb.line,
        )
    credentials = sorted(k for k in ("destinationUsername", "destinationPassword") if k in a)
    if credentials and not destination.startswith("wss://"):
        raise BxmlError(
            "stream-credentials",
            f"<StartStream>: {' and '.join(credentials)} need a wss:// destination, got "
            f"{destination!r}: credentials are not sent over an unencrypted socket (bwsim "
            "still reaches the bot over loopback when the destination is wss://)",
            verb.line,
        )
    params = [c for c in verb.children if c.name == "StreamParam"]
    if len(params) > MAX_STREAM_PARAMS:
        raise BxmlError(
            "stream-param",
            f"<StartStream>: at most {MAX_STREAM_PARAMS} <StreamParam> allowed, got {len(params)}",
            params[MAX_STREAM_PARAMS].line,
        )
    for param in params:
        for attribute, limit in (
            ("name", STREAM_PARAM_NAME_MAX),
            ("value", STREAM_PARAM_VALUE_MAX),
        ):
            value = param.attributes.get(attribute)
            if value is None:
                raise BxmlError(
                    "stream-param", f"<StreamParam>: {attribute} is required", param.line
                )
            if len(value) > limit:
                raise BxmlError(
                    "stream-param",
                    f"<StreamParam>: {attribute} is {len(value)} characters; at most {limit}",
                    param.line,
                )


def _check_gather(verb: Element) -> None:
    _check_range(verb, "maxDigits", 1, 50, 50)
    _check_range(verb, "interDigitTimeout", 1, 60, 5)
    _check_range(verb, "firstDigitTimeout", 0, 60, 5)
    _check_range(verb, "repeatCount", 1, 25, 1)
    prompts = [c for c in verb.children if c.name in ("SpeakSentence", "PlayAudio")]
    if float(verb.attributes.get("repeatCount", 1)) * len(prompts) > 20:
        raise BxmlError(
            "attribute-range",
            "<Gather>: repeatCount times the number of nested prompts must be at most 20",
            verb.line,
        )


def _check_transfer(verb: Element) -> None:
    targets = [c for c in verb.children if c.name in ("PhoneNumber", "SipUri")]
    if not 1 <= len(targets) <= 8:
        raise BxmlError(
            "transfer-targets",
            f"<Transfer> needs 1 to 8 <PhoneNumber>/<SipUri> targets, got {len(targets)}",
            verb.line,
        )
    if "callTimeout" in verb.attributes:
        _check_range(verb, "callTimeout", 1, 300, 30)
    if "transferCallerId" in verb.attributes:
        caller_id = verb.attributes["transferCallerId"]
        _check_phone_number(verb, "transferCallerId", caller_id, _CALLER_ID_WORDS)
    for target in targets:
        if target.name == "PhoneNumber":
            _check_phone_number(target, "its number", target.text, ())


def check_verb(verb: Element) -> None:
    """Check one verb, its attributes and what it nests; raises :class:`BxmlError`."""
    if verb.name not in DOCUMENTED_VERBS:
        raise BxmlError(
            "unknown-verb",
            f"<{verb.name}> is not a BXML verb Bandwidth documents"
            f"{suggest(verb.name, DOCUMENTED_VERBS)}",
            verb.line,
        )
    _check_attributes(verb, VERB_ATTRIBUTES[verb.name])
    _check_children(verb)
    a = verb.attributes
    if verb.name == "StartStream":
        _check_start_stream(verb)
    elif verb.name in ("Pause", "Ring"):
        _check_range(verb, "duration", 0.1, 86400, 1 if verb.name == "Pause" else 5)
    elif verb.name == "StopStream":
        if not a.get("name"):
            raise BxmlError("missing-attribute", "<StopStream>: name is required", verb.line)
    elif verb.name == "Redirect":
        if not a.get("redirectUrl"):
            raise BxmlError("missing-attribute", "<Redirect>: redirectUrl is required", verb.line)
    elif verb.name == "Gather":
        _check_gather(verb)
    elif verb.name == "StartGather":
        if not a.get("dtmfUrl"):
            raise BxmlError("missing-attribute", "<StartGather>: dtmfUrl is required", verb.line)
    elif verb.name == "Transfer":
        _check_transfer(verb)
