"""Secrets out of every record bwsim keeps: the journal, the call's trace and summary.

A bot's requests and answers carry secrets: Bearer tokens and Basic credentials in
headers, the OAuth token in the token route's answer, ``client_secret`` in a form-posted
token request, ``password``/``destinationPassword`` attributes in BXML and ``password``
keys in a Voice API update body. Records are made with :func:`redact` (structures) or
:func:`redact_text` (bodies as text), so none of these reaches ``GET /_bwsim/journal``,
``trace.jsonl``, ``timeline.json`` or ``summary.json``. What is left shows that a secret
was there and of what kind (``Bearer ***``, ``destinationPassword="***"``), not its value.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "is_secret_name", "redact", "redact_text"]

MASK = "***"
"""What a secret value becomes."""

_SECRET_NAME = re.compile(
    r"(password|passwd|secret|access_?token|refresh_?token|id_?token|authorization|api_?key)$",
    re.IGNORECASE,
)
_NAME = (
    r"(?:[A-Za-z_][\w.:-]*?)?"
    r"(?:password|passwd|secret|access_?token|refresh_?token|id_?token|api_?key)"
)
# "name": "value" in JSON (the value may be cut short by a record's length limit).
_JSON_PAIR = re.compile(rf'("{_NAME}"\s*:\s*")((?:[^"\\]|\\.)*)("|$)', re.IGNORECASE)
# name="value" / name='value' attributes in XML (BXML), possibly cut short too.
_XML_ATTR = re.compile(rf"(\b{_NAME}\s*=\s*)([\"'])(.*?)(\2|$)", re.IGNORECASE | re.DOTALL)
# name=value in a form body or a query string.
_FORM_PAIR = re.compile(rf"((?:^|[&?;\s]){_NAME}=)(?![\"'])([^&\s\"'<>]*)", re.IGNORECASE)
# Credentials after an HTTP auth scheme, wherever they appear in text.
# Only what looks like a credential (long, not only letters): "Basic realm=…" and "a
# Bearer token" in prose stay as they are.
_AUTH = re.compile(
    r"\b(Bearer|Basic|Digest)\s+(?!realm\b)(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{12,}",
    re.IGNORECASE,
)


_ANY = re.compile(r"pass|secret|token|key|bearer|basic|digest", re.IGNORECASE)
"""A cheap first look: text without any of these carries no secret the patterns find."""


def is_secret_name(name: str) -> bool:
    """Whether a key or header called ``name`` holds a secret (``destinationPassword`` …)."""
    return _SECRET_NAME.search(name.replace("-", "_")) is not None


def redact_text(text: str) -> str:
    """``text`` with every secret value it carries replaced by :data:`MASK`.

    >>> redact_text('<PhoneNumber destinationPassword="hunter2">+1</PhoneNumber>')
    '<PhoneNumber destinationPassword="***">+1</PhoneNumber>'
    >>> redact_text("grant_type=client_credentials&client_secret=s3cr3t")
    'grant_type=client_credentials&client_secret=***'
    >>> redact_text('{"access_token": "eyJabc", "token_type": "Bearer"}')
    '{"access_token": "***", "token_type": "Bearer"}'
    """
    if not text or _ANY.search(text) is None:
        return text
    text = _JSON_PAIR.sub(lambda m: f"{m[1]}{MASK}{m[3]}", text)
    text = _XML_ATTR.sub(lambda m: f"{m[1]}{m[2]}{MASK}{m[4]}", text)
    text = _FORM_PAIR.sub(lambda m: f"{m[1]}{MASK}", text)
    return _AUTH.sub(lambda m: f"{m[1]} {MASK}", text)


def redact(value: Any) -> Any:
    """A copy of ``value`` (JSON-like: dicts, lists, strings) with every secret masked.

    A key that names a secret (:func:`is_secret_name`) keeps its name and loses its
    value; every string is passed through :func:`redact_text`.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: _mask(v) if isinstance(k, str) and is_secret_name(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _mask(value: Any) -> Any:
    if value is None or value == "":
        return value
    if isinstance(value, str):
        scheme, sep, _ = value.partition(" ")
        if sep and scheme.lower() in ("bearer", "basic", "digest"):
            return f"{scheme} {MASK}"
        return MASK
    return MASK
