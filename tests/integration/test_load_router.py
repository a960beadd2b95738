"""The Voice API router of ``bwsim load --processes``: a call's requests reach its worker."""

from __future__ import annotations

import httpx

from simulator.rest.fake import FakeBandwidth, IssuedToken
from simulator.rest.voice_api import VoiceApiApp
from simulator.runner.load_workers import CallRouter, worker_call_ids
from simulator.runner.servers import serve


def _worker_fake(parent: FakeBandwidth, number: int, token: str) -> FakeBandwidth:
    """A worker's fake as ``bwsim load`` makes it: the parent's account, its own call ids."""
    fake = FakeBandwidth()
    account, theirs = fake.default_account, parent.default_account
    fake.registry.accounts.pop(account.account_id)
    account.account_id, account.client_id = theirs.account_id, theirs.client_id
    account.client_secret = theirs.client_secret
    fake.registry.accounts[account.account_id] = account
    fake.registry.new_call_id = worker_call_ids(number)
    fake.tokens[token] = IssuedToken(token, account.client_id, account.account_id, float("inf"))
    return fake


async def test_requests_naming_a_call_go_to_the_worker_that_owns_it() -> None:
    """A hang-up with the parent's token ends the call in its worker; others stay local."""
    parent = FakeBandwidth()
    router = CallRouter("worker-token-for-the-test")
    workers = [_worker_fake(parent, n, router.worker_token) for n in (1, 2)]
    account = parent.default_account
    calls = [w.registry.create_call(account.account_id) for w in workers]
    for worker, call in zip(workers, calls, strict=True):
        worker.registry.answer(call.call_id)
    async with (
        serve(router.wrap(VoiceApiApp(parent))) as front,
        serve(VoiceApiApp(workers[0])) as one,
        serve(VoiceApiApp(workers[1])) as two,
        httpx.AsyncClient(base_url=front.base_url) as client,
    ):
        router.workers.update({1: one.base_url, 2: two.base_url})
        try:
            got = await client.post(
                "/api/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=(account.client_id, account.client_secret),
            )
            assert got.status_code == 200, got.text
            bearer = {"authorization": f"Bearer {got.json()['access_token']}"}
            base = f"/api/v2/accounts/{account.account_id}/calls"
            hangup = await client.post(
                f"{base}/{calls[1].call_id}", json={"state": "completed"}, headers=bearer
            )
            assert hangup.status_code == 200, hangup.text
            assert not calls[1].active  # worker 2's call ended, by worker 2's fake
            assert calls[0].active  # worker 1's call untouched
            assert not any(e.path.endswith(calls[1].call_id) for e in parent.journal.entries)
            # A call nobody owns is the parent's to answer (and to journal).
            stray = await client.get(f"{base}/c-00000000-{calls[0].call_id[11:]}", headers=bearer)
            assert stray.status_code == 404, stray.text
            assert any(e.path.endswith(calls[0].call_id[11:]) for e in parent.journal.entries)
            # A token the parent never issued is forwarded as it came: the worker refuses it.
            forged = {"authorization": "Bearer not-a-token"}
            refused = await client.get(f"{base}/{calls[0].call_id}", headers=forged)
            assert refused.status_code == 401, refused.text
        finally:
            await router.aclose()


async def test_the_control_api_and_a_gone_worker_follow_the_call_too() -> None:
    """Caller lines come from the owner's fake; a worker that is gone gets the router's 502."""
    parent = FakeBandwidth()
    router = CallRouter("worker-token-for-the-test")
    worker = _worker_fake(parent, 1, router.worker_token)
    call = worker.registry.create_call(parent.default_account.account_id)
    worker.caller_lines[call.call_id] = ["hello from worker 1"]
    apps = [VoiceApiApp(parent), VoiceApiApp(worker)]
    apps[1].control_token = apps[0].control_token  # one run, one control token
    control = {"authorization": f"Bearer {apps[0].control_token}"}
    async with (
        serve(router.wrap(apps[0])) as front,
        serve(apps[1]) as one,
        httpx.AsyncClient(base_url=front.base_url) as client,
    ):
        router.workers[1] = one.base_url
        try:
            lines = await client.get(f"/_bwsim/calls/{call.call_id}/caller-lines", headers=control)
            assert lines.status_code == 200, lines.text
            assert lines.json() == {"lines": ["hello from worker 1"]}
            # Worker 2's fake was here and is gone (its port closed): the router says so.
            async with serve(VoiceApiApp(FakeBandwidth())) as gone:
                router.workers[2] = gone.base_url
            lost = f"/_bwsim/calls/{worker_call_ids(2)()}/caller-lines"
            reply = await client.get(lost, headers=control)
            assert reply.status_code == 502, reply.text
            assert reply.json()["type"] == "bwsim-router"
            assert (
                f"worker 2 ({gone.base_url}), which owns this call" in reply.json()["description"]
            )
        finally:
            await router.aclose()
