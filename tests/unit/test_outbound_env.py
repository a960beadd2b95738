"""The ids a bot needs to dial out: given to the bots bwsim starts, adopted from bots by hand."""

from __future__ import annotations

import pytest

from simulator.runner.bot_env import DEFAULT_PHONE_NUMBER, BotCredentials
from simulator.runner.harness import Harness


def test_bots_get_the_fake_account_application_and_number() -> None:
    """BANDWIDTH_ACCOUNT_ID/APPLICATION_ID match the fake's account; the number is the bot's."""
    harness = Harness()
    account = harness.fake.default_account
    env = harness.credentials.environment(port=None)
    assert env["BANDWIDTH_ACCOUNT_ID"] == account.account_id
    assert env["BANDWIDTH_APPLICATION_ID"] == account.application_id
    assert env["BANDWIDTH_PHONE_NUMBER"] == DEFAULT_PHONE_NUMBER
    assert env["BANDWIDTH_CLIENT_ID"] == account.client_id


def test_a_bot_started_by_hand_keeps_its_account_and_application(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--url: the fake takes the account and application ids the bot already reads."""
    monkeypatch.setenv("BANDWIDTH_CLIENT_ID", "hand-client")
    monkeypatch.setenv("BANDWIDTH_CLIENT_SECRET", "hand-secret")
    monkeypatch.setenv("BANDWIDTH_ACCOUNT_ID", "9900001")
    monkeypatch.setenv("BANDWIDTH_APPLICATION_ID", "app-by-hand")
    credentials = BotCredentials.from_environment()
    assert credentials is not None
    harness = Harness(credentials=credentials)
    account = harness.fake.default_account
    assert (account.account_id, account.application_id) == ("9900001", "app-by-hand")
    assert harness.fake.registry.accounts["9900001"] is account
    assert harness.credentials.environment(port=None)["BANDWIDTH_ACCOUNT_ID"] == "9900001"
