"""Scenario files: YAML that describes calls, what the caller does and what must be seen.

Sans-I/O apart from reading the files: :func:`load_scenarios` turns YAML into checked
:class:`Scenario` records, or raises :class:`~simulator.errors.ScenarioError` naming the
file, the line and the key at fault. Nothing is run here (:mod:`simulator.runner.suite` runs
them; :mod:`simulator.judge.expect` judges them).

The format follows Pipecat's own evals: a file holds ``scenarios:``, a list of mappings
each with a ``name``; any other key at the top of the file is a default for every
scenario in it (mappings such as ``call`` and ``bot_env`` are merged key by key, lists
such as ``caller`` and ``expect`` are replaced). A scenario::

    - name: barge-in
      description: Talking over the greeting makes the bot clear its audio.
      caller:
        - say: monologue.wav            # audio file, relative to audio_dir
          send_after: bot_speech_start  # act 300 ms after the bot starts speaking
          delay_ms: 300
      expect:
        - clear: {after: caller_audio_start, within_ms: 1500, bot_was_speaking: true}
        - violation: {absent: true}

Pipecat evals' own form is accepted too: ``send_after: {event: bot_speech_start,
delay_ms: 300}`` is the same step, and ``wait_for: {event: bot_speech_end}`` the same as
``wait_for: bot_speech_end``. Event names are spelled with underscores, as in
:data:`EVENTS`, here and in the Python API (``call.wait_for("bot_speech_start", …)``).

Every key is listed in :data:`SCENARIO_KEYS`, :data:`CALL_KEYS`, :data:`ACTIONS` and
:data:`EXPECTATIONS`; an unknown one is an error with the closest known name suggested,
because a typo that is silently ignored makes a test that cannot fail.

This module parses; the vocabulary and the records are in
:mod:`simulator.judge.scenario_model` and the line-numbered YAML and value checks in
:mod:`simulator.judge.scenario_yaml`. The public names stay importable from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from simulator.call.audio_files import AudioSource, load_caller_audio, parse_channel
from simulator.errors import AudioFileError, ScenarioError
from simulator.judge.scenario_call import parse_call
from simulator.judge.scenario_extends import EXTENDS, extend
from simulator.judge.scenario_model import (
    ACTION_COMMON_KEYS,
    ACTIONS,
    CALL_KEYS,
    CALL_START,
    CALL_TARGETS,
    CLOSERS,
    ENCODINGS,
    EVENTS,
    EXPECT_COMMON_KEYS,
    EXPECTATIONS,
    SCENARIO_KEYS,
    UNTIMED_KINDS,
    VICTIMS,
    Action,
    Anchor,
    CallSpec,
    Expectation,
    Scenario,
)
from simulator.judge.scenario_replay import parse_replay
from simulator.judge.scenario_yaml import (
    LineLoader,
    LineMap,
    LineSeq,
    Problem,
    check_anchor,
    check_bool,
    check_dtmf,
    check_dtmf_value,
    check_event,
    check_integer,
    check_number,
    check_string,
    check_templates,
    merged,
    refuse_unknown,
    split_kind,
)
from simulator.protocol.codec import Pcm
from simulator.protocol.webhook_bodies import ASYNC_EVENTS, SYNC_EVENTS
from simulator.rest.hosts import check_allow_host
from simulator.suite import PACKAGED_PREFIX, resolve_audio_dir, resolve_packaged, transcript

__all__ = [
    "ACTIONS",
    "CALL_KEYS",
    "CALL_START",
    "EVENTS",
    "EXPECTATIONS",
    "SCENARIO_KEYS",
    "Action",
    "Anchor",
    "CallSpec",
    "Expectation",
    "Scenario",
    "load_scenarios",
    "parse_expectations",
    "parse_scenarios",
]

# -- scenario parts ----------------------------------------------------------------------


Loader = Callable[[AudioSource, int | None], Pcm]
"""Reads what a ``say`` step speaks (the file and its channel); the int is the step's line."""


def _waitable(event: str, key: str, line: int) -> str:
    """Refuse ``call_start`` as something to wait for: it is time zero, not an event."""
    if event == "call_start":
        raise Problem(
            f"{key} takes an event that happens during the call; call_start is time zero, "
            "which every caller step already comes after (drop the key)",
            line,
            key,
        )
    return event


def _event_form(
    value: Any, key: str, line: int, *, takes_delay: bool = True
) -> tuple[str, float | None]:
    """An event as ``EVENT`` or in Pipecat evals' form ``{event: EVENT, delay_ms: N}``.

    Returns the event and the delay given inside the mapping (None when there is none).
    """
    if not isinstance(value, LineMap):
        return _waitable(check_event(value, key, line, key), key, line), None
    known = {"event", "delay_ms"} if takes_delay else {"event"}
    refuse_unknown((k for k in value if k not in known), known, value, key)
    form = "{event: EVENT, delay_ms: MS}" if takes_delay else "{event: EVENT}"
    if "event" not in value:
        raise Problem(f"{key} takes an event name or {form}; `event:` is missing", line, key)
    event = check_event(value["event"], f"{key}.event", value.key_lines["event"], key)
    _waitable(event, key, value.key_lines["event"])
    if "delay_ms" not in value:
        return event, None
    where = value.key_lines["delay_ms"]
    return event, check_number(value["delay_ms"], f"{key}.delay_ms", where, "delay_ms")


SAY_KEYS = frozenset({"file", "channel"})
"""The keys of ``say: {file: PATH, channel: left|right|N}``."""


def _say_value(value: Any, line: int) -> tuple[str, int | None]:
    """``say: FILE`` or ``say: {file: FILE, channel: CHANNEL}``: the file and its channel."""
    if not isinstance(value, LineMap):
        return check_string(value, "say", line, "say"), None
    refuse_unknown((k for k in value if k not in SAY_KEYS), SAY_KEYS, value, "say")
    if "file" not in value:
        raise Problem("say takes a file or {file: FILE, channel: …}; `file:` is missing", line)
    name = check_string(value["file"], "say.file", value.key_lines["file"], "file")
    if "channel" not in value:
        return name, None
    try:
        return name, parse_channel(value["channel"])
    except ValueError as exc:
        raise Problem(f"say.channel: {exc}", value.key_lines["channel"], "channel") from None


def _parse_action(
    item: Any, line: int, audio_dir: Path, load_audio: Loader, *, base: Path
) -> Action:
    kind = split_kind(item, line, ACTIONS, "caller action")
    raw: LineMap = item if isinstance(item, LineMap) else LineMap({kind: True})
    if not isinstance(item, LineMap):
        raw.line, raw.key_lines = line, {kind: line}
    allowed = ACTIONS[kind] | ACTION_COMMON_KEYS | {kind}
    refuse_unknown((k for k in raw if k not in allowed), allowed, raw, f"caller action {kind!r}")

    def at(key: str) -> int:
        return raw.key_lines.get(key, line)

    value = raw[kind]
    send_after, delay_ms = None, raw.get("delay_ms", 0)
    if "send_after" in raw:
        send_after, inner_delay = _event_form(raw["send_after"], "send_after", at("send_after"))
        if inner_delay is not None:
            if "delay_ms" in raw:
                raise Problem(
                    "give delay_ms once: inside send_after: {event: …, delay_ms: …} "
                    "or beside it, not both",
                    at("delay_ms"),
                    "delay_ms",
                )
            delay_ms = inner_delay
    common: dict[str, Any] = {
        "send_after": send_after,
        "delay_ms": check_number(delay_ms, "delay_ms", at("delay_ms"), "delay_ms"),
        "within_ms": check_number(
            raw.get("within_ms", Action.within_ms), "within_ms", at("within_ms"), "within_ms"
        ),
    }
    if kind == "say":
        name, channel = _say_value(value, at("say"))
        audio = (audio_dir / name).resolve() if not Path(name).is_absolute() else Path(name)
        samples = load_audio(AudioSource(audio, channel), at("say"))
        text = raw.get("text")
        if text is not None:
            text = check_string(text, "say.text", at("text"), "text")
        return Action(
            "say",
            line,
            audio=audio,
            channel=channel,
            samples=samples,
            text=text or transcript(audio),
            wait=check_bool(raw.get("wait", True), "wait", at("wait"), "wait"),
            **common,
        )
    if kind in ("silence", "stay"):
        return Action(kind, line, ms=check_number(value, kind, at(kind), kind), **common)
    if kind == "wait_for":
        event, _ = _event_form(value, "wait_for", at(kind), takes_delay=False)
        return Action(kind, line, event=event, **common)
    if kind == "replay":
        archive, plan = parse_replay(value, at(kind), base)
        return Action(kind, line, archive=archive, replay=plan, **common)
    if kind == "dtmf":
        digits, gap = check_dtmf(value, at(kind))
        action = Action(kind, line, digits=digits, **common)
        return action if gap is None else replace(action, gap_ms=gap)
    if value is not True:
        raise Problem(f"{kind} takes true (as in `- {kind}: true`), got {value!r}", at(kind))
    return Action(kind, line, **common)


CALLBACK_EVENTS = (SYNC_EVENTS | ASYNC_EVENTS) - {"initiate"}
"""The webhooks a ``callback`` expectation can name (``initiate`` is ``webhook_response``'s)."""


def _expect_value(kind: str, key: str, value: Any, line: int | None) -> Any:
    """Check one parameter of an expectation; returns the normalized value."""
    if key == "min_audio_ms":
        return check_number(value, f"{kind}.{key}", line, key)
    if kind in ("gather", "dtmf_webhook", "verb_audio"):
        return check_dtmf_value(kind, key, value, line)
    if key in ("status", "code"):
        return check_integer(value, f"{kind}.{key}", line, key, minimum=100)
    if key == "statuses":
        if not isinstance(value, list) or not value:
            raise Problem(f"{kind}.statuses must be a list such as [401, 200]", line, key)
        return [check_integer(v, f"{kind}.statuses", line, key, minimum=100) for v in value]
    if key in ("delivered", "keeps_call_up", "bot_was_speaking", "fallback", "bridged"):
        return check_bool(value, f"{kind}.{key}", line, key)
    if key == "method":
        text = check_string(value, f"{kind}.method", line, key).upper()
        if kind == "callback" and text not in ("GET", "POST"):
            raise Problem(f"callback.method must be GET or POST, got {value!r}", line, key)
        return text
    if kind == "callback" and key == "event" and value not in CALLBACK_EVENTS:
        raise Problem(
            f"callback.event must be one of {sorted(CALLBACK_EVENTS)}, got {value!r}", line, key
        )
    if key == "call":
        if value not in CALL_TARGETS:
            raise Problem(f"{kind}.call must be one of {list(CALL_TARGETS)}", line, key)
        return value
    if key == "by":
        if value not in CLOSERS:
            raise Problem(f"{kind}.by must be one of {list(CLOSERS)}, got {value!r}", line, key)
        return value
    if key == "encoding":
        text = check_string(value, f"{kind}.encoding", line, key)
        if text not in ENCODINGS and not text.startswith("audio/"):
            raise Problem(
                f"play_audio.encoding must be one of {sorted(ENCODINGS)} or a content type",
                line,
                key,
            )
        return ENCODINGS.get(text, text)
    if key == "start_stream":
        if not isinstance(value, Mapping) or set(value) - {"mode", "tracks"}:
            raise Problem(f"{kind}.start_stream takes {{mode: …, tracks: …}}", line, key)
        return dict(value)
    text = check_string(value, f"{kind}.{key}", line, key)
    check_templates(text, line, key)
    return text


def _parse_expectation(item: Any, line: int) -> Expectation:
    kind = split_kind(item, line, EXPECTATIONS, "expectation")
    body = item.get(kind) if isinstance(item, LineMap) else None
    if isinstance(item, LineMap) and len(item) > 1:
        extra = [k for k in item if k != kind]
        raise Problem(
            f"put the options of {kind!r} under it ({kind}: {{…}}), not beside it",
            item.key_lines.get(extra[0], line),
            extra[0],
        )
    if body is None or body is True:
        body = LineMap()
        body.line, body.key_lines = line, {}
    if not isinstance(body, LineMap):
        raise Problem(f"{kind} takes a mapping of options, got {body!r}", line, kind)
    allowed = EXPECTATIONS[kind] | (frozenset() if kind in UNTIMED_KINDS else EXPECT_COMMON_KEYS)
    refuse_unknown((k for k in body if k not in allowed), allowed, body, f"expectation {kind!r}")

    def at(key: str) -> int:
        return body.key_lines.get(key, line)

    params = {
        k: _expect_value(kind, k, v, at(k)) for k, v in body.items() if k not in EXPECT_COMMON_KEYS
    }
    absent = check_bool(body.get("absent", False), "absent", at("absent"), "absent")
    count = body.get("count")
    min_count = body.get("min_count")
    max_count = body.get("max_count")
    counts = [k for k in ("count", "min_count", "max_count") if body.get(k) is not None]
    if absent and counts:
        raise Problem(f"absent: true cannot go with {counts[0]}", at("absent"), "absent")
    if count is not None and len(counts) > 1:
        raise Problem("count cannot go with min_count or max_count", at("count"), "count")
    return Expectation(
        kind,
        line,
        absent=absent,
        within_ms=check_number(body["within_ms"], "within_ms", at("within_ms"), "within_ms")
        if "within_ms" in body
        else None,
        after=check_anchor(body["after"], at("after"), "after") if "after" in body else CALL_START,
        count=check_integer(count, "count", at("count"), "count") if count is not None else None,
        min_count=check_integer(min_count, "min_count", at("min_count"), "min_count", minimum=1)
        if min_count is not None
        else None,
        max_count=check_integer(max_count, "max_count", at("max_count"), "max_count")
        if max_count is not None
        else None,
        params=params,
    )


def _items(raw: Any, key: str, line: int | None) -> list[tuple[Any, int]]:
    if raw is None:
        return []
    if not isinstance(raw, LineSeq):
        raise Problem(f"{key} must be a list", line, key)
    return list(zip(raw, raw.item_lines, strict=True))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "scenario"


def _parse_scenario(raw: LineMap, path: Path, stem: str, load_audio: Loader) -> Scenario:
    refuse_unknown((k for k in raw if k not in SCENARIO_KEYS), SCENARIO_KEYS, raw, "a scenario")

    def at(key: str) -> int:
        return raw.key_lines.get(key, raw.line)

    name = check_string(raw.get("name"), "every scenario's name", at("name"), "name")
    audio_dir = path.parent
    if "audio_dir" in raw:
        folder = check_string(raw["audio_dir"], "audio_dir", at("audio_dir"), "audio_dir")
        try:
            audio_dir = resolve_audio_dir(folder, path.parent)
        except ValueError as exc:
            raise Problem(str(exc), at("audio_dir"), "audio_dir") from None
        if not audio_dir.is_dir():
            raise Problem(f"audio_dir {str(audio_dir)!r} is not a folder", at("audio_dir"))
    env = raw.get("bot_env") or {}
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in env.items()
    ):
        raise Problem("bot_env must map variable names to strings", at("bot_env"), "bot_env")
    hosts = raw.get("allow_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise Problem("allow_hosts must be a list of host names", at("allow_hosts"), "allow_hosts")
    try:
        allow_hosts = tuple(sorted({check_allow_host(h) for h in hosts}))
    except ValueError as exc:
        raise Problem(str(exc), at("allow_hosts"), "allow_hosts") from None
    victim = raw.get("victim")
    if victim is not None and victim not in VICTIMS:
        raise Problem(f"victim must be one of {list(VICTIMS)}, got {victim!r}", at("victim"))
    allowed = raw.get("allow_violations") or []
    if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
        raise Problem("allow_violations must be a list of rule names", at("allow_violations"))
    caller = tuple(
        _parse_action(item, line, audio_dir, load_audio, base=path.parent)
        for item, line in _items(raw.get("caller"), "caller", at("caller"))
    )
    expect = tuple(
        _parse_expectation(item, line)
        for item, line in _items(raw.get("expect"), "expect", at("expect"))
    )
    if not expect:
        raise Problem(
            "a scenario needs at least one expectation under expect:, or it can never fail",
            at("name"),
            "expect",
        )
    for e in expect:
        if e.params.get("call") == "victim" and victim is None:
            raise Problem(f"{e.kind} names call: victim, but the scenario has no victim", e.line)
    return Scenario(
        id=f"{stem}/{_slug(name)}",
        name=name,
        path=path,
        line=raw.line,
        description=str(raw.get("description") or ""),
        bot_env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        allow_hosts=allow_hosts,
        call=parse_call(raw.get("call"), at("call")),
        victim=victim,
        caller=caller,
        expect=expect,
        ordered=check_bool(raw.get("ordered", False), "ordered", at("ordered"), "ordered"),
        allow_violations=tuple(allowed),
    )


def _audio_loader() -> Loader:
    cache: dict[AudioSource, Pcm] = {}

    def load(source: AudioSource, line: int | None) -> Pcm:
        if source not in cache:
            try:
                cache[source] = load_caller_audio(source.path, source.channel)
            except AudioFileError as exc:
                raise Problem(f"{exc.reason}: {source.path}", line, "say") from None
        return cache[source]

    return load


def _parse_file(text: str, path: Path, loader: Loader) -> list[Scenario]:
    try:
        data = yaml.load(text, Loader=LineLoader)  # noqa: S506 - LineLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise Problem(f"not valid YAML: {exc.problem}", mark.line + 1 if mark else None) from None
    stem = path.stem
    if isinstance(data, LineMap) and EXTENDS in data:
        data, path = extend(data, path, lambda t, p: parse_scenarios(t, p, load_audio=loader))
    if not isinstance(data, LineMap) or "scenarios" not in data:
        raise Problem(
            "a scenario file is a mapping with a `scenarios:` list (or `extends: FILE`, to "
            "run that file's scenarios with your defaults)",
            1,
            "scenarios",
        )
    defaults = LineMap({k: v for k, v in data.items() if k != "scenarios"})
    defaults.line = data.line
    defaults.key_lines = {k: v for k, v in data.key_lines.items() if k != "scenarios"}
    known = SCENARIO_KEYS - {"name"}
    refuse_unknown((k for k in defaults if k not in known), known, defaults, "the file's defaults")
    items = _items(data["scenarios"], "scenarios", data.key_lines["scenarios"])
    if not items:
        raise Problem("`scenarios:` is empty", data.key_lines["scenarios"], "scenarios")
    scenarios: list[Scenario] = []
    seen: dict[str, Scenario] = {}
    for item, line in items:
        if not isinstance(item, LineMap):
            raise Problem("each scenario must be a mapping with a name", line)
        s = _parse_scenario(merged(defaults, item), path, stem, loader)
        if s.id in seen:
            raise Problem(
                f"two scenarios are named {s.name!r} (the other at line {seen[s.id].line})",
                s.line,
                "name",
            )
        seen[s.id] = s
        scenarios.append(s)
    return scenarios


def parse_scenarios(text: str, path: Path, *, load_audio: Loader | None = None) -> list[Scenario]:
    """Check one scenario file's text; ``path`` names it in errors and anchors audio paths."""
    try:
        return _parse_file(text, path, load_audio or _audio_loader())
    except Problem as p:
        raise ScenarioError(p.message, path=path, line=p.line, key=p.key) from None


def parse_expectations(items: Iterable[Any], *, where: str = "<expect>") -> tuple[Expectation, ...]:
    """Expectations given as Python values, checked exactly as in a scenario file.

    Items are as in ``expect:`` (``{"clear": {"within_ms": 1500}}`` or ``"clear"``);
    errors name ``where`` and the line of the item in the YAML the values make.
    """
    text = yaml.safe_dump(
        {"scenarios": [{"name": "inline", "expect": list(items)}]}, sort_keys=False
    )
    (scenario,) = parse_scenarios(text, Path(where), load_audio=lambda p, n: _no_audio())
    return scenario.expect


def _no_audio() -> Pcm:
    raise Problem("expectations take no audio")


def _packaged(given: Path | str) -> Path:
    """``given``, or the packaged file or folder a ``bwsim:NAME`` names."""
    try:
        return resolve_packaged(str(given)) or Path(given)
    except ValueError as exc:
        raise ScenarioError(str(exc), path=Path(given)) from None


def _files(paths: Iterable[Path | str]) -> list[Path]:
    out: list[Path] = []
    for given in paths:
        p = _packaged(given)
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise ScenarioError("the folder holds no .yaml scenario files", path=p)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif str(given).startswith(PACKAGED_PREFIX):
            raise ScenarioError(
                f"no such packaged file or folder ({p}); the packaged scenarios are "
                "bwsim:scenarios and bwsim:paths (disconnect.yaml, outbound.yaml, dtmf.yaml, "
                "transfer.yaml)",
                path=Path(given),
            )
        else:
            raise ScenarioError("no such file or folder", path=p)
    return out


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    """Read and check every scenario file in ``paths`` (files or folders of ``*.yaml``).

    ``bwsim:NAME`` names a packaged file or folder (``bwsim:paths/outbound.yaml``).

    All files are checked, and their audio read, before anything runs; the first fault
    raises :class:`ScenarioError` with file, line and key. Ids must be unique across files.
    """
    scenarios: list[Scenario] = []
    load_audio = _audio_loader()
    for path in _files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"cannot be read: {exc}", path=path) from None
        scenarios.extend(parse_scenarios(text, path, load_audio=load_audio))
    ids: dict[str, Scenario] = {}
    for s in scenarios:
        if s.id in ids:
            raise ScenarioError(
                f"scenario id {s.id!r} is also used at {ids[s.id].where}; rename one",
                path=s.path,
                line=s.line,
                key="name",
            )
        ids[s.id] = s
    return scenarios
