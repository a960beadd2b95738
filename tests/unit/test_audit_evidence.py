"""Which journaled requests a check must not see, and how much of the bot was heard."""

from __future__ import annotations

import numpy as np

from simulator.audit.evidence import (
    audible_ms,
    first_audible_ms,
    request_evidence,
)
from simulator.audit.rules import about_trusted, foreign_requests
from simulator.rest.journal import JournalEntry


def entry(route: str, call_id: str | None, seq: int = 1, account_id: str = "1") -> JournalEntry:
    """A journaled hang-up request on ``route`` for ``call_id``."""
    return JournalEntry(
        seq=seq,
        at=100.0,
        method="POST",
        path=f"/api/v2/accounts/{account_id}/calls/{call_id}",
        query="",
        route=route,
        account_id=account_id,
        call_id=call_id,
        headers={"authorization": "Bearer ***", "content-type": "application/json"},
        body='{"state": "completed"}',
        status=200,
    )


def test_foreign_requests_are_decoys_unknown_calls_and_call_listings() -> None:
    """A decoy, an id no check made, or no id on a call route; never tokens or own calls."""
    entries = [
        entry("update_call", "own"),
        entry("update_call", "victim"),
        entry("update_bxml", "forged-id"),
        entry("list_calls", None),
        entry("token", None),
        entry("control", None),
        entry("update_call", "someone-elses"),
    ]
    known = {"own": "1", "victim": "1", "someone-elses": "1"}
    found = foreign_requests(entries, decoys={"victim"}, known=known)
    assert [(e.route, e.call_id) for e in found] == [
        ("update_call", "victim"),
        ("update_bxml", "forged-id"),
        ("list_calls", None),
    ]


def test_the_bots_own_call_under_a_forged_account_is_foreign() -> None:
    """Only the account and the call together are the trusted call: its id elsewhere is not."""
    known = {"own": "1", "victim": "2"}
    entries = [
        entry("update_bxml", "own", account_id="1"),
        entry("update_bxml", "own", account_id="2"),
        entry("update_call", "victim", account_id="1"),
    ]
    found = foreign_requests(entries, decoys=set(), known=known)
    assert [(e.account_id, e.call_id) for e in found] == [("2", "own"), ("1", "victim")]
    assert about_trusted("1", "own", known)
    assert not about_trusted("2", "own", known)
    assert not about_trusted("1", None, known)


def test_request_evidence_keeps_what_decided_and_no_secret() -> None:
    """Method, path, call, status, the auth scheme (redacted) and the time on the check's clock."""
    shown = request_evidence(entry("update_call", "own"), t0=99.5)
    assert shown["authorization"] == "Bearer ***"
    assert shown["at_ms"] == 500.0
    assert (shown["method"], shown["status"], shown["call_id"]) == ("POST", 200, "own")


def test_audible_ms_counts_loud_blocks_only() -> None:
    """Streamed silence and a whisper are not heard; a tone is, in 20 ms blocks."""
    track = np.zeros(8000 * 3, dtype=np.int16)
    t = np.arange(8000) / 8000
    track[8000:16000] = (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16)
    track[16000:24000] = (np.sin(2 * np.pi * 300 * t) * 100).astype(np.int16)
    assert audible_ms(track, 0, 3000) == 1000
    assert audible_ms(track, 0, 1000) == 0
    assert first_audible_ms(track) == 1000.0
    assert first_audible_ms(track, after_ms=2000) is None
