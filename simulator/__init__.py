"""bwsim: an offline Bandwidth Programmable Voice simulator for Pipecat voice bots.

The supported surface is what ``__all__`` lists; modules not named here are internal.
"""

from simulator.audio import load_caller_audio
from simulator.background import BackgroundHarness
from simulator.bxml import BxmlDocument, BxmlError, parse_bxml
from simulator.call import CallEnded, CallOptions, CallResult, CallSession, LiveCall
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
from simulator.expect import Verdict, check_call
from simulator.fake import FakeBandwidth, FakeSettings
from simulator.faults import FaultRule
from simulator.harness import Harness
from simulator.intercept import Interceptor
from simulator.journal import Journal, JournalEntry, Violation
from simulator.recording import TimelineEvent
from simulator.registry import Call, CallPhase, Registry
from simulator.scenario import Expectation, Scenario, load_scenarios, parse_expectations
from simulator.stream import StreamOutcome
from simulator.suite import ScenarioResult, SuiteResult, run_suite
from simulator.targets import AppTarget, BotCredentials, CmdTarget, Target, UrlTarget
from simulator.webhooks import WebhookAuth, WebhookExchange, send_webhook

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
    "SimulatorError",
    "StreamOutcome",
    "SuiteResult",
    "Target",
    "TargetError",
    "TimelineEvent",
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
