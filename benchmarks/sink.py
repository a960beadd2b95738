"""A minimal media-stream sink: the far end of the pacing and capacity benchmarks.

It runs in its own process (so its CPU is not the simulator's), speaks just enough
WebSocket (RFC 6455: the upgrade, client frames, close) to accept bwsim's media streams,
and timestamps every ``media`` frame the moment its bytes arrive (``time.monotonic()``:
the same CLOCK_MONOTONIC the simulator schedules on). It also plays like a bot that
talks half of the time: during "talk" periods it answers every ``--play-every``-th caller
frame with a ``playAudio`` of ``--play-ms`` of μ-law, so bwsim's receive and playout path
runs too. It is as light as it can be (a raw asyncio protocol, uvloop when installed,
pre-built reply frames) because its own lateness is part of what it measures.

A ``POST`` (a call webhook, as ``bwsim load --url http://127.0.0.1:PORT`` sends) is
answered with ``<StartStream>`` back to the sink and a long ``<Pause>``: the sink is then
a bot as cheap as a bot can be, the load target of ``benchmarks/load.py``.

Prints ``PORT <n>`` once listening. When its stdin closes it writes ``--out`` (an ``.npz``
with one array of arrival times per ``streamId``, plus its CPU seconds) and exits.

    python benchmarks/sink.py --out /tmp/arrivals.npz [--play-every 2 --play-ms 40]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import math
import resource
import sys
import time
from array import array
from typing import Any, ClassVar, cast

import numpy as np

from simulator.protocol.codec import ulaw_encode

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MEDIA_HEADS = (b'{"eventType": "media"', b'{"track": ')
"""How a media frame begins: ``eventType`` first (the documented wire) or last (observed)."""
WEBHOOK_BXML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Response><StartStream '
    b'destination="wss://sink/stream" mode="bidirectional" tracks="inbound"/>'
    b'<Pause duration="86400"/></Response>'
)
"""The answer to a call webhook: stream to this sink (bwsim takes any host to mean the bot)."""


def _unmask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def _server_frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def _play_frame(ms: int) -> bytes:
    t = np.arange(ms * 8) / 8000
    ulaw = ulaw_encode((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16))
    body = {
        "eventType": "playAudio",
        "media": {"contentType": "audio/pcmu", "payload": base64.b64encode(ulaw).decode()},
    }
    return _server_frame(json.dumps(body).encode())


class Sink(asyncio.Protocol):
    streams: ClassVar[dict[str, array[float]]] = {}
    play_frame = b""
    play_every = 0
    period_frames = 200
    talk_frames = 100

    def __init__(self) -> None:
        self.buf = bytearray()
        self.open = False
        self.arrivals = array("d")
        self.media = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is no asyncio.Transport subclass, but it has the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if self.buf.startswith(b"POST"):
                self._webhook(end)
                return
            self._upgrade(bytes(self.buf[:end]))
            del self.buf[: end + 4]
        self._frames(now)

    def _webhook(self, end: int) -> None:
        """Answer a call webhook (``bwsim load --url``) with a stream back to this sink.

        As the guide's bots do: ``<StartStream>`` then a long ``<Pause>``; a webhook without
        credentials is refused (401), any with them accepted (the sink is a load target).
        """
        length, signed = 0, False
        for line in bytes(self.buf[:end]).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            signed = signed or name == b"authorization"
        if len(self.buf) < end + 4 + length:
            return  # the rest of the body is on its way
        assert self.transport is not None
        if signed:
            head, body = b"200 OK\r\nContent-Type: application/xml", WEBHOOK_BXML
        else:  # bwsim probes with a webhook without credentials: refuse it, as bots must
            head, body = b'401 Unauthorized\r\nWWW-Authenticate: Basic realm="sink"', b""
        self.transport.write(
            b"HTTP/1.1 " + head + b"\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        self.transport.close()
        self.buf.clear()

    def _upgrade(self, request: bytes) -> None:
        key = b""
        for line in request.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.open = True

    def _frames(self, now: float) -> None:
        buf, pos, size = self.buf, 0, len(self.buf)
        transport = self.transport
        assert transport is not None
        while size - pos >= 6:
            opcode, n, i = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if n == 126:
                n, i = int.from_bytes(buf[i : i + 2], "big"), i + 2
            elif n == 127:
                n, i = int.from_bytes(buf[i : i + 8], "big"), i + 8
            if size < i + 4 + n:
                break
            mask = bytes(buf[i : i + 4])
            i += 4
            if opcode == 1:
                if _unmask(buf[i : i + 21], mask).startswith(MEDIA_HEADS):
                    self.arrivals.append(now)
                    k = self.media
                    self.media = k + 1
                    every = self.play_every
                    if every and k % every == 0 and k % self.period_frames < self.talk_frames:
                        transport.write(self.play_frame)
                else:
                    message = json.loads(_unmask(buf[i : i + n], mask))
                    if message.get("eventType") == "start":
                        sid = str(message["metadata"]["streamId"])
                        Sink.streams[sid] = self.arrivals
            elif opcode == 8:
                transport.write(b"\x88\x02\x03\xe8")
                transport.close()
            pos = i + n
        del buf[:pos]


async def main(args: argparse.Namespace) -> None:
    Sink.play_frame = _play_frame(args.play_ms)
    Sink.play_every = args.play_every
    Sink.period_frames = math.ceil((args.talk_s + args.quiet_s) * 50)
    Sink.talk_frames = math.ceil(args.talk_s * 50)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", 0, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    # Wait for stdin to close (the benchmark is done), without a thread.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    arrays = {f"s_{sid}": np.frombuffer(a, dtype=np.float64) for sid, a in Sink.streams.items()}
    # cast: savez's own keyword (allow_pickle) is not among these keys (all s_<id>).
    np.savez(args.out, cpu_s=np.array([cpu_s]), **cast("dict[str, Any]", arrays))
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--play-every", type=int, default=2)
    parser.add_argument("--play-ms", type=int, default=40)
    parser.add_argument("--talk-s", type=float, default=2.0)
    parser.add_argument("--quiet-s", type=float, default=2.0)
    parser.add_argument("--no-uvloop", action="store_true")
    ns = parser.parse_args()
    factory = None
    if not ns.no_uvloop:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(ns))
