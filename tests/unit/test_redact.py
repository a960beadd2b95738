"""Secrets are masked where records are made; what is left keeps its shape."""

from __future__ import annotations

import json

import pytest

from simulator.protocol.bxml import parse_bxml
from simulator.protocol.redact import redact, redact_text
from simulator.rest.journal import Journal

TOKEN = "bwsim-at-A6vuaFuIXQSLfgqX6AOvqLDX"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"Authorization: Bearer {TOKEN}", TOKEN),
        ("Basic dXNlcjpodW50ZXIyMjI=", "dXNlcjpodW50ZXIyMjI="),
        ("grant_type=client_credentials&client_secret=s3cr3t-value", "s3cr3t-value"),
        (f'{{"access_token": "{TOKEN}", "token_type": "Bearer"}}', TOKEN),
        ('{"redirectUrl": "https://x", "password": "hunter2"}', "hunter2"),
        ('<StartStream destination="wss://b" destinationPassword="pw-1"/>', "pw-1"),
        ("<PhoneNumber username='u' password='pw-2'>+1</PhoneNumber>", "pw-2"),
        ('{"client_secret": "cut-off-at-the-lim', "cut-off-at-the-lim"),
        ('<SipUri password="cut-off-at-the-lim', "cut-off-at-the-lim"),
    ],
    ids=["bearer", "basic", "form", "token-json", "json", "stream", "xml-1q", "cut", "cut-xml"],
)
def test_every_kind_of_secret_is_masked(text: str, secret: str) -> None:
    """Tokens, Basic credentials, client secrets and passwords read *** in a record."""
    masked = redact_text(text)
    assert secret not in masked
    assert "***" in masked


def test_what_is_masked_keeps_its_shape() -> None:
    """Masked BXML still parses and masked JSON still loads; prose about tokens is untouched."""
    bxml = (
        '<Bxml><Transfer><PhoneNumber username="u" password="p-1">+19195550123'
        "</PhoneNumber></Transfer></Bxml>"
    )
    parse_bxml(redact_text(bxml), context="update", strict_root=True)
    assert json.loads(redact_text('{"password": "a\\"b", "n": 1}')) == {"password": "***", "n": 1}
    prose = 'the bot sent a Bearer token; WWW-Authenticate: Basic realm="bwsim"'
    assert redact_text(prose) == prose


def test_structures_lose_secret_values_by_key() -> None:
    """A key that names a secret keeps its name; its value is masked, the scheme kept."""
    record = {"authorization": f"Bearer {TOKEN}", "client_secret": "x", "n": [{"password": 1}]}
    assert redact(record) == {
        "authorization": "Bearer ***",
        "client_secret": "***",
        "n": [{"password": "***"}],
    }


def test_the_journal_masks_bodies_answers_and_violations() -> None:
    """A form-posted client secret, the token in the answer and a violation's evidence: ***."""
    journal = Journal()
    entry = journal.start(
        method="POST",
        path="/api/v1/oauth2/token",
        query="",
        route="token",
        account_id=None,
        call_id=None,
        headers=[("Authorization", "Basic dXNlcjpwYXNzd29yZA==")],
        body=b"grant_type=client_credentials&client_id=c&client_secret=the-secret",
    )
    entry.response_body = json.dumps({"access_token": TOKEN})
    journal.answered(entry)
    v = journal.violation("x", f"sent Bearer {TOKEN}", body="password=hunter2")
    shown = json.dumps([entry.to_dict(), v.to_dict()])
    for secret in ("the-secret", TOKEN, "dXNlcjpwYXNzd29yZA==", "hunter2"):
        assert secret not in shown
    assert "client_id=c" in entry.body  # what is not secret stays
