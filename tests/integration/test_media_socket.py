"""The media connection's short paths give what the websockets library gives, in order.

A real websockets server on loopback does the handshake; the server's frames are then fed
to the client connection's ``data_received`` as the network would deliver them, cut at
chosen places, so every case is exact whatever TCP does.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.streams import StreamReader

from simulator.call.media_socket import MAX_FRAME_BYTES, MediaConnection, client_text_frame


def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    """One unmasked frame as a server sends it."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


@pytest.fixture
async def media_connection() -> AsyncIterator[MediaConnection]:
    """A MediaConnection, open, to a loopback server that sends nothing on its own."""

    async def quiet(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with serve(quiet, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}/", create_connection=MediaConnection)
        assert isinstance(ws, MediaConnection)
        try:
            yield ws
        finally:
            ws.transport.abort()


def test_a_written_frame_is_what_the_library_parses_back() -> None:
    """write_text's frame is a final, masked text frame the library reads back exactly."""
    for n in (0, 1, 125, 126, 300, 65535, 65536, 70000):
        payload = os.urandom(n)
        reader = StreamReader()
        reader.feed_data(client_text_frame(payload))
        parser = Frame.parse(reader.read_exact, mask=True)
        with pytest.raises(StopIteration) as done:
            next(parser)
        frame = done.value.value
        assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload), n


async def test_whole_frames_cut_anywhere_reach_the_handler_in_order(
    media_connection: MediaConnection,
) -> None:
    """Text and binary frames of every length form, fed a byte at a time, arrive whole."""
    ws = media_connection
    got: list[str | bytes] = []
    ws.attach(got.append)
    sent: list[str | bytes] = ["short", "é" * 100, "x" * 70_000, b"\x00\x01binary"]
    data = b"".join(
        server_frame(m, 2) if isinstance(m, bytes) else server_frame(m.encode()) for m in sent
    )
    for i in range(len(data)):
        ws.data_received(data[i : i + 1])
    assert got == sent
    assert ws._pending == bytearray()  # still on the short path, nothing left over


async def test_a_control_frame_hands_it_and_the_rest_to_the_library(
    media_connection: MediaConnection,
) -> None:
    """After a ping the library answers it, and later text comes through recv, then close."""
    ws = media_connection
    got: list[str | bytes] = []
    ws.attach(got.append)
    ws.data_received(
        server_frame(b"first")
        + server_frame(b"are you there", opcode=9)
        + server_frame(b"second")[:3]
    )
    assert got == ["first"]
    assert ws._pending is None  # the library has everything from the ping on
    ws.data_received(server_frame(b"second")[3:] + server_frame(struct.pack("!H", 1000), 8))
    assert await ws.recv() == "second"
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000


async def test_text_that_is_not_utf8_is_closed_by_the_library_with_1007(
    media_connection: MediaConnection,
) -> None:
    """Invalid UTF-8 is not passed on: the library, reading it, fails the connection with 1007."""
    ws = media_connection
    got: list[str | bytes] = []
    ws.attach(got.append)
    ws.data_received(server_frame(b"fine") + server_frame(b"\xff\xfe bad"))
    assert got == ["fine"]
    with pytest.raises(ConnectionClosedError):
        await ws.recv()  # as the stream's receiving task reads it
    assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1007


async def test_a_fragment_goes_to_the_library_which_assembles_it(
    media_connection: MediaConnection,
) -> None:
    """A fragmented message is the library's: recv returns it whole."""
    ws = media_connection
    got: list[str | bytes] = []
    ws.attach(got.append)
    ws.data_received(server_frame(b"one, ", fin=False) + server_frame(b"two", opcode=0))
    assert got == []
    assert await ws.recv() == "one, two"


async def test_an_oversized_frame_is_refused_by_the_library_with_1009(
    media_connection: MediaConnection,
) -> None:
    """A frame over the size limit is the library's: it closes with 1009 (too big)."""
    ws = media_connection
    ws.attach(lambda message: None)
    head = struct.pack("!BBQ", 0x81, 127, MAX_FRAME_BYTES + 1)
    ws.data_received(head + b"x" * 100)
    assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1009


async def test_a_partial_frame_at_the_end_of_the_stream_is_the_library_s_error(
    media_connection: MediaConnection,
) -> None:
    """A frame cut short by EOF ends the connection as the library ends it (1006)."""
    ws = media_connection
    ws.attach(lambda message: None)
    ws.data_received(server_frame(b"cut short")[:4])
    ws.eof_received()
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.protocol.state is State.CLOSED
    assert ws.protocol.close_rcvd is None
