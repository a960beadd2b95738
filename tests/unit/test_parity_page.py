"""docs/parity.md is generated from bandwidth.yml and the code, and is current.

The page is regenerated in memory and compared with the file; the generator refuses a spec,
code and notes that disagree, so a Voice operation added to the spec, or one the fake
starts serving, cannot go unlisted.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from scripts import parity
from scripts.parity_notes import OPERATION_NOTES
from simulator.rest.routes import Route
from simulator.rest.unsimulated import UNSIMULATED_OPERATIONS
from simulator.rest.voice_api import classify


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The vendored bandwidth.yml, parsed once for the module."""
    return parity.load_spec()


def test_the_page_is_current() -> None:
    """docs/parity.md is exactly what the generator writes today."""
    expected = parity.render()
    current = parity.PAGE.read_text(encoding="utf-8") if parity.PAGE.is_file() else ""
    assert current == expected, f"docs/parity.md is stale: run `{parity.COMMAND}` and commit it"


def test_check_mode_reports_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--check exits 1 naming the command when the page differs, 0 once it is rewritten."""
    page = tmp_path / "parity.md"
    page.write_text("# an old page\n", encoding="utf-8")
    monkeypatch.setattr(parity, "PAGE", page)
    assert parity.main(["--check"]) == 1
    assert parity.main([]) == 0
    assert parity.main(["--check"]) == 0


def test_every_voice_operation_of_the_spec_is_listed(spec: dict[str, Any]) -> None:
    """Each operation on the Voice host appears once, the OAuth token endpoint too."""
    page = parity.render(spec)
    operations = parity.voice_operations(spec)
    assert {op.tag for op in operations} >= {"Calls", "Conferences", "Recordings"}
    for op in operations:
        assert page.count(f"| `{op.operation_id}` |") == 1, op.operation_id
    assert "`POST /api/v1/oauth2/token`" in page


def test_a_served_operation_is_read_from_the_fake_router(spec: dict[str, Any]) -> None:
    """The Calls operations the fake routes are served; a conference operation is not."""
    page = parity.render(spec)
    assert (
        "| `getCallState` | `GET /accounts/{accountId}/calls/{callId}` | Calls | **simulated**"
        in (page)
    )
    assert "| `listConferences` | `GET /accounts/{accountId}/conferences` | Conferences | not " in (
        page
    )


def test_a_route_the_fake_drops_is_refused(
    spec: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the fake's router stopped serving GET …/calls/{callId}, the notes would be refused."""
    real = classify

    def without_get_call(method: str, path: str) -> tuple[str, str | None, str | None]:
        route = real(method, path)
        return (Route.UNROUTED, None, None) if route[0] == Route.GET_CALL else route

    monkeypatch.setattr(parity, "classify", without_get_call)
    with pytest.raises(parity.ParityError, match="calls getCallState served, but the fake"):
        parity.render(spec)


def test_an_operation_neither_served_nor_listed_is_refused(spec: dict[str, Any]) -> None:
    """A new Voice operation in the spec must be served or listed as not simulated."""
    changed = copy.deepcopy(spec)
    server = [{"url": "https://voice.bandwidth.com/api/v2"}]
    changed["paths"]["/accounts/{accountId}/queues"] = {
        "get": {"operationId": "listQueues", "tags": ["Queues"], "servers": server}
    }
    with pytest.raises(parity.ParityError, match=r"listQueues .* neither served nor listed"):
        parity.render(changed)


def test_the_not_simulated_table_matches_the_spec(spec: dict[str, Any]) -> None:
    """simulator/rest/unsimulated.py lists exactly the Voice operations the fake does not serve."""
    unserved = {
        (op.method, op.path, op.operation_id)
        for op in parity.voice_operations(spec)
        if op.operation_id not in OPERATION_NOTES
    }
    assert unserved == set(UNSIMULATED_OPERATIONS)


def test_webhooks_sent_are_read_from_the_builders() -> None:
    """The eventTypes found in the code include the call webhooks and mediaStream ones."""
    sent = parity.sent_events()
    assert {"initiate", "disconnect", "transferComplete", "machineDetectionComplete"} <= sent
    assert {"mediaStreamStarted", "mediaStreamStopped", "mediaStreamRejected"} <= sent
    assert "conferenceCreated" not in sent


def test_run_verbs_are_the_planned_ones() -> None:
    """The verbs read from verbs._step are simulated; Conference falls to Unsimulated."""
    run = parity.run_verbs()
    assert {"StartStream", "Transfer", "Gather"} <= run
    assert "Conference" not in run


def test_a_setting_the_code_lacks_is_refused() -> None:
    """A docs/bandwidth.md §6 row naming a field FakeSettings does not have stops the generator."""
    facts = parity.FACTS.read_text(encoding="utf-8").replace(
        "`FakeSettings.token_type`", "`FakeSettings.token_kind`"
    )
    with pytest.raises(parity.ParityError, match=r"FakeSettings\.token_kind"):
        parity.settings_table(facts)
