"""The kernel's floor: the CPU of one loopback TCP write of a media frame, with no Python around it.

Measured, never asserted. N client sockets write one 300-byte message each (a media
frame's size, JSON and WebSocket header included) every 20 ms to a reader in another
process that only reads, for ``--seconds``; the writer's system CPU over the writes
made is what the kernel charges for one frame sent, before any of bwsim's work. Two
schedules:

- ``burst``: every socket's write back to back, then a sleep to the next 20 ms: the
  reader is kept busy, so a write seldom has to wake it;
- ``spread``: the writes spread evenly over the 20 ms, as N paced streams' are: the
  reader goes back to sleep between them, and each write wakes it (on a virtual
  machine, a wake-up of another vCPU).

Compare with ``frame_cost.py`` and ``pacing.py``'s ``simulator_sys`` (per frame: cores
/ (streams x 50)): what is over this floor is bwsim's own work and its loop's.

    python benchmarks/send_floor.py [--sockets 200,800] [--seconds 5]
"""

from __future__ import annotations

import argparse
import resource
import selectors
import socket
import subprocess
import sys
import time

from _common import emit, machine

FRAME_BYTES = 300
PERIOD_S = 0.020


def reader() -> None:
    """The child: accept every connection and read until each closes; print the port first."""
    server = socket.create_server(("127.0.0.1", 0), backlog=4096)
    print(server.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(server, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is server:
                conn, _ = server.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(sock)
                sock.close()


def measure(n: int, seconds: float, schedule: str) -> dict[str, object]:
    """Write to ``n`` sockets every 20 ms for ``seconds``; the writer's CPU per write."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--reader"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for sock in socks:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        payload = b"x" * FRAME_BYTES
        gap = PERIOD_S / n if schedule == "spread" else 0.0
        periods = int(seconds / PERIOD_S)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.monotonic()
        for k in range(periods):
            slot = start + k * PERIOD_S
            for i, sock in enumerate(socks):
                if gap:
                    while time.monotonic() < slot + i * gap:  # spin: no sleep of our own
                        pass
                sock.send(payload)
            while time.monotonic() < slot + PERIOD_S:
                if not gap:
                    time.sleep(max(0.0, slot + PERIOD_S - time.monotonic()))
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        writes = periods * n
        for sock in socks:
            sock.close()
    finally:
        child.kill()
        child.wait()
    return {
        "benchmark": "send_floor",
        "schedule": schedule,
        "sockets": n,
        "writes": writes,
        "us_sys_per_write": round((cpu1.ru_stime - cpu0.ru_stime) / writes * 1e6, 2),
        "machine": machine(),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--reader"]:
        reader()
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sockets", type=lambda s: [int(x) for x in s.split(",")], default=[200, 800]
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for schedule in ("burst", "spread"):
        for n in args.sockets:
            emit(measure(n, args.seconds, schedule))
