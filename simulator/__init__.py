"""bwsim: an offline Bandwidth Programmable Voice simulator for Pipecat voice bots.

The supported surface is what ``__all__`` lists; modules not named here are internal.
"""

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
from simulator.protocol.webhook_auth import WebhookAuth
from simulator.rest.fake import FakeBandwidth, FakeSettings
from simulator.rest.faults import FaultRule
from simulator.rest.intercept import Interceptor
from simulator.rest.journal import Journal, JournalEntry, Violation
from simulator.rest.registry import Call, CallPhase, Registry
from simulator.runner.background import BackgroundHarness
from simulator.runner.harness import Harness
from simulator.runner.suite import ScenarioResult, SuiteResult, run_suite
from simulator.runner.targets import AppTarget, BotCredentials, CmdTarget, Target, UrlTarget

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
