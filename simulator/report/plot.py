"""The timeline picture of one call: caller and bot waveforms with the events marked.

One PNG per call (``timeline.png``): the caller's track on top, the bot's below, on the
call's clock (seconds from the webhook), with vertical marks for the moments a reader
looks for: the stream opening, ``clear``, hang-up and transfer requests, the socket
closing, and violations. Drawn with matplotlib's Agg backend: no display needed.

matplotlib is imported when the first picture is drawn, not with this module: it costs
a few hundred milliseconds, and ``import simulator`` (and the pytest plugin) should not
pay that when no picture is drawn.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from simulator.call.recorder import TimelineEvent
from simulator.protocol.codec import PHONE_RATE, Pcm

__all__ = ["MARKS", "plot_timeline"]

MARKS: dict[str, tuple[str, str]] = {
    "stream-accepted": ("#2b8a3e", "stream open"),
    "clear": ("#f08c00", "clear"),
    "hangup-request": ("#c92a2a", "hang-up request"),
    "transfer": ("#7048e8", "transfer"),
    "ws-closed": ("#212529", "socket closed"),
    "violation": ("#e03131", "violation"),
}
"""Timeline kinds drawn as vertical lines, with their colour and legend label."""


def _envelope(track: Pcm, seconds: float, width: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Peak envelope of ``track`` on ``width`` points over ``seconds`` (cheap to draw)."""
    total = max(1, round(seconds * PHONE_RATE))
    padded = np.zeros(total, dtype=np.float32)
    n = min(total, len(track))
    padded[:n] = np.abs(track[:n].astype(np.float32)) / 32768.0
    bins = min(width, total)
    edges = np.linspace(0, total, bins + 1).astype(int)
    peaks = np.array([padded[a:b].max() if b > a else 0.0 for a, b in itertools.pairwise(edges)])
    return edges[:-1] / PHONE_RATE, peaks


def plot_timeline(
    path: Path,
    *,
    caller: Pcm,
    bot: Pcm,
    events: Sequence[TimelineEvent],
    title: str,
    passed: bool | None = None,
) -> Path:
    """Draw the call and write it to ``path`` (PNG)."""
    import matplotlib as mpl  # noqa: PLC0415 (heavy: only when a picture is drawn)

    mpl.use("Agg")  # before pyplot: files only, never a window
    import matplotlib.pyplot as plt  # noqa: PLC0415

    end_ms = max([e.at_ms for e in events] + [len(caller) / 8, len(bot) / 8, 1000.0])
    seconds = end_ms / 1000 + 0.25
    fig, axes = plt.subplots(2, 1, figsize=(12, 4), sharex=True, dpi=100)
    try:
        for ax, track, label, colour in (
            (axes[0], caller, "caller", "#1c7ed6"),
            (axes[1], bot, "bot", "#0ca678"),
        ):
            t, peaks = _envelope(track, seconds)
            ax.fill_between(t, -peaks, peaks, color=colour, linewidth=0)
            ax.set_ylim(-1.05, 1.05)
            ax.set_yticks([])
            ax.set_ylabel(label, rotation=0, labelpad=24, va="center")
            ax.set_xlim(0, seconds)
            ax.grid(axis="x", alpha=0.3)
        drawn: set[str] = set()
        for event in events:
            mark = MARKS.get(event.kind)
            if mark is None:
                continue
            colour, label = mark
            for ax in axes:
                ax.axvline(
                    event.at_ms / 1000,
                    color=colour,
                    linewidth=1.2,
                    linestyle="--" if event.kind == "clear" else "-",
                    label=label if label not in drawn and ax is axes[0] else None,
                )
            drawn.add(label)
        axes[1].set_xlabel("seconds from the call webhook")
        verdict = "" if passed is None else ("  PASS" if passed else "  FAIL")
        axes[0].set_title(title + verdict, loc="left", fontsize=10)
        if drawn:
            axes[0].legend(loc="upper right", fontsize=7, ncol=len(drawn), framealpha=0.8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
