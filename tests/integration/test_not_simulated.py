"""A Voice operation Bandwidth documents but the fake does not model answers "not simulated".

The answer names the operation (its ``operationId`` in docs/specs/bandwidth.yml) and is a
violation, so a bot that relies on it cannot pass a test quietly; a path Bandwidth does
not document at all stays an ``unrouted-request``.
"""

from __future__ import annotations

import httpx
import pytest

from simulator.rest.unsimulated import UNSIMULATED_OPERATIONS
from tests.conftest import ThreadedFake
from tests.integration.test_voice_api import bearer, token_for


def test_an_unmodelled_operation_is_named_and_fails_the_test(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """GET …/conferences answers 501 not-simulated naming listConferences, as a violation."""
    token = token_for(api_client, fake_api)
    account = fake_api.fake.default_account.account_id
    r = api_client.get(f"/api/v2/accounts/{account}/conferences", headers=bearer(token))
    assert r.status_code == 501
    body = r.json()
    assert body["type"] == "not-simulated"
    assert "listConferences" in body["description"]
    assert "GET /accounts/{accountId}/conferences" in body["description"]
    journal = fake_api.fake.journal
    assert [v.kind for v in journal.violations] == ["not-simulated"]
    with pytest.raises(AssertionError, match="does not simulate Bandwidth's listConferences"):
        journal.raise_violations()


@pytest.mark.parametrize(("method", "template", "operation"), UNSIMULATED_OPERATIONS)
def test_every_listed_operation_is_answered_not_simulated(
    api_client: httpx.Client, fake_api: ThreadedFake, method: str, template: str, operation: str
) -> None:
    """Each operation of the not-simulated table is answered 501 naming that operation."""
    path = "/api/v2" + template.replace("{", "x-").replace("}", "")
    r = api_client.request(method, path)
    assert r.status_code == 501, r.text
    assert f"Bandwidth's {operation} operation" in r.json()["description"]


def test_an_undocumented_path_is_still_unrouted(
    api_client: httpx.Client, fake_api: ThreadedFake
) -> None:
    """A path no operation documents (a misspelt collection) stays unrouted-request, 404."""
    account = fake_api.fake.default_account.account_id
    r = api_client.get(f"/api/v2/accounts/{account}/conference")
    assert r.status_code == 404
    assert [v.kind for v in fake_api.fake.journal.violations] == ["unrouted-request"]
