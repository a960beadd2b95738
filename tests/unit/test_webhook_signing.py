"""bwsim's webhook-signing extension: the scheme, each mode and algorithm, and where it is set.

The extension is opt-in and not Bandwidth's (docs/bandwidth.md §2.8): without it no
signature header goes out and no field mentions one.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.call.options import CallOptions
from simulator.call.webhook_sender import send_webhook
from simulator.cli.main import main
from simulator.cli.signing_options import signing_from_args
from simulator.errors import ConfigError, ScenarioError
from simulator.judge.scenario import parse_scenarios
from simulator.judge.scenario_model import Scenario
from simulator.protocol.webhook_auth import EXTENSION_SIGNATURE_HEADER, WebhookAuth
from simulator.protocol.webhook_signing import (
    DEFAULT_TIMESTAMP_HEADER,
    SIGNING_ALGORITHMS,
    STALE_AGE_S,
    Signing,
    signature,
)
from simulator.runner.scenario_call import call_options

SECRET = "a-shared-secret-of-32-characters"
BODY = b'{"eventType":"initiate","callId":"c-1"}'
NOW = 1_790_000_000.7


def hmac_hex(key: str, data: bytes, algorithm: str = "sha256") -> str:
    """The expected signature, computed independently of bwsim."""
    return hmac.new(key.encode(), data, getattr(hashlib, algorithm)).hexdigest()


# -- the scheme and the modes -----------------------------------------------------------


def test_default_is_hmac_sha256_hex_of_the_body_in_the_tfv_header() -> None:
    """Signing(secret) adds only x-bandwidth-signature-hmac-sha256: the body's HMAC-SHA256."""
    headers = Signing(SECRET).headers(BODY, NOW)
    assert headers == {EXTENSION_SIGNATURE_HEADER: hmac_hex(SECRET, BODY)}


@pytest.mark.parametrize("algorithm", SIGNING_ALGORITHMS)
def test_each_algorithm_is_hashlibs_hmac(algorithm: str) -> None:
    """sha256, sha1 and sha512 each sign with that hash, in the configured header."""
    signing = Signing(SECRET, header="X-Sig", algorithm=algorithm)  # type: ignore[arg-type]
    assert signing.headers(BODY, NOW) == {"x-sig": hmac_hex(SECRET, BODY, algorithm)}


def test_the_timestamped_scheme_signs_timestamp_dot_body() -> None:
    """With timestamp_header the Unix seconds go in it and the HMAC covers f'{ts}.' + body."""
    signing = Signing(SECRET, timestamp_header="x-ts")
    headers = signing.headers(BODY, NOW)
    stamp = str(int(NOW))
    assert headers["x-ts"] == stamp
    assert headers[EXTENSION_SIGNATURE_HEADER] == hmac_hex(SECRET, f"{stamp}.".encode() + BODY)
    assert signature(SECRET, BODY, timestamp=int(stamp)) == headers[EXTENSION_SIGNATURE_HEADER]


def test_wrong_mode_signs_with_another_key() -> None:
    """wrong: a well-formed signature that does not verify with the secret."""
    sent = Signing(SECRET, mode="wrong").headers(BODY, NOW)[EXTENSION_SIGNATURE_HEADER]
    assert sent != hmac_hex(SECRET, BODY)
    assert len(sent) == len(hmac_hex(SECRET, BODY))


def test_missing_mode_sends_no_signature_but_the_timestamp() -> None:
    """missing: no signature header; a configured timestamp header still goes."""
    assert Signing(SECRET, mode="missing").headers(BODY, NOW) == {}
    assert Signing(SECRET, mode="missing", timestamp_header="x-ts").headers(BODY, NOW) == {
        "x-ts": str(int(NOW))
    }


def test_stale_mode_signs_correctly_over_an_old_timestamp() -> None:
    """stale: a valid signature over a timestamp STALE_AGE_S old, in the default header."""
    signing = Signing(SECRET, mode="stale")
    assert signing.timestamp_header == DEFAULT_TIMESTAMP_HEADER
    headers = signing.headers(BODY, NOW)
    stamp = int(headers[DEFAULT_TIMESTAMP_HEADER])
    assert stamp == int(NOW) - STALE_AGE_S
    assert headers[EXTENSION_SIGNATURE_HEADER] == hmac_hex(SECRET, f"{stamp}.".encode() + BODY)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"secret": "short"}, "16-64 printable ASCII"),
        ({"secret": SECRET, "algorithm": "md5"}, "signing algorithm 'md5' is unknown"),
        ({"secret": SECRET, "mode": "late"}, "signing mode 'late' is unknown"),
        ({"secret": SECRET, "header": "x sig"}, "signing header 'x sig'"),
        ({"secret": SECRET, "timestamp_header": "x:t"}, "signing timestamp_header 'x:t'"),
        ({"secret": SECRET, "header": "X-T", "timestamp_header": "x-t"}, "must differ"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs: dict[str, Any], named: str) -> None:
    """Each bad setting is a ConfigError that names it."""
    with pytest.raises(ConfigError, match=named):
        Signing(**kwargs)


def test_the_secret_is_never_in_the_repr_or_description() -> None:
    """The repr and describe() leave the secret out (they reach logs and timelines)."""
    signing = Signing(SECRET, mode="stale")
    assert SECRET not in repr(signing)
    assert SECRET not in signing.describe()
    assert signing.describe().startswith("stale signature in x-bandwidth-signature-hmac-sha256")


# -- the sender -------------------------------------------------------------------------


def answering(status: int) -> tuple[list[httpx.Request], httpx.AsyncClient]:
    """A client whose every request is recorded and answered ``status`` with BXML."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            status, content=b"<Response/>", headers={"content-type": "application/xml"}
        )

    return seen, httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_bot_accepting_a_bad_signature_gets_a_warning() -> None:
    """A 200 to a wrong signature is a warning that says to check the signature."""
    _, client = answering(200)
    async with client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            {"eventType": "initiate"},
            auth=WebhookAuth(),
            signing=Signing(SECRET, mode="wrong"),
        )
    assert exchange.delivered
    assert exchange.warning is not None
    assert "accepted the 'initiate' webhook sent with a wrong signature" in exchange.warning


async def test_a_refused_bad_signature_is_said_in_signing_terms() -> None:
    """A 403 to a stale signature is what a checking bot should do, and says so."""
    _, client = answering(403)
    async with client:
        exchange = await send_webhook(
            client,
            "http://bot.test/",
            {"eventType": "initiate"},
            auth=WebhookAuth(),
            signing=Signing(SECRET, mode="stale"),
        )
    assert exchange.outcome == "rejected"
    assert exchange.error is not None
    assert "sent with a stale signature (what a bot that checks signatures" in exchange.error


async def test_signing_and_its_shortcut_together_are_refused() -> None:
    """send_webhook takes signing or signing_secret, not both."""
    _, client = answering(200)
    async with client:
        with pytest.raises(ConfigError, match="not both"):
            await send_webhook(
                client,
                "http://bot.test/",
                BODY,
                auth=WebhookAuth(),
                signing=Signing(SECRET),
                signing_secret=SECRET,
            )


async def test_an_unsigned_webhook_carries_and_reports_nothing_about_signatures() -> None:
    """Without signing no signature or timestamp header goes and no field names one."""
    seen, client = answering(200)
    async with client:
        exchange = await send_webhook(
            client, "http://bot.test/", {"eventType": "initiate"}, auth=WebhookAuth()
        )
    assert not [h for h in seen[0].headers if "signature" in h or "timestamp" in h]
    assert exchange.warning is None
    assert not exchange.extension_signed


# -- CallOptions, scenario files, the CLI ------------------------------------------------


def test_signing_secret_is_the_shortcut_for_a_good_sha256_signing() -> None:
    """CallOptions(signing_secret=s) signs as Signing(s); both at once, or a bad one, is refused."""
    assert CallOptions(signing_secret=SECRET).webhook_signing == Signing(SECRET)
    assert CallOptions().webhook_signing is None
    with pytest.raises(ConfigError, match="not both"):
        CallOptions(signing=Signing(SECRET), signing_secret=SECRET)
    with pytest.raises(ConfigError, match="16-64 printable ASCII"):
        CallOptions(signing_secret="short")


def scenario(signing: str) -> Scenario:
    """One scenario whose call section has ``signing`` (a YAML flow mapping)."""
    text = (
        f"scenarios:\n  - name: s\n    call: {{signing: {signing}}}\n"
        "    expect:\n      - webhook_response: {status: 200}\n"
    )
    [s] = parse_scenarios(text, Path("signed.yaml"))
    return s


def test_call_signing_reaches_the_call_options() -> None:
    """Every key of call.signing becomes the Signing the call is placed with."""
    s = scenario(
        f'{{secret: "{SECRET}", header: x-sig, algorithm: sha1, mode: stale, '
        "timestamp_header: x-ts}"
    )
    want = Signing(SECRET, "x-sig", "sha1", "stale", "x-ts")
    assert s.call.signing == want
    assert call_options(s, {}).webhook_signing == want


def test_call_signing_secret_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """secret_env names a variable of bwsim's environment that holds the secret."""
    monkeypatch.setenv("BOT_SIGNING_SECRET", SECRET)
    assert scenario("{secret_env: BOT_SIGNING_SECRET}").call.signing == Signing(SECRET)


@pytest.mark.parametrize(
    ("signing", "named"),
    [
        ("yes", "call.signing must be a mapping"),
        ("{header: x-sig}", "call.signing needs secret"),
        (f'{{secret: "{SECRET}", secret_env: X}}', "call.signing needs secret"),
        ("{secret: 12}", "call.signing.secret must be a string"),
        ("{secret: short}", "call.signing: signing_secret must be 16-64"),
        ("{secret_env: BWSIM_TEST_UNSET_VAR}", "BWSIM_TEST_UNSET_VAR is not set"),
        (f'{{secret: "{SECRET}", algorithm: md5}}', "call.signing.algorithm must be one of"),
        (f'{{secret: "{SECRET}", mode: late}}', "call.signing.mode must be one of"),
        (f'{{secret: "{SECRET}", header: 3}}', "call.signing.header must be a header name"),
        (f'{{secret: "{SECRET}", heder: x}}', "did you mean 'header'"),
    ],
)
def test_a_bad_call_signing_is_named_with_its_line(signing: str, named: str) -> None:
    """A bad call.signing names the field, the file and the line."""
    with pytest.raises(ScenarioError) as info:
        scenario(signing)
    assert named in str(info.value)
    assert "signed.yaml:3" in str(info.value)


def cli_args(**given: str | None) -> argparse.Namespace:
    """The --signing-* options of bwsim call, unset unless ``given``."""
    keys = ("secret", "header", "algorithm", "mode", "timestamp_header")
    return argparse.Namespace(**{f"signing_{k}": given.get(k) for k in keys})


def test_cli_signing_options_build_the_signing() -> None:
    """--signing-secret turns signing on; the other options set its parts."""
    assert signing_from_args(cli_args()) is None
    args = cli_args(secret=SECRET, header="x-sig", algorithm="sha512", mode="wrong")
    assert signing_from_args(args) == Signing(SECRET, "x-sig", "sha512", "wrong")


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"mode": "wrong"}, "--signing-mode needs --signing-secret"),
        ({"secret": "short"}, "--signing-secret: signing_secret must be 16-64"),
        ({"secret": SECRET, "header": "a b"}, "--signing-header: "),
        ({"secret": SECRET, "timestamp_header": "a b"}, "--signing-timestamp-header: "),
    ],
)
def test_bad_cli_signing_options_name_the_option(given: dict[str, str], named: str) -> None:
    """A bad --signing-* option is a ConfigError (exit 2) naming the option."""
    with pytest.raises(ConfigError, match=named):
        signing_from_args(cli_args(**given))


def test_bwsim_call_refuses_bad_signing_options_with_exit_2_before_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad --signing-* is exit 2 naming the option, before the audio is read or a bot starts."""
    argv = ["call", "--app", "no_such_module:app", "--audio", "no-such.wav"]
    with pytest.raises(SystemExit) as info:  # argparse's usage error
        main([*argv, "--signing-secret", SECRET, "--signing-mode", "late"])
    assert info.value.code == 2
    assert "--signing-mode: invalid choice: 'late'" in capsys.readouterr().err
    assert main([*argv, "--signing-algorithm", "sha1"]) == 2
    assert "--signing-algorithm needs --signing-secret" in capsys.readouterr().err
