"""The ``signing`` key of a scenario's ``call`` section: bwsim's webhook-signing extension.

``call: {signing: {secret, secret_env, header, algorithm, mode, timestamp_header}}`` signs
the call's webhooks as :class:`~simulator.protocol.webhook_signing.Signing` describes;
Bandwidth signs no voice webhook (docs/bandwidth.md §2.8), so this is for a bot behind a
signing gateway. ``secret_env`` names an environment variable holding the secret instead
of writing it in the file; it is read when the file is loaded. :func:`parse_signing`
checks these keys and names a bad one with its line.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from simulator.errors import ConfigError
from simulator.judge.scenario_yaml import LineMap, Problem, refuse_unknown
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER
from simulator.protocol.webhook_signing import SIGNING_ALGORITHMS, SIGNING_MODES, Signing

__all__ = ["SIGNING_KEYS", "parse_signing"]

SIGNING_KEYS = frozenset(
    {"secret", "secret_env", "header", "algorithm", "mode", "timestamp_header"}
)


def _secret(spec: LineMap, at: Callable[[str], int | None]) -> str:
    secret, name = spec.get("secret"), spec.get("secret_env")
    if (secret is None) == (name is None):
        why = "call.signing needs secret (the key the bot checks with) or secret_env, one of them"
        raise Problem(why, at("secret_env" if name is not None else "secret"), "secret")
    if name is not None:
        if not isinstance(name, str) or not name:
            why = f"call.signing.secret_env must name an environment variable, got {name!r}"
            raise Problem(why, at("secret_env"), "secret_env")
        value = os.environ.get(name)
        if not value:
            why = f"call.signing.secret_env: the environment variable {name} is not set; set it"
            raise Problem(why, at("secret_env"), "secret_env")
        return value
    if not isinstance(secret, str):
        why = "call.signing.secret must be a string of 16-64 printable ASCII characters"
        raise Problem(why, at("secret"), "secret")
    return secret


def _choice(
    spec: LineMap, at: Callable[[str], int | None], key: str, choices: tuple[str, ...]
) -> str:
    value = spec.get(key, choices[0])
    if value not in choices:
        why = f"call.signing.{key} must be one of {list(choices)}, got {value!r}"
        raise Problem(why, at(key), key)
    return str(value)


def parse_signing(raw: LineMap, at: Callable[[str], int | None]) -> Signing | None:
    """The signing ``raw`` (a ``call`` mapping) asks for; None without ``signing``."""
    spec = raw.get("signing")
    if spec is None:
        return None
    if not isinstance(spec, LineMap):
        why = f"call.signing must be a mapping of {sorted(SIGNING_KEYS)}"
        raise Problem(why, at("signing"), "signing")
    refuse_unknown((k for k in spec if k not in SIGNING_KEYS), SIGNING_KEYS, spec, "call.signing")

    def here(key: str) -> int | None:
        return spec.key_lines.get(key, spec.line)

    secret = _secret(spec, here)
    for key in ("header", "timestamp_header"):
        value = spec.get(key)
        if value is not None and not isinstance(value, str):
            raise Problem(f"call.signing.{key} must be a header name", here(key), key)
    try:
        return Signing(
            secret,
            header=spec.get("header", EXTENSION_SIGNATURE_HEADER),
            algorithm=_choice(spec, here, "algorithm", SIGNING_ALGORITHMS),  # type: ignore[arg-type]
            mode=_choice(spec, here, "mode", SIGNING_MODES),  # type: ignore[arg-type]
            timestamp_header=spec.get("timestamp_header"),
        )
    except ConfigError as exc:
        key = "secret" if "secret" in str(exc) else "signing"
        raise Problem(f"call.signing: {exc}", here(key), key) from None
