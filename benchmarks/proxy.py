"""The capture proxy's added latency per frame: frames through ``bwsim record`` vs direct.

Measured, never asserted. A sink bot (this script with ``--sink``: Starlette on uvicorn,
the stack a Pipecat bot runs on, in its own process) answers the ``initiate`` webhook with
a ``<StartStream>`` to itself and, on the socket, answers every other caller frame with a
``playAudio`` at once. ``bwsim record`` runs as users run it (the CLI, in its own
process) in front of it. This process plays Bandwidth: it sends the webhook, opens the
stream it was told to, and sends 20 ms ``media`` frames on the absolute 20 ms grid.

Each frame carries its send time (``"t"``, ``time.monotonic()``: CLOCK_MONOTONIC, the
same in every process of the machine); the receiving end subtracts it from the arrival
time. Both directions are measured: caller → bot (``up``, at the sink) and bot → caller
(``down``, here). The same run is made direct to the sink and through the recorder; the
proxy's added latency is the difference of the two distributions' p50 and p99.

    python benchmarks/proxy.py                      # 1 stream, then 20, 30 s each
    python benchmarks/proxy.py --streams 1 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from _common import dist, emit, machine, note

FRAME_S = 0.020
PAYLOAD = base64.b64encode(bytes([0xFF]) * 160).decode()
PLAY = base64.b64encode(bytes([0xFF]) * 320).decode()
"""40 ms of μ-law silence: the sink's playAudio."""


# -- the sink bot (its own process) ------------------------------------------------------


def sink_app() -> Any:
    """A bot that answers initiate with a stream to itself and echoes playAudio at once."""
    from starlette.applications import Starlette  # noqa: PLC0415 - only in the sink
    from starlette.requests import Request  # noqa: PLC0415
    from starlette.responses import Response  # noqa: PLC0415
    from starlette.routing import Route, WebSocketRoute  # noqa: PLC0415
    from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: PLC0415

    async def webhook(request: Request) -> Response:
        await request.body()
        host = request.headers["host"]
        bxml = (
            f'<Response><StartStream name="b" destination="ws://{host}/ws"/>'
            '<Pause duration="600"/></Response>'
        )
        return Response(bxml, media_type="application/xml")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        up: list[float] = []
        try:
            while True:
                text = await websocket.receive_text()
                arrived = time.monotonic()
                message = json.loads(text)
                kind = message.get("eventType")
                if kind == "media":
                    up.append((arrived - message["t"]) * 1000)
                    if int(message["sequenceNumber"]) % 2 == 0:
                        play = {
                            "eventType": "playAudio",
                            "media": {"contentType": "audio/PCMU", "payload": PLAY},
                            "t": time.monotonic(),
                        }
                        await websocket.send_text(json.dumps(play))
                elif kind == "stop":
                    await websocket.send_text(json.dumps({"eventType": "results", "up": up}))
        except WebSocketDisconnect:
            return

    return Starlette(routes=[Route("/", webhook, methods=["POST"]), WebSocketRoute("/ws", ws)])


def run_sink() -> None:
    """Serve the sink on a free loopback port; print ``PORT n``; stop when stdin closes."""
    import socket  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(sink_app(), log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        await asyncio.to_thread(sys.stdin.read)
        server.should_exit = True
        await task

    asyncio.run(main())


# -- Bandwidth's side (this process) -------------------------------------------------------


async def one_stream(base: str, n: int, frames: int, start_at: float) -> dict[str, list[float]]:
    """One call: the webhook, the stream it names, ``frames`` media frames; both latencies."""
    body = json.dumps({"eventType": "initiate", "callId": f"c-bench-{n}-{time.time_ns()}"})
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(base + "/", content=body)
    match = re.search(r'destination="([^"]+)"', answer.text)
    assert match, answer.text
    down: list[float] = []
    async with websockets.connect(match[1].replace("&amp;", "&"), compression=None) as ws:
        await ws.send(json.dumps({"eventType": "start", "metadata": {"streamId": f"s-{n}"}}))

        async def receive() -> list[float]:
            async for text in ws:
                arrived = time.monotonic()
                message = json.loads(text)
                if message.get("eventType") == "playAudio":
                    down.append((arrived - message["t"]) * 1000)
                elif message.get("eventType") == "results":
                    return list(message["up"])
            return []

        reader = asyncio.create_task(receive())
        for k in range(frames):
            delay = start_at + k * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = {"eventType": "media", "sequenceNumber": str(k + 1), "payload": PAYLOAD}
            frame["t"] = time.monotonic()  # type: ignore[assignment]
            await ws.send(json.dumps(frame))
        await ws.send(json.dumps({"eventType": "stop"}))
        up = await asyncio.wait_for(reader, 30)
    return {"up": up, "down": down}


async def measure(base: str, streams: int, seconds: float) -> dict[str, np.ndarray]:
    """``streams`` calls at once to ``base``; every frame's latency, both ways (ms)."""
    frames = round(seconds / FRAME_S)
    start_at = time.monotonic() + 0.5
    results = await asyncio.gather(
        *(one_stream(base, n, frames, start_at + n * 0.001) for n in range(streams))
    )
    skip = 25  # the first half second: connections warming up
    return {
        side: np.concatenate([np.asarray(r[side][skip:]) for r in results])
        for side in ("up", "down")
    }


def _line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(pattern, line):
            return match
    raise RuntimeError(f"the process ended before printing {pattern!r}")


async def run(sink_url: str, record_url: str, streams_list: list[int], seconds: float) -> None:
    """Direct then proxied, for each stream count; one JSON line each, then a summary."""
    summary: dict[str, Any] = {"machine": machine(), "seconds": seconds, "runs": []}
    for streams in streams_list:
        row: dict[str, Any] = {"streams": streams}
        for name, base in (("direct", sink_url), ("proxied", record_url)):
            note(f"{streams} stream(s), {name}, {seconds:g} s …")
            got = await measure(base, streams, seconds)
            row[name] = {side: dist(got[side]) for side in ("up", "down")}
        row["added_ms"] = {
            side: {
                q: round(row["proxied"][side][q] - row["direct"][side][q], 3)
                for q in ("p50_ms", "p99_ms")
            }
            for side in ("up", "down")
        }
        emit(row)
        summary["runs"].append(row)
    emit({"summary": summary})


def _stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is None:
        return
    if proc.stdin is not None:  # the sink stops when its stdin closes
        with contextlib.suppress(OSError):
            proc.stdin.close()
    else:
        proc.send_signal(signal.SIGINT)  # bwsim record stops on Ctrl-C
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench(streams_list: list[int], seconds: float) -> None:
    """Start the sink and ``bwsim record`` in front of it, measure, stop both."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sink = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--sink"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    recorder: subprocess.Popen[str] | None = None
    with tempfile.TemporaryDirectory(prefix="bwsim-proxy-bench-") as tmp:
        try:
            port = int(_line(sink, r"PORT (\d+)")[1])
            sink_url = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "simulator.cli.main", "record", "--port", "0"]
            recorder = subprocess.Popen(
                [*command, "--bot", sink_url, "--archive", tmp],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            record_url = _line(recorder, r"listening on (http://\S+),")[1]
            asyncio.run(run(sink_url, record_url, streams_list, seconds))
        finally:
            _stop(recorder)
            _stop(sink)


def main() -> None:
    """Parse the options and run the benchmark (or the sink)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--streams", default="1,20", help="stream counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run")
    args = parser.parse_args()
    if args.sink:
        run_sink()
        return
    counts = [int(s) for s in args.streams.split(",") if s.strip()]
    bench(counts, args.seconds)


if __name__ == "__main__":
    main()
