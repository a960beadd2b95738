"""The capture proxy's Sans-I/O parts: BXML URL rewriting and ``--redact``'s stable fakes."""

from __future__ import annotations

import json

from simulator.archive.redaction import Redactor
from simulator.protocol.bxml_rewrite import rewrite_bxml, rewrite_callback_url, stream_upstream

BASE = "https://rec.example.test"
ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n'
    '  <!-- a comment with destination="wss://x/y" stays -->\n'
    '  <StartStream name="s" destination="wss://bot.example.test/ws/t?a=1&amp;b=2"'
    " streamEventUrl='https://bot.example.test/events?x=1' mode=\"bidirectional\">"
    '<StreamParam name="k" value="https://not.a.callback/"/></StartStream>\n'
    "  <SpeakSentence>see https://example.test</SpeakSentence>\n"
    '  <Redirect redirectUrl="/relative" />\n'
    '  <Transfer transferAnswerUrl="http://bot.example.test:8080/answer">'
    "<PhoneNumber>+15550001111</PhoneNumber></Transfer>\n"
    "</Response>\n"
)


def _rewrite() -> tuple[str, list[str], list[str]]:
    given: list[str] = []

    def stream_url(destination: str) -> str:
        given.append(destination)
        return f"wss://rec.example.test/_bwsim/record/stream/k{len(given)}?p=1&q=2"

    out = rewrite_bxml(ANSWER, BASE, stream_url)
    return out.text, out.streams, given


def test_start_stream_destination_points_at_the_recorder_and_the_original_is_kept() -> None:
    """<StartStream destination> becomes the recorder's URL (XML-escaped); the original is kept."""
    text, streams, given = _rewrite()
    assert streams == given == ["wss://bot.example.test/ws/t?a=1&b=2"]
    assert 'destination="wss://rec.example.test/_bwsim/record/stream/k1?p=1&amp;q=2"' in text


def test_absolute_callback_urls_get_the_recorders_origin_relative_ones_stay() -> None:
    """Every absolute *Url attribute gets the recorder's origin, path and query kept."""
    text, _, _ = _rewrite()
    assert "streamEventUrl='https://rec.example.test/events?x=1'" in text
    assert 'transferAnswerUrl="https://rec.example.test/answer"' in text
    assert 'redirectUrl="/relative"' in text


def test_everything_else_in_the_answer_is_byte_for_byte_the_bots() -> None:
    """Comments, text, other attributes and formatting are untouched."""
    text, _, _ = _rewrite()
    expected = (
        ANSWER.replace(
            "wss://bot.example.test/ws/t?a=1&amp;b=2",
            "wss://rec.example.test/_bwsim/record/stream/k1?p=1&amp;q=2",
        )
        .replace("https://bot.example.test/events", "https://rec.example.test/events")
        .replace("http://bot.example.test:8080/answer", "https://rec.example.test/answer")
    )
    assert text == expected


def test_callback_url_rewriting_leaves_non_http_urls_alone() -> None:
    """Only absolute http(s) URLs are rewritten."""
    assert rewrite_callback_url("/x", BASE) is None
    assert rewrite_callback_url("sip:a@b", BASE) is None
    assert rewrite_callback_url("http://h:1/p?q=1", BASE) == "https://rec.example.test/p?q=1"


def test_the_stream_goes_to_the_bot_as_bwsim_would_map_it() -> None:
    """Relative, own-host and loopback destinations go to the bot; other hosts as written."""
    bot = "http://127.0.0.1:7860"
    cases = {
        "/ws/t?x=1": "ws://127.0.0.1:7860/ws/t?x=1",
        "wss://rec.example.test/ws/t": "ws://127.0.0.1:7860/ws/t",
        "wss://127.0.0.1:9000/ws": "ws://127.0.0.1:9000/ws",
        "wss://bot.bwsim.localhost/ws": "ws://127.0.0.1:7860/ws",
        "wss://bot.example.test/ws?a=1": "wss://bot.example.test/ws?a=1",
    }
    for destination, expected in cases.items():
        assert stream_upstream(destination, "rec.example.test", bot) == expected, destination
    assert stream_upstream("/ws", "r", "https://bot.internal:443").startswith("wss://")


WEBHOOK = {
    "eventType": "initiate",
    "callId": "c-11111111-aaaa",
    "accountId": "9901234",
    "applicationId": "app-uuid-0001",
    "from": "+15551230001",
    "to": "+15551230002",
    "callUrl": "https://voice.bandwidth.com/api/v2/accounts/9901234/calls/c-11111111-aaaa",
    "tag": "keep me",
}


def test_redact_gives_the_same_fake_for_the_same_value_everywhere() -> None:
    """A callId or number reads the same fake in a body, a path, an answer and a frame."""
    r = Redactor()
    body = json.loads(r.text(json.dumps(WEBHOOK)))
    fake_call, fake_from = body["callId"], body["from"]
    assert fake_call != WEBHOOK["callId"] and fake_call.startswith("c-")
    assert fake_from != WEBHOOK["from"] and fake_from.startswith("+1202555")
    assert body["callUrl"].endswith(f"/accounts/{body['accountId']}/calls/{fake_call}")
    assert body["accountId"].isdigit() and body["accountId"] != WEBHOOK["accountId"]
    assert body["tag"] == "keep me"
    assert r.text("/cb?from=%2B15551230001&call=c-11111111-aaaa") == (
        f"/cb?from=%2B{fake_from[1:]}&call={fake_call}"
    )
    start = json.dumps({"eventType": "start", "metadata": {"callId": WEBHOOK["callId"]}})
    assert json.loads(r.text(start))["metadata"]["callId"] == fake_call
    assert r.fake_id(WEBHOOK["callId"], "callId") == fake_call
    second = Redactor()
    assert json.loads(second.text(json.dumps(WEBHOOK)))["callId"] == fake_call  # same order
    assert (
        r.text("<PhoneNumber>+15559990000</PhoneNumber>")
        != "<PhoneNumber>+15559990000</PhoneNumber>"
    )


def test_redact_never_searches_audio_for_new_numbers() -> None:
    """Without learning (media frames) only known values are replaced: base64 stays as is."""
    r = Redactor()
    frame = '{"eventType":"media","payload":"ab+1234567890cd"}'
    assert r.text(frame, learn=False) == frame
    r.text(json.dumps(WEBHOOK))
    leaked = '{"eventType":"media","callId":"c-11111111-aaaa","payload":"+1234567890"}'
    assert "c-11111111-aaaa" not in r.text(leaked, learn=False)
    assert "+1234567890" in r.text(leaked, learn=False)
