"""bwsim: an offline Bandwidth Programmable Voice simulator for Pipecat voice bots.

The supported surface is what ``__all__`` lists; modules not named here are internal.
"""

from simulator.bxml import BxmlDocument, BxmlError, parse_bxml
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
from simulator.registry import Call, CallPhase, Registry
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
    "CallPhase",
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
    "ProtocolViolation",
    "Registry",
    "ScenarioError",
    "SimulatorError",
    "Target",
    "TargetError",
    "UnexpectedApiRequest",
    "UrlTarget",
    "Violation",
    "WebhookAuth",
    "WebhookExchange",
    "parse_bxml",
    "send_webhook",
]
