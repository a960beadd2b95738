"""``bwsim record``: a capture proxy in front of a bot, writing one archive per call.

Point Bandwidth's webhooks at it (the application's callback URL, through the tunnel or
ingress already in use) and the bot's URL at ``--bot``: every webhook, answer and media
frame goes through it unchanged, except that the bot's BXML is made to send the media
stream and later callbacks through the recorder too. One folder per call is written under
``--archive`` (``docs/archive.md``). It runs until Ctrl-C (or SIGTERM), then writes what
it has and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from simulator.cli.options import EXIT_OK, Subparsers
from simulator.errors import ConfigError
from simulator.record.capture import CallCapture
from simulator.record.server import Recorder, bind_socket
from simulator.runner.lifetime import interrupt_on_termination

__all__ = ["add_parser", "run"]


def add_parser(sub: Subparsers) -> None:
    """Add ``bwsim record`` and its options to the CLI's subcommands."""
    record = sub.add_parser(
        "record",
        help="capture real calls: a proxy in front of a bot that writes call archives",
        description=(
            "Listen where Bandwidth's webhooks arrive, forward every webhook and media "
            "frame to the bot at --bot unchanged (the bot's BXML is rewritten so the media "
            "stream and later callbacks come through the recorder too), and write one "
            "archive folder per call under --archive: webhooks and answers, the start "
            "frame, every frame with its time, and call.wav. Credentials are never stored. "
            "Runs until Ctrl-C."
        ),
    )
    record.add_argument("--port", type=int, required=True, help="port to listen on (0: any)")
    record.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    record.add_argument(
        "--bot", required=True, metavar="URL", help="the bot's base URL (http://127.0.0.1:7860)"
    )
    record.add_argument(
        "--archive", required=True, type=Path, metavar="DIR", help="folder for the archives"
    )
    record.add_argument(
        "--public-url",
        metavar="URL",
        help="the recorder's URL as Bandwidth reaches it (https://abc.ngrok.app); default: "
        "from each request's Host and X-Forwarded-Proto headers",
    )
    record.add_argument(
        "--voice-api",
        metavar="URL",
        help="also stand in front of this Voice API base (https://voice.bandwidth.com/api/v2): "
        "give the bot BANDWIDTH_VOICE_API_URL=http://RECORDER/_bwsim/voice-api and each call's "
        "requests (its hang-up …) are recorded",
    )
    record.add_argument(
        "--oauth-url",
        metavar="URL",
        help="the token URL to forward the bot's token requests to "
        "(https://api.bandwidth.com/api/v1/oauth2/token): give the bot "
        "BANDWIDTH_OAUTH_URL=http://RECORDER/_bwsim/oauth; tokens are never stored",
    )
    record.add_argument(
        "--redact",
        action="store_true",
        help="also replace phone numbers and ids with stable fakes (the audio stays as is)",
    )


def _http_url(value: str, option: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{option} {value!r}: give an http(s) URL, e.g. http://127.0.0.1:7860")
    if parts.query or parts.fragment:
        raise ConfigError(f"{option} {value!r}: give the base URL only, without ?query or #")
    return value.rstrip("/")


def _full_url(value: str, option: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{option} {value!r}: give an http(s) URL")
    return value


def _archive_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--archive {path}: cannot create it ({exc.strerror or exc})") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"--archive {path}: not a folder this user can write to")
    return path


def run(args: argparse.Namespace) -> int:
    """Run the recorder until interrupted; exit 0 (2 for bad arguments)."""
    bot = _http_url(args.bot, "--bot")
    public = _http_url(args.public_url, "--public-url") if args.public_url else None
    voice_api = _http_url(args.voice_api, "--voice-api") if args.voice_api else None
    oauth_url = _full_url(args.oauth_url, "--oauth-url") if args.oauth_url else None
    archive = _archive_dir(args.archive)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: give a port from 0 to 65535")
    sock = bind_socket(args.host, args.port)

    def written(call: CallCapture) -> None:
        hooks = len(call.archive.webhooks)
        frames = len(call.archive.frames)
        print(
            f"call {call.archive.call_id or call.key}: {call.folder}  "
            f"({hooks} webhooks, {frames} frames)",
            flush=True,
        )

    recorder = Recorder(
        bot,
        archive,
        host=args.host,
        public_url=public,
        redact_ids=args.redact,
        on_written=written,
        sock=sock,
        voice_api=voice_api,
        oauth_url=oauth_url,
    )
    try:
        with interrupt_on_termination():
            asyncio.run(_serve(recorder, bot, archive))
    except KeyboardInterrupt:
        pass
    count = len(recorder.written)
    print(f"bwsim record: stopped; {count} call archive(s) in {archive}", file=sys.stderr)
    return EXIT_OK


async def _serve(recorder: Recorder, bot: str, archive: Path) -> None:
    async with recorder:
        print(
            f"bwsim record: listening on {recorder.url}, forwarding to {bot}, "
            f"archives in {archive}/ (Ctrl-C to stop)",
            flush=True,
        )
        await asyncio.Event().wait()
