"""Finding a bot's stream token in its destination, judging its strength, forging others."""

from __future__ import annotations

import secrets
import uuid

import pytest

from simulator.audit.tokens import (
    MIN_TOKEN_BITS,
    bot_stream_url,
    destination_parts,
    forge,
    replace_parts,
    token_strength,
    varying_parts,
)


def test_destination_parts_name_path_segments_and_query_values() -> None:
    """Every path segment and query value is listed with its place."""
    parts = destination_parts("wss://bot.example/ws/abc?session=xyz&call_id=c-1")
    assert parts == [
        ("path:1", "ws"),
        ("path:2", "abc"),
        ("query:session", "xyz"),
        ("query:call_id", "c-1"),
    ]


@pytest.mark.parametrize(
    ("urls", "expected"),
    [
        (["wss://h/ws/t1", "wss://h/ws/t2"], {"path:2": ["t1", "t2"]}),
        (
            ["wss://h/media?session=a&k=v", "wss://h/media?session=b&k=v"],
            {"query:session": ["a", "b"]},
        ),
        (["wss://h/ws?call_id=c-1", "wss://h/ws?call_id=c-1"], {}),
        (["wss://h/ws", "wss://h/ws/t"], {"path:2": ["", "t"]}),
    ],
    ids=["path token", "query token", "no token", "shapes differ"],
)
def test_varying_parts_find_whatever_differs(
    urls: list[str], expected: dict[str, list[str]]
) -> None:
    """The token is what differs between destinations minted for the same call."""
    assert varying_parts(urls) == expected


@pytest.mark.parametrize(
    "make",
    [lambda: secrets.token_urlsafe(32), lambda: secrets.token_hex(24), lambda: str(uuid.uuid4())],
    ids=["token_urlsafe(32)", "token_hex(24)", "uuid4"],
)
def test_random_tokens_are_strong(make) -> None:  # type: ignore[no-untyped-def]
    """Tokens from a CSPRNG carry at least the minimum of secret bits."""
    strength = token_strength([make() for _ in range(3)])
    assert strength.strong, strength
    assert strength.bits >= MIN_TOKEN_BITS


@pytest.mark.parametrize(
    "tokens",
    [
        ["1", "2", "3"],
        ["tok-1733070000123", "tok-1733070000456", "tok-1733070000789"],
        [str(uuid.UUID(int=(0x1234 << 96) + i)) for i in range(3)],
    ],
    ids=["counter", "timestamp", "sequential uuid"],
)
def test_guessable_tokens_are_weak(tokens: list[str]) -> None:
    """Only the varying part counts: counters and timestamps carry a few bits."""
    strength = token_strength(tokens)
    assert not strength.strong, strength
    assert strength.bits < 40


def test_token_strength_needs_two_tokens() -> None:
    """One token says nothing about what varies."""
    with pytest.raises(ValueError, match="at least two"):
        token_strength(["abc"])


def test_forged_tokens_keep_the_shape_but_not_the_value() -> None:
    """same-shape keeps length and alphabet; near-miss changes the last character only."""
    real = secrets.token_hex(16)
    fake = forge(real, "same-shape")
    assert fake != real
    assert len(fake) == len(real)
    assert set(fake) <= set("0123456789abcdef")
    near = forge(real, "near-miss")
    assert near[:-1] == real[:-1]
    assert near[-1] != real[-1]
    assert forge(real, "short") == "x"
    with pytest.raises(ValueError, match="unknown forgery"):
        forge(real, "guess")


def test_replace_parts_swaps_a_path_segment_or_a_query_value() -> None:
    """Only the named places change; the rest of the URL is kept."""
    assert replace_parts("wss://h/ws/abc", {"path:2": "zzz"}) == "wss://h/ws/zzz"
    assert (
        replace_parts("wss://h/media?session=a&k=v", {"query:session": "b"})
        == "wss://h/media?session=b&k=v"
    )


def test_stream_urls_are_mapped_to_the_bot_on_loopback() -> None:
    """A public host means the bot under test; an explicit loopback address is kept."""
    base = "http://127.0.0.1:8123"
    assert bot_stream_url("wss://abc.ngrok.app/ws/t?x=1", base) == "ws://127.0.0.1:8123/ws/t?x=1"
    assert bot_stream_url("ws://127.0.0.1:9000/ws", base) == "ws://127.0.0.1:9000/ws"
