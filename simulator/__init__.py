"""bwsim: an offline Bandwidth Programmable Voice simulator for Pipecat voice bots.

The supported surface is what ``__all__`` lists; modules not named here are internal.
"""

from simulator.audio import load_caller_audio
from simulator.bxml import BxmlDocument, BxmlError, parse_bxml
from simulator.call import CallEnded, CallOptions, CallResult, CallSession, LiveCall
from simulator.errors import (
    AudioFileError,
    BlockedRequestError,
    BotMisbehaved,
    CallTimeout,
    ConfigError,
    ProtocolViolation,
    ScenarioError,
    SimulatorError,
    TargetError,
    UnexpectedApiRequest,
)
from simulator.fake import FakeBandwidth, FakeSettings
from simulator.faults import FaultRule
from simulator.harness import Harness
from simulator.intercept import Interceptor
from simulator.journal import Journal, JournalEntry, Violation
from simulator.recording import TimelineEvent
from simulator.registry import Call, CallPhase, Registry
from simulator.stream import StreamOutcome
from simulator.targets import AppTarget, BotCredentials, CmdTarget, Target, UrlTarget
from simulator.webhooks import WebhookAuth, WebhookExchange, send_webhook

__all__ = [
    "AppTarget",
    "AudioFileError",
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
    "ScenarioError",
    "SimulatorError",
    "StreamOutcome",
    "Target",
    "TargetError",
    "TimelineEvent",
    "UnexpectedApiRequest",
    "UrlTarget",
    "Violation",
    "WebhookAuth",
    "WebhookExchange",
    "load_caller_audio",
    "parse_bxml",
    "send_webhook",
]
