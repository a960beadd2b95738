"""``bwsim record --redact``: phone numbers and ids replaced with stable fakes.

A :class:`Redactor` learns the real values as they pass (the ids under known JSON keys of
webhook bodies and ``start`` frames, every E.164 phone number in text) and replaces each
with a fake that stays the same for as long as the recorder runs: the same ``callId``
reads the same in every webhook, answer, path, ``start`` frame and the call's folder name,
so the archive still hangs together. Fakes keep the shape of what they replace
(``c-…`` call ids, ``s-…`` stream ids, ``+1202555…`` numbers, the 555-01xx block being
fictional). The ``tag`` the bot set is its own data and is kept.

Media frames are only searched for values already learned (never for new numbers: a
base64 payload can spell ``+1234567``), and their audio is left alone: voices, spoken
names and numbers cannot be redacted. Pure logic, no I/O.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any, Final
from urllib.parse import quote

__all__ = ["ID_KEYS", "PHONE_KEYS", "Redactor"]

ID_KEYS: Final = frozenset(
    {
        "accountId",
        "applicationId",
        "callId",
        "parentCallId",
        "streamId",
        "conferenceId",
        "recordingId",
        "transcriptionId",
    }
)
"""JSON keys whose string values are ids to replace (wherever the JSON object nests them)."""
PHONE_KEYS: Final = frozenset({"from", "to", "transferTo", "transferCallerId", "diversion"})
"""JSON keys whose values are phone numbers even when not in E.164 form."""

MIN_LENGTH: Final = 5
"""Shorter values are not learned: replacing them everywhere would hit unrelated text."""
_E164 = re.compile(r"(?<![\w+%])\+[1-9]\d{6,14}(?!\d)")
_PREFIXED = re.compile(r"^([a-z]{1,3}-)")


class Redactor:
    """Replace phone numbers and ids with stable fakes (one instance per recorder run)."""

    def __init__(self) -> None:
        self._fakes: dict[str, str] = {}
        self._count: dict[str, int] = {}
        self._order: list[str] = []
        """Real values, longest first, so one value inside another is replaced whole."""

    @property
    def known(self) -> dict[str, str]:
        """Every real value learned so far and its fake."""
        return dict(self._fakes)

    def fake_id(self, real: str, key: str = "id") -> str:
        """The fake for an id (learned now if new)."""
        if real in self._fakes:
            return self._fakes[real]
        n = self._next(key)
        if real.isdigit():  # numeric account ids stay numeric, of the same length
            fake = f"99{n:0{max(len(real) - 2, 3)}d}"
        else:
            prefix = m[1] if (m := _PREFIXED.match(real)) else ""
            fake = f"{prefix}redacted-{key.lower()}-{n:04d}"
        self._learn(real, fake)
        return fake

    def fake_number(self, real: str) -> str:
        """The fake for a phone number (learned now if new)."""
        if real in self._fakes:
            return self._fakes[real]
        n = self._next("phone")
        # 555-0100 to 555-0199 are fictional numbers; past 99, a 999 area code (unassigned).
        fake = f"+1202555{100 + n - 1:04d}" if n <= 100 else f"+1999{n:07d}"
        self._learn(real, fake)
        return fake

    def learn_json(self, value: Any) -> None:
        """Learn the ids and numbers under known keys of a JSON value (nested anywhere)."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and len(item) >= MIN_LENGTH:
                    if key in PHONE_KEYS and not item.startswith(("sip:", "anonymous")):
                        self.fake_number(item)
                    elif key in ID_KEYS:
                        self.fake_id(item, key)
                else:
                    self.learn_json(item)
        elif isinstance(value, list):
            for item in value:
                self.learn_json(item)

    def text(self, text: str, *, learn: bool = True) -> str:
        """``text`` with every known value (and, with ``learn``, every new one) replaced.

        With ``learn``, a JSON text's ids are learned first and every E.164 number in the
        text is learned; without it (media frames), only values already known are replaced.
        """
        if learn:
            stripped = text.lstrip()
            if stripped.startswith(("{", "[")):
                with contextlib.suppress(ValueError):
                    self.learn_json(json.loads(text))
            for number in _E164.findall(text):
                self.fake_number(number)
        for real in self._order:
            if real in text:
                text = text.replace(real, self._fakes[real])
            encoded = quote(real, safe="")
            if encoded != real and encoded in text:
                text = text.replace(encoded, quote(self._fakes[real], safe=""))
        return text

    def mapping(self, value: Any, *, learn: bool = True) -> Any:
        """A copy of a JSON-like value with every string passed through :meth:`text`."""
        if learn:
            self.learn_json(value)
        if isinstance(value, str):
            return self.text(value, learn=learn)
        if isinstance(value, dict):
            return {k: self.mapping(v, learn=learn) for k, v in value.items()}
        if isinstance(value, list):
            return [self.mapping(v, learn=learn) for v in value]
        return value

    def _next(self, key: str) -> int:
        n = self._count.get(key, 0) + 1
        self._count[key] = n
        return n

    def _learn(self, real: str, fake: str) -> None:
        self._fakes[real] = fake
        self._order.append(real)
        self._order.sort(key=len, reverse=True)
