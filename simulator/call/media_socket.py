"""The media stream's WebSocket connection, with a short path for the frames of every 20 ms.

bwsim writes one ``media`` frame per stream every 20 ms and reads the bot's
``playAudio`` 25-50 times a second per stream, so the library's general machinery per
frame (a :class:`~websockets.frames.Frame` object, its serializer, a generator-based
parser, the events list, a message queue) was most of the Python time per frame once
there are hundreds of streams. :class:`MediaConnection` is the ``websockets`` client
connection with two shortcuts, each taken only where the result is byte for byte what
the library would do, and the library's own path for everything else:

- **sending**: :meth:`MediaConnection.write_text` writes a complete, masked client text
  frame (RFC 6455 §5.2-5.3) straight to the transport, built in one step;
- **receiving**: :meth:`MediaConnection.data_received` splits the server's unmasked,
  unfragmented text and binary data frames itself and hands each to ``on_message`` at
  once. The first byte it does not recognise as one of those (a control frame: ping,
  pong, close; a fragment; reserved bits; a mask; an oversized frame; text that is not
  UTF-8), and everything after it, goes to the library's parser from that frame's first
  byte on, so closes, protocol errors and their close codes are the library's, in order.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from types import GeneratorType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event, State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover (the C extension is built for every wheel we use)
    from websockets.utils import apply_mask

__all__ = ["MAX_FRAME_BYTES", "MaskKeys", "MediaConnection", "client_text_frame"]

MAX_FRAME_BYTES = 4 * 1024 * 1024
"""Largest frame accepted from the bot (Bandwidth's limit is undocumented)."""

_FIN_TEXT = 0x81
_FIN_BINARY = 0x82
_MASKED = 0x80
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


class MaskKeys:
    """Client masking keys (RFC 6455 §5.3: fresh and unpredictable for every frame).

    Drawn from ``os.urandom`` as the library does, but 4 KiB at a time: one system call
    per 1,024 frames instead of one per frame.
    """

    POOL = 4096

    def __init__(self) -> None:
        self._keys: list[bytes] = []

    def next(self) -> bytes:
        """Four random bytes, never handed out before."""
        keys = self._keys
        if not keys:
            pool = os.urandom(self.POOL)
            keys.extend(pool[i : i + 4] for i in range(0, self.POOL, 4))
        return keys.pop()


_KEYS = MaskKeys()
_next_key = _KEYS.next
_HEADS: dict[int, bytes] = {}
"""Frame headers by payload length (a media frame's length varies by a few bytes)."""


def _head(n: int) -> bytes:
    if n < 126:
        head = _SHORT.pack(_FIN_TEXT, _MASKED | n)
    elif n < 65536:
        head = _MEDIUM.pack(_FIN_TEXT, _MASKED | 126, n)
    else:
        return _LONG.pack(_FIN_TEXT, _MASKED | 127, n)
    _HEADS[n] = head
    return head


def client_text_frame(payload: bytes, mask: bytes | None = None) -> bytes:
    """One final, masked text frame carrying ``payload`` (UTF-8), as a client sends it."""
    key = _next_key() if mask is None else mask
    n = len(payload)
    head = _HEADS.get(n) or _head(n)
    return b"".join((head, key, apply_mask(payload, key)))


_MORE = -1
_REFUSED = -2


def _scan(buf: bytearray, pos: int, size: int) -> tuple[int, int]:
    """The payload's ``(start, end)`` of the frame at ``pos``, or ``(_MORE | _REFUSED, 0)``.

    ``_MORE``: the frame is not complete yet. ``_REFUSED``: it is not a final, unmasked
    text or binary frame within :data:`MAX_FRAME_BYTES` (the library's to handle).
    """
    if size - pos < 2:
        return _MORE, 0
    first, length = buf[pos], buf[pos + 1]
    if first not in (_FIN_TEXT, _FIN_BINARY) or length & _MASKED:
        return _REFUSED, 0
    start = pos + 2
    if length == 126:
        if size - pos < 4:
            return _MORE, 0
        length, start = (buf[pos + 2] << 8) | buf[pos + 3], pos + 4
    elif length == 127:
        if size - pos < 10:
            return _MORE, 0
        length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
        if length > MAX_FRAME_BYTES:
            return _REFUSED, 0
    end = start + length
    return (start, end) if end <= size else (_MORE, 0)


def _parser_at_frame_start(connection: ClientConnection) -> bool:
    """Whether the library's parser waits for the first byte of a frame, with none buffered."""
    proto = connection.protocol
    if proto.state is not State.OPEN or proto.reader.buffer:
        return False
    gen: Any = proto.parser
    while isinstance(gen, GeneratorType) and gen.gi_yieldfrom is not None:
        gen = gen.gi_yieldfrom
    return isinstance(gen, GeneratorType) and gen.gi_code.co_name == "at_eof"


class MediaConnection(ClientConnection):
    """A client connection that hands each whole text or binary frame to ``on_message``.

    At once, from ``data_received``: without the message queue and the receiving task's
    wake-up per message that ``async for message in ws`` costs. Until ``on_message`` is
    attached (:meth:`attach`), and once anything else arrived, frames go the library's
    way (its assembler and ``recv``), so the order of messages is kept.
    """

    on_message: Callable[[str | bytes], None] | None = None
    _direct = True
    """Whether complete text/binary frames still go to ``on_message`` (see process_event)."""
    _pending: bytearray | None = None
    """Bytes of a frame not complete yet, while ``data_received`` splits frames itself."""

    def attach(self, handler: Callable[[str | bytes], None]) -> None:
        """Hand every message from now on to ``handler``, taking the short path if possible."""
        self.on_message = handler
        if self._direct and _parser_at_frame_start(self):
            self._pending = bytearray()

    def detach(self) -> None:
        """Stop handing messages to the handler; what is buffered goes to the library."""
        self.on_message = None
        self._leave_fast_path(0)

    def write_text(self, payload: bytes) -> bool:
        """Write one text frame now, without awaiting; False once the socket is closing."""
        if self.protocol.state is not State.OPEN or self.transport.is_closing():
            return False
        if self.protocol.writes:  # the library's own frames first (none are ever left)
            self.send_data()
        self.transport.write(client_text_frame(payload))
        return True

    # -- receiving -------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Split whole data frames from the server here; anything else to the library."""
        buf = self._pending
        if buf is None:
            super().data_received(data)
            return
        buf += data
        pos, size = 0, len(buf)
        while True:
            start, end = _scan(buf, pos, size)
            if start == _MORE:
                del buf[:pos]
                return
            handler = self.on_message
            if start == _REFUSED or handler is None or self.protocol.state is not State.OPEN:
                self._leave_fast_path(pos)
                return
            payload = bytes(buf[start:end])
            message: str | bytes = payload
            if buf[pos] == _FIN_TEXT:
                try:
                    message = payload.decode()
                except UnicodeDecodeError:
                    self._leave_fast_path(pos)  # the library closes with 1007
                    return
            pos = end
            handler(message)

    def _leave_fast_path(self, pos: int) -> None:
        """Hand the buffered bytes from ``pos`` (a frame's start) to the library, for good."""
        buf = self._pending
        self._pending = None
        self._direct = False
        if buf is not None and len(buf) > pos:
            super().data_received(bytes(buf[pos:]))

    def eof_received(self) -> None:
        """The end of the stream: a partial frame buffered here goes to the library first."""
        self._leave_fast_path(0)
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection died: a partial frame buffered here goes to the library first."""
        self._leave_fast_path(0)
        super().connection_lost(exc)

    def process_event(self, event: Event) -> None:
        """Whole text/binary frames parsed by the library, until the first it must keep."""
        handler = self.on_message
        if (
            self._direct
            and self.response is not None
            and isinstance(event, Frame)
            and event.opcode in (Opcode.TEXT, Opcode.BINARY)
        ):
            # A frame that came with the handshake, before the driver attached its handler,
            # is queued: from then on everything is, so it is read first.
            if handler is not None and event.fin:
                if event.opcode is Opcode.BINARY:
                    handler(bytes(event.data))
                    return
                try:
                    text = bytes(event.data).decode()
                except UnicodeDecodeError:
                    pass
                else:
                    handler(text)
                    return
            self._direct = False
        super().process_event(event)
