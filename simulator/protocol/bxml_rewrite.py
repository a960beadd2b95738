"""Point a bot's BXML answer at the capture proxy (``bwsim record``), keeping the rest as is.

The recorder stands where Bandwidth's webhooks arrive. For the media stream and every
later callback to go through it too, the URLs in the bot's answer that Bandwidth would
connect or call back to are rewritten:

- ``<StartStream destination>`` (absolute or relative) becomes the recorder's stream
  URL, a ``ws(s)://`` URL given by the caller of :func:`rewrite_bxml` for each destination
  (it carries a key the recorder maps back to the call and the original destination).
- Every other attribute whose name ends in ``Url`` (``redirectUrl``, ``streamEventUrl``,
  ``transferAnswerUrl`` …) holding an absolute ``http(s)`` URL gets the recorder's origin,
  path and query kept: the recorder forwards every request to the bot at the same path.
  Relative URLs already resolve against the recorder and are left alone.

The document is edited as text, attribute by attribute, so everything else (formatting,
comments, the order of attributes, the verbs' text) is byte for byte the bot's. Audio
URLs in ``<PlayAudio>``'s text are not callbacks and are left alone. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, unescape

from simulator.protocol.urls import is_loopback_ip

__all__ = ["Rewritten", "rewrite_bxml", "rewrite_callback_url", "stream_upstream"]

_ENTITIES = {'"': "&quot;", "'": "&apos;"}
_ATTR = r"""[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*')"""
# An opening (or self-closing) tag with its attributes; quoted values may hold ">".
_TAG = re.compile(rf"<([A-Za-z_][\w:.-]*)((?:\s+{_ATTR})*)\s*/?>")
_ONE_ATTR = re.compile(r"""(\s+)([\w:.-]+)(\s*=\s*)(?:"([^"]*)"|'([^']*)')""")


@dataclass
class Rewritten:
    """A rewritten answer and what was changed in it."""

    text: str
    streams: list[str] = field(default_factory=list)
    """The original ``<StartStream destination>`` values, in document order."""
    callbacks: list[tuple[str, str]] = field(default_factory=list)
    """``(original, rewritten)`` for every callback URL that was pointed at the recorder."""


def rewrite_callback_url(url: str, recorder_base: str) -> str | None:
    """``url`` on the recorder's origin (path and query kept), or None to leave it alone.

    Only absolute ``http``/``https`` URLs are rewritten; a relative one already resolves
    against the recorder.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    base = urlsplit(recorder_base)
    return urlunsplit((base.scheme, base.netloc, parts.path or "/", parts.query, parts.fragment))


def rewrite_bxml(text: str, recorder_base: str, stream_url: Callable[[str], str]) -> Rewritten:
    """Rewrite the URLs Bandwidth would call in ``text`` (a BXML document) to the recorder.

    ``recorder_base`` is the recorder's public ``http(s)://host[:port]``; ``stream_url``
    gives, for each original ``<StartStream destination>``, the URL Bandwidth is to connect
    to instead (it is called once per ``<StartStream>``, in document order).
    """
    out = Rewritten(text=text)

    def tag(match: re.Match[str]) -> str:
        name, attrs = match[1], match[2]
        if not attrs:
            return match[0]
        local = name.rpartition(":")[2]

        def attr(m: re.Match[str]) -> str:
            key = m[2]
            quote = '"' if m[4] is not None else "'"
            raw = m[4] if m[4] is not None else m[5]
            value = unescape(raw, {"&quot;": '"', "&apos;": "'"})
            new: str | None = None
            if local == "StartStream" and key == "destination":
                out.streams.append(value)
                new = stream_url(value)
            elif key.endswith("Url"):
                new = rewrite_callback_url(value, recorder_base)
                if new is not None:
                    out.callbacks.append((value, new))
            if new is None:
                return m[0]
            entities = {quote: _ENTITIES[quote]}
            return f"{m[1]}{key}{m[3]}{quote}{escape(new, entities)}{quote}"

        start = match.start(2) - match.start(0)
        end = match.end(2) - match.start(0)
        whole = match[0]
        return whole[:start] + _ONE_ATTR.sub(attr, attrs) + whole[end:]

    out.text = _TAG.sub(tag, text)
    return out


def stream_upstream(destination: str, recorder_netloc: str, bot_url: str) -> str:
    """Where the recorder opens a ``<StartStream destination>``: the bot's WebSocket URL.

    A relative destination, or one naming the recorder's own public host
    (``recorder_netloc``: the bot names itself by the host Bandwidth reaches, which now
    leads to the recorder), is taken on the bot at ``bot_url``. A loopback one is mapped as
    bwsim maps it (:func:`simulator.protocol.urls.to_bot`): with an explicit port
    (``wss://127.0.0.1:7860/…``, a bot started by hand with ``PROXY_HOST`` set to its own
    port) that port, else the bot at ``bot_url``, and with ``bot_url``'s scheme (nothing
    on loopback speaks TLS). Any other host is used as written.
    """
    parts = urlsplit(destination.strip())
    bot = urlsplit(bot_url)
    scheme = "wss" if bot.scheme == "https" else "ws"
    host = (parts.hostname or "").lower()
    absolute = parts.scheme.lower() in ("ws", "wss") and bool(parts.netloc)
    loopback = host == "localhost" or host.endswith(".localhost") or is_loopback_ip(host)
    if absolute and not loopback and parts.netloc.lower() != recorder_netloc.lower():
        return destination.strip()
    explicit = absolute and loopback and parts.port is not None
    netloc = parts.netloc if explicit else bot.netloc
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
