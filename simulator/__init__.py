"""bwsim: an offline Bandwidth Programmable Voice simulator for Pipecat voice bots.

The supported surface is what ``__all__`` lists; modules not named here are internal.

Names are imported on first use (PEP 562), so ``import simulator`` and the pytest plugin,
which every pytest run of a project that installs bwsim loads, stay cheap.
"""

import importlib
import typing

if typing.TYPE_CHECKING:
    from simulator.call.audio_files import load_caller_audio
    from simulator.call.live import CallEnded, LiveCall
    from simulator.call.options import CallOptions
    from simulator.call.recorder import TimelineEvent
    from simulator.call.result import CallResult
    from simulator.call.session import CallSession
    from simulator.call.stream import StreamOutcome
    from simulator.call.webhook_sender import WebhookExchange, send_webhook
    from simulator.errors import (
        AudioFileError,
        BlockedRequestError,
        BotMisbehaved,
        CallTimeout,
        ConfigError,
        ExpectationFailed,
        ProtocolViolation,
        ScenarioError,
        SimulatorError,
        TargetError,
        UnexpectedApiRequest,
    )
    from simulator.judge.expect import Verdict, check_call
    from simulator.judge.scenario import Expectation, Scenario, load_scenarios, parse_expectations
    from simulator.protocol.bxml import BxmlDocument, BxmlError, parse_bxml
    from simulator.protocol.transfer import TransferParty
    from simulator.protocol.webhook_auth import WebhookAuth
    from simulator.protocol.webhook_signing import Signing
    from simulator.rest.fake import FakeBandwidth, FakeSettings
    from simulator.rest.faults import FaultRule
    from simulator.rest.intercept import Interceptor
    from simulator.rest.journal import Journal, JournalEntry, Violation
    from simulator.rest.registry import Call, CallPhase, Registry
    from simulator.runner.background import BackgroundHarness
    from simulator.runner.harness import Harness
    from simulator.runner.suite import ScenarioResult, SuiteResult, run_suite
    from simulator.runner.targets import AppTarget, BotCredentials, CmdTarget, Target, UrlTarget

_HOMES: dict[str, str] = {
    "AppTarget": "simulator.runner.targets",
    "AudioFileError": "simulator.errors",
    "BackgroundHarness": "simulator.runner.background",
    "BlockedRequestError": "simulator.errors",
    "BotCredentials": "simulator.runner.targets",
    "BotMisbehaved": "simulator.errors",
    "BxmlDocument": "simulator.protocol.bxml",
    "BxmlError": "simulator.protocol.bxml",
    "Call": "simulator.rest.registry",
    "CallEnded": "simulator.call.live",
    "CallOptions": "simulator.call.options",
    "CallPhase": "simulator.rest.registry",
    "CallResult": "simulator.call.result",
    "CallSession": "simulator.call.session",
    "CallTimeout": "simulator.errors",
    "CmdTarget": "simulator.runner.targets",
    "ConfigError": "simulator.errors",
    "Expectation": "simulator.judge.scenario",
    "ExpectationFailed": "simulator.errors",
    "FakeBandwidth": "simulator.rest.fake",
    "FakeSettings": "simulator.rest.fake",
    "FaultRule": "simulator.rest.faults",
    "Harness": "simulator.runner.harness",
    "Interceptor": "simulator.rest.intercept",
    "Journal": "simulator.rest.journal",
    "JournalEntry": "simulator.rest.journal",
    "LiveCall": "simulator.call.live",
    "ProtocolViolation": "simulator.errors",
    "Registry": "simulator.rest.registry",
    "Scenario": "simulator.judge.scenario",
    "ScenarioError": "simulator.errors",
    "ScenarioResult": "simulator.runner.suite",
    "Signing": "simulator.protocol.webhook_signing",
    "SimulatorError": "simulator.errors",
    "StreamOutcome": "simulator.call.stream",
    "SuiteResult": "simulator.runner.suite",
    "Target": "simulator.runner.targets",
    "TargetError": "simulator.errors",
    "TimelineEvent": "simulator.call.recorder",
    "TransferParty": "simulator.protocol.transfer",
    "UnexpectedApiRequest": "simulator.errors",
    "UrlTarget": "simulator.runner.targets",
    "Verdict": "simulator.judge.expect",
    "Violation": "simulator.rest.journal",
    "WebhookAuth": "simulator.protocol.webhook_auth",
    "WebhookExchange": "simulator.call.webhook_sender",
    "check_call": "simulator.judge.expect",
    "load_caller_audio": "simulator.call.audio_files",
    "load_scenarios": "simulator.judge.scenario",
    "parse_bxml": "simulator.protocol.bxml",
    "parse_expectations": "simulator.judge.scenario",
    "run_suite": "simulator.runner.suite",
    "send_webhook": "simulator.call.webhook_sender",
}
"""The module each public name lives in."""

__all__ = [
    "AppTarget",
    "AudioFileError",
    "BackgroundHarness",
    "BlockedRequestError",
    "BotCredentials",
    "BotMisbehaved",
    "BxmlDocument",
    "BxmlError",
    "Call",
    "CallEnded",
    "CallOptions",
    "CallPhase",
    "CallResult",
    "CallSession",
    "CallTimeout",
    "CmdTarget",
    "ConfigError",
    "Expectation",
    "ExpectationFailed",
    "FakeBandwidth",
    "FakeSettings",
    "FaultRule",
    "Harness",
    "Interceptor",
    "Journal",
    "JournalEntry",
    "LiveCall",
    "ProtocolViolation",
    "Registry",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "Signing",
    "SimulatorError",
    "StreamOutcome",
    "SuiteResult",
    "Target",
    "TargetError",
    "TimelineEvent",
    "TransferParty",
    "UnexpectedApiRequest",
    "UrlTarget",
    "Verdict",
    "Violation",
    "WebhookAuth",
    "WebhookExchange",
    "check_call",
    "load_caller_audio",
    "load_scenarios",
    "parse_bxml",
    "parse_expectations",
    "run_suite",
    "send_webhook",
]


def __getattr__(name: str) -> typing.Any:
    """Import a public name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
