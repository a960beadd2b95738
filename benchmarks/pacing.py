"""How closely bwsim's media frames follow the 20 ms grid, measured, not asserted.

Streams for ``--seconds`` (default 30) to a loopback WebSocket server that only reads,
and prints, from the sender's clock, the deviation of each frame's send time from its
slot on the absolute schedule (p50, p99, max) and the deviation of the last frame
(drift: an absolute schedule keeps it at the size of one frame's jitter, however long
the stream). It also prints the inter-arrival times the server saw.

    python benchmarks/pacing.py --seconds 30 [--streams 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from websockets.asyncio.server import ServerConnection, serve

from simulator.media import CallerSource, StreamConfig
from simulator.recording import CallClock, CallRecorder
from simulator.stream import StreamDriver


async def main(seconds: float, streams: int) -> None:
    arrivals: list[list[float]] = []

    async def sink(ws: ServerConnection) -> None:
        mine: list[float] = []
        arrivals.append(mine)
        async for _ in ws:
            mine.append(time.monotonic())

    async with serve(sink, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        drivers = []
        for n in range(streams):
            config = StreamConfig("9900000", f"c-{n}", f"s-{n}", "bench")
            drivers.append(
                StreamDriver(
                    config=config,
                    destination="wss://bench",
                    url=f"ws://127.0.0.1:{port}/",
                    headers={},
                    caller=CallerSource(),
                    recorder=CallRecorder(CallClock()),
                    on_violation=lambda v: None,
                )
            )
        tasks = [asyncio.create_task(d.run()) for d in drivers]
        await asyncio.sleep(seconds)
        for d in drivers:
            d.stop()
        outcomes = await asyncio.gather(*tasks)

    print(f"pacing over {seconds:g} s, {streams} stream(s) (sender clock, ms from the slot)")
    for n, outcome in enumerate(outcomes):
        p = outcome.pacing()
        gaps = [b - a for a, b in zip(arrivals[n][1:-1], arrivals[n][2:-1], strict=False)]
        gap_ms = sorted(g * 1000 for g in gaps)
        print(
            f"  stream {n}: frames {int(p['frames'])}  p50 {p['p50_ms']:.3f}  "
            f"p99 {p['p99_ms']:.3f}  max {p['max_ms']:.3f}  drift(last frame) "
            f"{p['drift_ms']:.3f}  | arrivals: median gap {statistics.median(gap_ms):.3f} "
            f"p1 {gap_ms[len(gap_ms) // 100]:.3f} p99 {gap_ms[len(gap_ms) * 99 // 100]:.3f}"
        )
        expected = seconds * 1000 / 20
        print(f"            frames expected ≈ {expected:.0f}; sent {int(p['frames'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--streams", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.streams))
