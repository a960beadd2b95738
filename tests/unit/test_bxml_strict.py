"""BXML checked as Bandwidth documents it: attributes, nesting, values (docs/bandwidth.md §3.6)."""

from __future__ import annotations

import inspect
from typing import Any

import bandwidth.models.bxml.verbs as sdk_verbs
import httpx
import pytest

from simulator.protocol.bxml import BxmlError, parse_bxml
from simulator.protocol.bxml_rules import CHILDREN, NESTED_ATTRIBUTES, VERB_ATTRIBUTES
from simulator.rest.registry import CallPhase
from simulator.rest.respx_routes import FakeVoiceApi

STREAM = 'destination="wss://bot.example/ws"'


def refused(body: str) -> BxmlError:
    """The error parse_bxml raises for ``body`` under a ``<Response>`` root, one verb a line."""
    text = f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>\n{body}\n</Response>'
    with pytest.raises(BxmlError) as info:
        parse_bxml(text, context="webhook")
    return info.value


def accepted(body: str) -> None:
    """``body`` under a ``<Response>`` root parses."""
    parse_bxml(f"<Response>{body}</Response>", context="webhook")


def _sdk_models() -> dict[str, set[str]]:
    """Each SDK BXML element's tag and the attributes its model writes."""
    models: dict[str, set[str]] = {}
    for _, cls in inspect.getmembers(sdk_verbs, inspect.isclass):
        params = inspect.signature(cls).parameters.values()
        required = {p.name: "x" for p in params if p.default is inspect.Parameter.empty}
        element: Any = cls(**required)
        models[element._tag] = set(element._attributes or {})
    return models


def test_the_table_knows_every_attribute_of_the_sdk_models() -> None:
    """Every element and attribute the bandwidth-sdk BXML models write is in the table."""
    models = _sdk_models()
    assert {"StartStream", "StreamParam", "Transfer", "PhoneNumber", "Gather"} <= set(models)
    table = {**VERB_ATTRIBUTES, **NESTED_ATTRIBUTES}
    missing = {tag: attrs - table.get(tag, frozenset()) for tag, attrs in models.items()}
    assert {tag: attrs for tag, attrs in missing.items() if attrs} == {}
    nested = {child for children in CHILDREN.values() for child in children}
    assert set(models) <= set(VERB_ATTRIBUTES) | nested


def test_a_misspelt_attribute_names_the_line_and_the_right_spelling() -> None:
    """A misspelt destinationUserName is refused on its line, suggesting destinationUsername."""
    err = refused(f'  <StartStream {STREAM} destinationUserName="u" destinationPassword="p"/>')
    assert err.rule == "unknown-attribute"
    assert err.line == 3
    assert str(err).startswith(
        "line 3: <StartStream> has no attribute 'destinationUserName'; "
        "did you mean 'destinationUsername'?"
    )


def test_an_unknown_attribute_far_from_any_name_gets_no_suggestion() -> None:
    """An attribute no known name resembles is refused without a did-you-mean."""
    err = refused('<Pause duration="1" colour="blue"/>')
    assert err.rule == "unknown-attribute"
    assert "'colour'" in str(err)
    assert "did you mean" not in str(err)


def test_the_2023_example_spelling_of_stream_event_url_is_refused_with_a_suggestion() -> None:
    """The old page's streamEventsUrl is refused, suggesting streamEventUrl."""
    err = refused(f'<StartStream {STREAM} streamEventsUrl="/events"/>')
    assert "did you mean 'streamEventUrl'?" in str(err)


def test_an_unknown_verb_suggests_the_close_one() -> None:
    """<Startstream> is not a verb; the error names its line and suggests <StartStream>."""
    err = refused(f"\n<Startstream {STREAM}/>")
    assert (err.rule, err.line) == ("unknown-verb", 4)
    assert "did you mean 'StartStream'?" in str(err)


def test_a_child_a_verb_does_not_nest_is_refused_on_its_line() -> None:
    """<StartStream> nests only <StreamParam>: a <PhoneNumber> in it is refused where it is."""
    err = refused(f"<StartStream {STREAM}>\n<PhoneNumber>+15550100</PhoneNumber>\n</StartStream>")
    assert (err.rule, err.line) == ("unknown-child", 4)
    assert "<StartStream> nests only <StreamParam>" in str(err)


def test_a_target_attribute_is_checked_too() -> None:
    """A misspelt attribute on a <PhoneNumber> target is refused, with the right spelling."""
    err = refused(
        '<Transfer><PhoneNumber transferAnswerURL="/a">+15550100</PhoneNumber></Transfer>'
    )
    assert err.rule == "unknown-attribute"
    assert "did you mean 'transferAnswerUrl'?" in str(err)


@pytest.mark.parametrize("number", ["5551230000", "+0123", "+1 555 123", "tel:+15551230000", ""])
def test_a_transfer_to_a_number_not_in_e164_is_refused(number: str) -> None:
    """A <PhoneNumber> that is not E.164 is refused as rule phone-number."""
    err = refused(f"<Transfer>\n<PhoneNumber>{number}</PhoneNumber></Transfer>")
    assert (err.rule, err.line) == ("phone-number", 4)
    assert "E.164" in str(err)


@pytest.mark.parametrize(
    ("caller_id", "ok"),
    [("+15551230000", True), ("Anonymous", True), ("Private", True), ("555-1234", False)],
)
def test_transfer_caller_id_is_e164_or_a_documented_word(caller_id: str, ok: bool) -> None:
    """A transferCallerId is E.164 or one of Restricted/Anonymous/Private/Unavailable."""
    body = (
        f'<Transfer transferCallerId="{caller_id}"><PhoneNumber>+15550100</PhoneNumber></Transfer>'
    )
    if ok:
        accepted(body)
    else:
        assert refused(body).rule == "phone-number"


def _params(count: int, name: str = "k", value: str = "v") -> str:
    return "".join(f'\n<StreamParam name="{name}{i}" value="{value}"/>' for i in range(count))


def test_twelve_stream_params_pass_and_the_thirteenth_is_refused_on_its_line() -> None:
    """At most 12 <StreamParam> per <StartStream>; the 13th is named by its line."""
    accepted(f"<StartStream {STREAM}>{_params(12)}</StartStream>")
    err = refused(f"<StartStream {STREAM}>{_params(13)}</StartStream>")
    assert (err.rule, err.line) == ("stream-param", 3 + 13)
    assert "at most 12" in str(err)


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [("n" * 255, "v" * 2048, True), ("n" * 256, "v", False), ("n", "v" * 2049, False)],
)
def test_stream_param_name_and_value_lengths(name: str, value: str, ok: bool) -> None:
    """A <StreamParam> name is at most 256 characters (its index counts), a value 2048."""
    body = f"<StartStream {STREAM}>{_params(1, name, value)}</StartStream>"
    if ok:
        accepted(body)
    else:
        assert "characters; at most" in str(refused(body))


def test_a_stream_param_without_a_value_is_refused() -> None:
    """<StreamParam> needs both name and value."""
    err = refused(f'<StartStream {STREAM}><StreamParam name="k"/></StartStream>')
    assert err.rule == "stream-param"
    assert "value is required" in str(err)


def test_stream_credentials_need_a_wss_destination() -> None:
    """destinationUsername/Password on a ws:// destination are refused; on wss:// they pass."""
    creds = 'destinationUsername="u" destinationPassword="p"'
    accepted(f'<StartStream destination="wss://bot.example/ws" {creds}/>')
    err = refused(f'<StartStream destination="ws://bot.example/ws" {creds}/>')
    assert err.rule == "stream-credentials"
    assert "need a wss:// destination" in str(err)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("mode", "duplex"), ("tracks", "all"), ("streamEventMethod", "PUT")],
)
def test_a_word_not_allowed_is_refused(attribute: str, value: str) -> None:
    """mode, tracks and the *Method attributes take only the words Bandwidth lists."""
    err = refused(f'<StartStream {STREAM} {attribute}="{value}"/>')
    assert err.rule == "attribute-value"
    assert f"{attribute} must be" in str(err)


def test_a_non_numeric_duration_is_refused() -> None:
    """<Pause duration="soon"> is not a number: rule attribute-type, on its line."""
    err = refused('\n<Pause duration="soon"/>')
    assert (err.rule, err.line) == ("attribute-type", 4)


def test_documented_attributes_bwsim_does_not_simulate_are_accepted() -> None:
    """Speech gather, diversion, stream-event credentials, SSML: documented, so accepted."""
    accepted(
        '<Gather input="speech" language="en-US" gatherMethod="get"><SpeakSentence voice="julie">'
        '<lang xml:lang="fr-FR">Bonjour</lang></SpeakSentence></Gather>'
        '<Transfer diversionTreatment="stack" diversionReason="no-answer" privacy="true">'
        '<SipUri uui="abc">sip:a@b</SipUri></Transfer>'
        f'<StartStream {STREAM} username="u" password="p" streamEventMethod="GET"/>'
        '<Record maxDuration="60"/><Tag>t</Tag><Ring duration="1" answerCall="false"/>'
    )


def _put(api: FakeVoiceApi, call_id: str, bxml: str) -> httpx.Response:
    url = (
        f"https://voice.bandwidth.com/api/v2/accounts/{api.account.account_id}/calls/{call_id}/bxml"
    )
    headers = {"Authorization": f"Bearer {api.token()}", "Content-Type": "application/xml"}
    return httpx.put(url, content=bxml, headers=headers)


TRANSFER = "<Bxml><Transfer><PhoneNumber>+15555550123</PhoneNumber></Transfer></Bxml>"


def test_put_bxml_on_a_call_not_answered_is_409(bwsim_voice_api: FakeVoiceApi) -> None:
    """PUT …/bxml on a call still initiated is 409 'cannot be modified', and changes nothing."""
    call = bwsim_voice_api.registry.create_call(bwsim_voice_api.account.account_id)
    response = _put(bwsim_voice_api, call.call_id, TRANSFER)
    assert response.status_code == 409
    assert response.json()["type"] == "validation"
    assert "cannot be modified in its current state" in response.json()["description"]
    assert call.phase is CallPhase.INITIATED
    assert call.transfer is None


def test_put_bxml_with_a_misspelt_attribute_is_400_naming_line_and_suggestion(
    bwsim_voice_api: FakeVoiceApi,
) -> None:
    """PUT …/bxml with a misspelt attribute is 400 whose description names the line and fix."""
    call = bwsim_voice_api.live_call()
    bxml = "<Bxml>\n<Transfer transferCallerID='+15550100'><PhoneNumber>+15550101</PhoneNumber>"
    response = _put(bwsim_voice_api, call.call_id, bxml + "</Transfer></Bxml>")
    assert response.status_code == 400
    description = response.json()["description"]
    assert description.startswith("line 2: <Transfer> has no attribute 'transferCallerID'")
    assert "did you mean 'transferCallerId'?" in description
    assert call.transfer is None
