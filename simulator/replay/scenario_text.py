"""A recorded call turned into a scenario file: its caller replayed, what the bot did expected.

``bwsim replay ARCHIVE --write-scenario FILE`` writes it; the file is plain scenario YAML
(docs/scenarios.md) to keep beside the archive and edit: the call's numbers, path and
webhook fields from the recording (``call:``), a ``replay:`` caller step, and one
expectation per event the recording shows (the bot's ``clear``, its hang-up by the Voice
API, a transfer, who closed the stream, and no violation). Pure: returns the text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from simulator.archive.model import CallArchive
from simulator.replay.facts import CallFacts
from simulator.replay.plan import ReplayPlan

__all__ = ["scenario_text"]


def scenario_text(archive: CallArchive, plan: ReplayPlan, then: CallFacts, file: Path) -> str:
    """The scenario YAML that replays ``archive`` from ``file`` and expects what it did."""
    assert archive.path is not None
    where = os.path.relpath(archive.path.resolve(), file.resolve().parent)
    opts = plan.options
    call: dict[str, Any] = {"from": opts.from_, "to": opts.to, "webhook_path": opts.webhook_path}
    if opts.disconnect_path:
        call["disconnect_path"] = opts.disconnect_path
    if opts.initiate_overrides:
        call["body"] = dict(opts.initiate_overrides)
    if opts.metadata_overrides:
        call["start_metadata"] = dict(opts.metadata_overrides)
    call["max_call_s"] = round(opts.max_call_s)
    expect: list[Any] = []
    comments: list[str] = []
    if then.clears:
        expect.append({"clear": {"min_count": 1}})
    else:
        expect.append({"clear": {"absent": True}})
    if then.hangup is True and "Voice API" in then.hangup_how:
        expect.append({"hangup_request": {"status": 200}})
    elif then.hangup is False:
        # An attempt on a call the caller had already ended (404) is no hang-up.
        expect.append({"hangup_request": {"status": 200, "absent": True}})
    else:
        comments.append(f"hang-up: {then.hangup_how or 'by <Hangup/>'}: not expected here")
    if then.transfers:
        expect.append({"transfer_request": {}})
    else:
        expect.append({"transfer_request": {"absent": True}})
    if then.hangup is not False and then.closed_by in ("caller", "bot"):
        # Bandwidth ending the call and the bot closing its socket race after a hang-up
        # (None: the recording cannot rule one out).
        comments.append(
            f"stream closed first by {then.closed_by}: after the bot's hang-up either side "
            "may close first, so not expected here"
        )
    elif then.closed_by in ("caller", "bot"):
        by = "simulator" if then.closed_by == "caller" else "bot"
        expect.append({"ws_closed": {"by": by}})
    expect.append({"violation": {"absent": True}})
    scenario = {
        "name": f"replay of {archive.call_id or archive.path.name}",
        "description": f"The call recorded {archive.recorded_at}, replayed "
        f"({plan.timing} timing); the bot must do what it did then.",
        "call": call,
        "caller": [{"replay": {"archive": where, "timing": plan.timing}}],
        "expect": expect,
    }
    head = [
        f"# Written by bwsim replay from {archive.path} (recorded {archive.recorded_at}).",
        "# The caller is the recording's; the expectations are what the bot did then.",
        *(f"# {c}" for c in comments),
    ]
    body = yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False, allow_unicode=True)
    return "\n".join(head) + "\n" + body
