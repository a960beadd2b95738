"""The ``--signing-*`` options of ``bwsim call`` and ``bwsim audit``: bwsim's signing extension.

Bandwidth signs no voice webhook (docs/bandwidth.md §2.8); these turn on bwsim's HMAC
signing for a bot that sits behind a signing gateway.
"""

from __future__ import annotations

import argparse

from simulator.errors import ConfigError
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER
from simulator.protocol.webhook_signing import SIGNING_ALGORITHMS, SIGNING_MODES, Signing

__all__ = ["add_signing_options", "signing_from_args"]


def add_signing_options(parser: argparse.ArgumentParser, *, modes: bool = True) -> None:
    """Add ``--signing-*``; ``modes`` False leaves out ``--signing-mode`` (the audit tries each)."""
    signing = parser.add_argument_group(
        "webhook signing (bwsim's extension: Bandwidth signs no voice webhook)",
        "sign every POST webhook with an HMAC, for a bot behind a signing gateway "
        "(docs/bandwidth.md §2.8)",
    )
    signing.add_argument(
        "--signing-secret",
        default=None,
        metavar="SECRET",
        help="turn signing on with this key (16-64 printable ASCII characters)",
    )
    signing.add_argument(
        "--signing-header",
        default=None,
        metavar="NAME",
        help=f"the signature header (default {EXTENSION_SIGNATURE_HEADER})",
    )
    signing.add_argument(
        "--signing-algorithm",
        default=None,
        choices=list(SIGNING_ALGORITHMS),
        help="the HMAC's hash (default: sha256)",
    )
    if modes:
        signing.add_argument(
            "--signing-mode",
            default=None,
            choices=list(SIGNING_MODES),
            help="good (default), wrong (another key), missing (no signature), stale (a "
            "timestamp 10 minutes old)",
        )
    signing.add_argument(
        "--signing-timestamp-header",
        default=None,
        metavar="NAME",
        help="send the Unix time in this header and sign f'{timestamp}.{body}' "
        "(stale mode uses x-bwsim-signature-timestamp without it)",
    )


_SIGNING_FLAGS = (
    ("secret", "--signing-secret"),
    ("timestamp_header", "--signing-timestamp-header"),
    ("header", "--signing-header"),
    ("", "--signing-*"),
)


def signing_from_args(args: argparse.Namespace) -> Signing | None:
    """The signing ``--signing-*`` ask for; None without them; ConfigError (exit 2) when wrong."""
    others = {
        "--signing-header": args.signing_header,
        "--signing-algorithm": args.signing_algorithm,
        "--signing-mode": getattr(args, "signing_mode", None),
        "--signing-timestamp-header": args.signing_timestamp_header,
    }
    if args.signing_secret is None:
        for flag, given in others.items():
            if given is not None:
                raise ConfigError(f"{flag} needs --signing-secret (the key the bot checks with)")
        return None
    try:
        return Signing(
            args.signing_secret,
            header=args.signing_header or EXTENSION_SIGNATURE_HEADER,
            algorithm=args.signing_algorithm or "sha256",
            mode=getattr(args, "signing_mode", None) or "good",
            timestamp_header=args.signing_timestamp_header,
        )
    except ConfigError as exc:
        text = str(exc)
        flag = next(f for w, f in _SIGNING_FLAGS if w in text)
        raise ConfigError(f"{flag}: {text}") from None
